"""``flowbench plugins``: list every registered component and where it comes from."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from flowbench.plugins import registries
from flowbench.registry import KINDS

__all__ = ["plugins", "component_rows"]


def component_rows() -> list[dict[str, str | None]]:
    """One row per registered component: kind, name, plugin module, distribution, version."""
    rows = []
    regs = registries()
    for kind in KINDS:
        for entry in regs[kind]:
            rows.append(
                {
                    "kind": kind,
                    "name": entry.name,
                    "plugin": entry.plugin,
                    "distribution": entry.distribution,
                    "version": entry.version,
                }
            )
    return rows


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of objects.")
def plugins(as_json: bool) -> None:
    """List registered components: kind, name, plugin module, distribution and version."""
    rows = component_rows()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="flowbench components")
    for col in ("kind", "name", "aliases", "plugin", "distribution", "version"):
        table.add_column(col)
    regs = registries()
    for kind in KINDS:
        for entry in regs[kind]:
            table.add_row(
                kind,
                entry.name,
                ", ".join(entry.aliases),
                entry.plugin,
                entry.distribution or "-",
                entry.version or "-",
            )
    console = Console()
    if not console.is_terminal:  # piped (e.g. into grep): never truncate names to 80 columns
        console = Console(width=max(160, console.width))
    console.print(table)
    for kind in KINDS:
        for name, entries in regs[kind].conflicts().items():
            who = " and ".join(e.origin() for e in entries)
            click.echo(f"Warning: {kind} {name!r} is registered by both {who}", err=True)


command = plugins
