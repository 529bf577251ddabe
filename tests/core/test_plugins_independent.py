"""Built-in plugins do not import each other: what two of them share lives in the core (e.g. the
pretrained-VQ base class and its blocks in ``flowbench.pretrained_vq``, strict loading and hashes in
``flowbench.weights``), so any one of them can be disabled or replaced on its own."""

from __future__ import annotations

import ast
from pathlib import Path

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"


def imported_plugins(source: str) -> set[str]:
    """Names ``X`` of every ``flowbench.builtin.X`` a module imports."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        modules = []
        if isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules = [node.module]
        for module in modules:
            parts = module.split(".")
            if parts[:2] == ["flowbench", "builtin"] and len(parts) > 2:
                names.add(parts[2])
    return names


def test_no_builtin_plugin_imports_another():
    crossings = []
    for path in sorted(PLUGINS.glob("*/*.py")):
        own = path.parent.name
        for other in sorted(imported_plugins(path.read_text()) - {own}):
            crossings.append(f"plugins/{own}/{path.name} imports flowbench.builtin.{other}")
    assert not crossings, "move what they share into the core:\n" + "\n".join(crossings)


def test_the_check_sees_an_import():
    assert imported_plugins("from flowbench.builtin.ldm.blocks import X\nimport flowbench.builtin.vqvae") == {
        "ldm",
        "vqvae",
    }
