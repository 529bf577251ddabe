"""``flowbench new-plugin``: names, errors (one line, exit 2), and skeletons that pass their own tests."""

from __future__ import annotations

import subprocess
import sys
import tomllib

import pytest
from click.testing import CliRunner
from plugin_install import env_with, install_into, run_pytest

from flowbench.cli.main import cli
from flowbench.cli.new_plugin_cmd import KINDS, plugin_names, render_plugin
from flowbench.errors import ConfigError

#: The built-in plugins' entry-point names (pyproject.toml of flowbench).
BUILTIN_ENTRY_POINTS = {"data", "vqvae", "llamagen", "ldm", "dit", "vfm", "cfm", "dfm", "samplers", "metrics"}


def invoke(*args: str):
    return CliRunner().invoke(cli, ["new-plugin", *args])


def test_names_are_derived_from_the_component_name():
    names = plugin_names("my-objective", "objective")
    assert (names.dist, names.module, names.entry, names.class_name) == (
        "flowbench-my-objective",
        "flowbench_my_objective",
        "my_objective",
        "MyObjective",
    )
    assert plugin_names("x0-rectified2", "sampler").class_name == "X0Rectified2"
    assert plugin_names("sampler", "sampler").class_name == "MySampler"  # would shadow the imported base


@pytest.mark.parametrize("bad", ["Bad", "my_objective", "-x", "x-", "a--b", "9lives", "", "a b", "é"])
def test_bad_names_are_refused(bad):
    with pytest.raises(ConfigError, match="lowercase letters and digits"):
        plugin_names(bad, "objective")


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_rendered_packages_are_valid(kind):
    files = render_plugin(plugin_names("my-thing", kind))
    assert set(files) == {
        "pyproject.toml",
        "README.md",
        "src/flowbench_my_thing/__init__.py",
        "src/flowbench_my_thing/plugin.py",
        f"src/flowbench_my_thing/{kind}.py",
        "tests/test_flowbench_my_thing.py",
    }
    meta = tomllib.loads(files["pyproject.toml"])
    assert meta["project"]["name"] == "flowbench-my-thing"
    assert meta["project"]["entry-points"]["flowbench"] == {"my_thing": "flowbench_my_thing.plugin"}
    assert any(dep.startswith("flowbench") for dep in meta["project"]["dependencies"])
    for path, text in files.items():
        if path.endswith(".py"):
            compile(text, path, "exec")
    assert f"register_{kind}s(register)" in files["src/flowbench_my_thing/plugin.py"]
    assert KINDS[kind][0] in files["tests/test_flowbench_my_thing.py"]


def test_generated_code_is_lint_clean(tmp_path):
    """ruff (import order, pyupgrade, bugbear) and ruff format pass, each package under its own config."""
    for kind in KINDS:
        result = invoke("my-thing", "--kind", kind, "--out", str(tmp_path / kind))
        assert result.exit_code == 0, result.output
    for cmd in (["check", "--select", "E,F,W,I,UP,B"], ["format", "--check"]):
        lint = subprocess.run(
            [sys.executable, "-m", "ruff", *cmd, "--no-cache", *KINDS], capture_output=True, text=True, cwd=tmp_path
        )
        assert lint.returncode == 0, f"ruff {cmd[0]}\n{lint.stdout}{lint.stderr}"


def test_bad_name_is_one_line_and_exit_2(tmp_path):
    result = invoke("My_Objective", "--out", str(tmp_path / "p"))
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0 and result.output.startswith("Error: plugin name 'My_Objective'")
    assert not (tmp_path / "p").exists()


def test_non_empty_directory_is_one_line_and_exit_2(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    result = invoke("my-objective", "--out", str(tmp_path))
    assert result.exit_code == 2
    assert result.output.strip() == f"Error: {str(tmp_path)!r} already exists and is not an empty directory; " + (
        "choose another --out"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_an_empty_directory_is_fine(tmp_path):
    result = invoke("my-objective", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "src" / "flowbench_my_objective" / "objective.py").is_file()
    assert "pip install -e . && pytest" in result.output


def test_a_registered_name_is_refused(tmp_path):
    from flowbench.plugins import registry

    taken = registry("sampler").names()[0]
    result = invoke(taken, "--kind", "sampler", "--out", str(tmp_path / "p"))
    assert result.exit_code == 2
    assert result.output.startswith(f"Error: sampler {taken!r} is already registered by plugin")


def test_unknown_kind_is_a_usage_error():
    result = invoke("my-thing", "--kind", "scheduler")
    assert result.exit_code == 2 and "'scheduler' is not one of" in result.output


def test_default_directory_is_flowbench_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert invoke("my-sampler", "--kind", "sampler").exit_code == 0
    assert (tmp_path / "flowbench-my-sampler" / "pyproject.toml").is_file()


@pytest.mark.slow
def test_generated_skeletons_pass_their_own_tests(tmp_path):
    """Every kind, as generated: installed (entry point included), its contract tests pass."""
    import importlib.metadata as md

    assert BUILTIN_ENTRY_POINTS <= {ep.name for ep in md.entry_points(group="flowbench")}
    site = tmp_path / "site"
    tests = []
    for kind in KINDS:
        name = f"fresh-{kind}"
        result = invoke(name, "--kind", kind, "--out", str(tmp_path / "src" / name))
        assert result.exit_code == 0, result.output
        copy = install_into(tmp_path / "src" / name, site, tmp_path)
        tests.append(copy / "tests")
    # Every built-in plugin blocked but the samplers (an objective's default sampler must exist):
    # the contract suites need no built-in backbone, objective, tokenizer or dataset.
    blocked = ",".join(sorted(BUILTIN_ENTRY_POINTS - {"samplers"}))
    probe = tmp_path / "probe" / "test_builtins_blocked.py"
    probe.parent.mkdir()
    probe.write_text(
        "from flowbench.plugins import registry\n\n\n"
        "def test_only_the_samplers_are_loaded():\n"
        "    assert 'fresh-sampler' in registry('sampler') and 'euler' in registry('sampler')\n"
        "    assert registry('objective').names() == ['fresh-objective']\n"
        "    assert registry('backbone').names() == ['fresh-backbone']\n"
        "    assert len(registry('tokenizer')) == len(registry('dataset')) == 0\n"
    )
    done = run_pytest([*tests, probe], env_with(site, FLOWBENCH_DISABLE_PLUGINS=blocked), cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    summary = done.stdout.strip().splitlines()[-1]
    assert "failed" not in summary and "error" not in summary, summary
    assert "test_registered PASSED" in done.stdout or " passed" in summary
