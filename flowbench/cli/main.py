"""The ``flowbench`` command group.

Built-in commands live in ``flowbench/cli/<name>_cmd.py`` (each defines ``command``);
plugins add theirs through the ``register_commands(cli)`` hook. Every
:class:`~flowbench.errors.FlowbenchError` raised by a command is printed as one line on stderr with
exit code 2 (no traceback), as are click's usage errors.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
import warnings
from typing import Any

import click

from flowbench import __version__
from flowbench.errors import FlowbenchError

__all__ = ["cli", "main", "builtin_command_modules"]


def builtin_command_modules() -> list[str]:
    """Modules ``flowbench/cli/*_cmd.py``; each defines ``command``, a :class:`click.Command`."""
    import flowbench.cli as pkg

    return sorted(f"{pkg.__name__}.{m.name}" for m in pkgutil.iter_modules(pkg.__path__) if m.name.endswith("_cmd"))


class FlowbenchGroup(click.Group):
    """A group that loads plugin commands lazily and turns user errors into one line + exit 2."""

    _loaded = False

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for module in builtin_command_modules():
            try:
                self.add_command(importlib.import_module(module).command)
            except ImportError as exc:  # pragma: no cover - a broken install
                warnings.warn(f"flowbench: commands of {module!r} unavailable: {exc}", stacklevel=2)
        from flowbench.plugins import get_plugin_manager

        pm = get_plugin_manager()
        for impl in pm.hook.register_commands.get_hookimpls():
            try:
                impl.function(cli=self)
            except Exception as exc:
                warnings.warn(
                    f"flowbench: plugin {impl.plugin_name!r} failed to register its commands: "
                    f"{type(exc).__name__}: {exc}",
                    stacklevel=2,
                )

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        self._load()
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except FlowbenchError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(2)


def _show_warnings_briefly() -> None:
    def show(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001
        click.echo(f"Warning: {message}", err=True)

    warnings.showwarning = show


@click.group(cls=FlowbenchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="flowbench")
def cli() -> None:
    """flowbench: compare generative objectives on vector-quantized image latents.

    Objectives, backbones, tokenizers, samplers, datasets and metrics are plugins;
    `flowbench plugins` lists what is installed.
    """


def _launcher_args(argv: list[str]) -> list[str]:
    """Drop the ``--local_rank=N`` the ``deepspeed`` launcher puts before the command (it sets
    ``LOCAL_RANK`` in the environment too)."""
    out, i = [], 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith(("--local_rank=", "--local-rank=")):
            os.environ.setdefault("LOCAL_RANK", arg.split("=", 1)[1])
        elif arg in ("--local_rank", "--local-rank") and i + 1 < len(argv):
            os.environ.setdefault("LOCAL_RANK", argv[i + 1])
            i += 1
        else:
            out.append(arg)
        i += 1
    return out


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    _show_warnings_briefly()
    args = _launcher_args(list(sys.argv[1:] if argv is None else argv))
    cli.main(args=args, prog_name="flowbench")


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
