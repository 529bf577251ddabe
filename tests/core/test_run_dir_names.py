"""A run directory's file names are defined once: ``flowbench.engine.rundir`` (and a benchmark's in
``flowbench.bench.layout``); everything else names the constants, so the layout cannot drift."""

from __future__ import annotations

import ast
from pathlib import Path

import flowbench
from flowbench.bench import layout
from flowbench.engine import rundir

HOMES = {"engine/rundir.py", "bench/layout.py"}
NAMES = [rundir.CONFIG, rundir.DEEPSPEED_CONFIG, rundir.ENVIRONMENT, rundir.METRICS, rundir.EVALS, rundir.CHECKPOINTS]
NAMES += [rundir.EMA]
NAMES += [layout.TRAINED, layout.SWEEPS, layout.DONE, layout.FAILED, layout.BENCH_JSON]


def literal_uses(source: str, names: list[str]) -> list[int]:
    """Lines where one of ``names`` is a whole string constant (docstrings and messages are longer)."""
    return [n.lineno for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Constant) and n.value in names]


def test_run_dir_file_names_are_spelled_only_in_their_home():
    root = Path(flowbench.__file__).parent
    hits = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if rel not in HOMES:
            hits += [f"flowbench/{rel}:{line}" for line in literal_uses(path.read_text(), NAMES)]
    assert not hits, "use the constants of flowbench.engine.rundir / flowbench.bench.layout:\n" + "\n".join(hits)


def test_the_check_sees_a_literal():
    assert literal_uses('p = run_dir / "metrics.jsonl"\n"""metrics.jsonl in prose"""\n', NAMES) == [1]
