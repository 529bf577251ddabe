"""The ``flowbench`` command line."""

from flowbench.cli.main import cli, main

__all__ = ["cli", "main"]
