"""``flowbench new-plugin NAME --kind KIND``: write a third-party plugin package that works as generated.

Examples::

    flowbench new-plugin my-objective --kind objective            # ./flowbench-my-objective/
    flowbench new-plugin my-sampler --kind sampler --out /tmp/pkg

The package holds a component of ``KIND`` registered as ``NAME``, a ``pyproject.toml`` declaring the
``flowbench`` entry point, a README and tests that subclass :mod:`flowbench.testing`'s contract
suite; after ``pip install -e .`` its tests pass unchanged. Templates live in
:mod:`flowbench.templates` (one ``*.txt`` per generated file).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template

import click

from flowbench.errors import ConfigError
from flowbench.io import write_text

__all__ = ["KINDS", "PluginNames", "plugin_names", "render_plugin", "write_plugin", "new_plugin", "command"]

#: kind -> (contract suite, line of the README showing how to use it); {name} is the component name.
KINDS: dict[str, tuple[str, str]] = {
    "objective": ("ObjectiveContract", "flowbench run --objective {name} --backbone dit-micro/1 --steps 200"),
    "sampler": ("SamplerContract", "flowbench eval RUN_DIR --sampler {name}"),
    "backbone": ("BackboneContract", "flowbench run --objective OBJECTIVE --backbone {name} --steps 200"),
}

_NAME = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
#: Names the generated modules import; a class may not shadow them.
_TAKEN = {"Objective", "Sampler", "Backbone", "BackboneSpec", "LossOutput", "Prediction", "SampleResult"}


@dataclass(frozen=True)
class PluginNames:
    """Every name a generated package uses, derived from the component name."""

    name: str  # registry name, e.g. "my-objective"
    kind: str  # "objective", "sampler", "backbone"
    dist: str  # distribution, "flowbench-my-objective"
    module: str  # import name, "flowbench_my_objective"
    entry: str  # entry-point name, "my_objective"
    class_name: str  # "MyObjective"


def plugin_names(name: str, kind: str) -> PluginNames:
    """Check ``name`` and ``kind`` and derive the package's names.

    Raises:
        ConfigError: a name that is not lowercase words joined by hyphens, or an unknown kind.
    """
    if kind not in KINDS:
        raise ConfigError(f"unknown kind {kind!r}; choose one of {', '.join(KINDS)}")
    if not _NAME.fullmatch(name) or len(name) > 60:
        raise ConfigError(
            f"plugin name {name!r} must be lowercase letters and digits in words joined by single hyphens, "
            f"starting with a letter (e.g. 'my-{kind}')"
        )
    entry = name.replace("-", "_")
    class_name = "".join(part[:1].upper() + part[1:] for part in name.split("-"))
    if class_name in _TAKEN:
        class_name = f"My{class_name}"
    return PluginNames(name, kind, f"flowbench-{name}", f"flowbench_{entry}", entry, class_name)


def _requirement() -> str:
    from flowbench import __version__

    match = re.match(r"(\d+)\.(\d+)", __version__)
    return f'"flowbench>={match.group(1)}.{match.group(2)}"' if match else '"flowbench"'


def render_plugin(names: PluginNames) -> dict[str, str]:
    """Relative path -> text of every file of the package."""
    contract, usage = KINDS[names.kind]
    values = {
        "name": names.name,
        "kind": names.kind,
        "dist": names.dist,
        "module": names.module,
        "entry": names.entry,
        "class_name": names.class_name,
        "contract": contract,
        "usage": usage.format(name=names.name),
        "flowbench_requirement": _requirement(),
    }
    files = {
        "pyproject.toml": "pyproject.toml.txt",
        "README.md": "README.md.txt",
        f"src/{names.module}/__init__.py": "init.py.txt",
        f"src/{names.module}/plugin.py": "plugin.py.txt",
        f"src/{names.module}/{names.kind}.py": f"{names.kind}.py.txt",
        f"tests/test_{names.module}.py": "test.py.txt",
    }
    templates = resources.files("flowbench.templates")
    return {
        path: Template(templates.joinpath(template).read_text(encoding="utf-8")).substitute(values)
        for path, template in files.items()
    }


def write_plugin(names: PluginNames, out: Path) -> list[Path]:
    """Write the package into ``out`` (which must not exist or be empty); returns the files written.

    Raises:
        ConfigError: ``out`` is a file or a non-empty directory.
    """
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"{str(out)!r} already exists and is not an empty directory; choose another --out")
    written = []
    for rel, text in render_plugin(names).items():
        path = out / rel
        write_text(path, text)
        written.append(path)
    return written


def new_plugin(name: str, kind: str, out: Path | None = None) -> tuple[PluginNames, Path, list[Path]]:
    """Generate a plugin package (what the command does, without printing)."""
    names = plugin_names(name, kind)
    from flowbench.plugins import registry

    reg = registry(kind)
    if name in reg:
        raise ConfigError(f"{kind} {name!r} is already registered by {reg.get(name).origin()}; choose another name")
    target = Path(f"flowbench-{name}") if out is None else out
    return names, target, write_plugin(names, target)


@click.command("new-plugin")
@click.argument("name")
@click.option(
    "--kind", type=click.Choice(list(KINDS)), default="objective", show_default=True, help="Kind of component."
)
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Package directory [./flowbench-NAME].")
def new_plugin_command(name: str, kind: str, out: Path | None) -> None:
    """Write a pip-installable plugin package: a NAME component, entry point, README and contract tests."""
    names, target, written = new_plugin(name, kind, out)
    click.echo(f"Wrote {len(written)} files to {target}/ ({kind} {names.name!r}, module {names.module}):")
    for path in written:
        click.echo(f"  {path.relative_to(target)}")
    click.echo("Next:")
    click.echo(f"  cd {target} && pip install -e . && pytest")
    click.echo(f"  {KINDS[kind][1].format(name=names.name)}")


command = new_plugin_command
