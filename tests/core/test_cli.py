"""The command line through click's runner: version, help, plugins, one-line errors."""

from __future__ import annotations

import json

import click
from click.testing import CliRunner

from flowbench import __version__
from flowbench.cli.main import cli
from flowbench.errors import UnknownNameError
from flowbench.plugins import registry


def test_version_and_help():
    runner = CliRunner()
    result = runner.invoke(cli, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0 and "plugins" in result.output


def test_plugins_json_has_exactly_the_documented_keys():
    result = CliRunner().invoke(cli, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert rows
    for row in rows:
        assert set(row) == {"kind", "name", "plugin", "distribution", "version"}
    assert {r["distribution"] for r in rows} == {"flowbench"}


def test_plugins_table_lists_components():
    result = CliRunner().invoke(cli, ["plugins"])
    assert result.exit_code == 0
    for entry in list(registry("sampler"))[:1]:
        assert entry.name in result.output


def test_user_error_is_one_line_exit_2():
    @cli.command("raise-unknown")
    def raise_unknown() -> None:
        registry("objective").get("vmf")

    try:
        result = CliRunner().invoke(cli, ["raise-unknown"])
    finally:
        cli.commands.pop("raise-unknown")
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: unknown objective 'vmf'")
    assert "did you mean 'vfm'?" in lines[0]
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)


def test_unknown_command_exit_2():
    result = CliRunner().invoke(cli, ["nope"])
    assert result.exit_code == 2 and "No such command" in result.output


def test_flowbench_error_is_not_swallowed_for_non_user_errors():
    @cli.command("raise-bug")
    def raise_bug() -> None:
        raise RuntimeError("a bug")

    try:
        result = CliRunner().invoke(cli, ["raise-bug"])
    finally:
        cli.commands.pop("raise-bug")
    assert result.exit_code == 1 and isinstance(result.exception, RuntimeError)
    assert issubclass(UnknownNameError, Exception) and isinstance(cli, click.Group)
