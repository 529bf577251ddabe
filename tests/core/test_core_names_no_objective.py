"""The core never names a built-in objective: what differs is the objective's to say.

Docstrings and comments may mention them in prose; code (identifiers, strings) may not.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

import flowbench

NAMES = re.compile(r"purrception|vfm|dfm|cfm", re.IGNORECASE)


def _code_tokens(source: str):
    """Yield (line, text) of tokens that are code: no comments, no docstrings."""
    docstrings = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                if isinstance(body[0].value.value, str):
                    docstrings.add(body[0].value.lineno)
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            continue
        if tok.type == tokenize.STRING and tok.start[0] in docstrings:
            continue
        yield tok.start[0], tok.string


def test_no_builtin_objective_named_in_core_code():
    root = Path(flowbench.__file__).parent
    hits = []
    for path in root.rglob("*.py"):
        for line, text in _code_tokens(path.read_text()):
            if NAMES.search(text):
                hits.append(f"{path.relative_to(root.parent)}:{line}: {text}")
    assert not hits, "core code names an objective:\n" + "\n".join(hits)


def test_checker_would_catch_a_violation():
    src = '"""Docstring: vfm is fine here."""\n# comment vfm fine\nx = "vfm"\n'
    assert [t for _, t in _code_tokens(src) if NAMES.search(t)] == ['"vfm"']
