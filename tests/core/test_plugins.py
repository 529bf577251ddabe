"""The plugin manager: entry points, blocking, broken plugins, run-time registration."""

from __future__ import annotations

import sys
import textwrap
import warnings

import pluggy
import pytest

from flowbench import hookimpl, hookspecs
from flowbench.errors import DuplicateNameError, UnknownNameError
from flowbench.registry import KINDS

BUILTIN_ENTRY_POINTS = {"data", "vqvae", "llamagen", "ldm", "dit", "vfm", "cfm", "dfm", "samplers", "metrics"}


def test_one_hookspec_per_kind_plus_commands():
    specs = {name for name in dir(hookspecs) if name.startswith("register_")}
    assert specs == {f"register_{k}s" for k in KINDS} | {"register_commands"}
    pm = pluggy.PluginManager("flowbench")
    pm.add_hookspecs(hookspecs)
    for name in specs:
        assert getattr(pm.hook, name).spec is not None


def test_builtins_are_found_through_entry_points(fresh_plugins):
    infos = fresh_plugins.plugin_infos()
    assert BUILTIN_ENTRY_POINTS <= set(infos)
    for name in BUILTIN_ENTRY_POINTS:
        assert infos[name].distribution == "flowbench"
        assert infos[name].module == f"flowbench.builtin.{name}.plugin"


def test_builtin_components_come_from_distribution_flowbench(fresh_plugins):
    entries = [e for reg in fresh_plugins.registries().values() for e in reg]
    assert entries, "no component registered at all"
    assert {e.distribution for e in entries} == {"flowbench"}


class _TempPlugin:
    """A plugin object registered for one test."""

    @hookimpl
    def register_samplers(self, register):
        register("temp-sampler", dict, aliases=("tmp",), description="a test sampler")


def test_register_and_unregister_a_plugin(fresh_plugins):
    plugin = _TempPlugin()
    name = fresh_plugins.register_plugin(plugin, name="temp")
    try:
        entry = fresh_plugins.registry("sampler").get("tmp")
        assert entry.name == "temp-sampler" and entry.description == "a test sampler"
    finally:
        fresh_plugins.unregister_plugin(name)
    with pytest.raises(UnknownNameError):
        fresh_plugins.registry("sampler").get("temp-sampler")


def test_misspelt_hook_fails_loudly(fresh_plugins):
    class Misspelt:
        @hookimpl
        def register_objectivez(self, register):  # not a hook
            pass

    with pytest.raises(pluggy.PluginValidationError):
        fresh_plugins.register_plugin(Misspelt(), name="misspelt")
    assert fresh_plugins.get_plugin_manager().get_plugin("misspelt") is None


def test_two_plugins_same_name_is_a_clear_error(fresh_plugins):
    class A:
        @hookimpl
        def register_objectives(self, register):
            register("same-name", dict)

    class B:
        @hookimpl
        def register_objectives(self, register):
            register("same-name", list)

    fresh_plugins.register_plugin(A(), name="plugin_a")
    fresh_plugins.register_plugin(B(), name="plugin_b")
    with pytest.raises(DuplicateNameError, match="plugin_a.*plugin_b"):
        fresh_plugins.registry("objective").get("same-name")


def test_plugin_failing_in_register_is_one_warning_others_load(fresh_plugins):
    class Broken:
        @hookimpl
        def register_objectives(self, register):
            raise RuntimeError("boom")

    with pytest.warns(fresh_plugins.PluginLoadWarning, match="'broken'.*RuntimeError: boom"):
        fresh_plugins.register_plugin(Broken(), name="broken")
    assert len(fresh_plugins.registry("sampler")) > 0


def test_disable_variable_blocks_named_plugins(fresh_plugins, monkeypatch):
    before = {e.plugin for e in fresh_plugins.registry("sampler")}
    assert "flowbench.builtin.samplers.plugin" in before
    fresh_plugins.reset()
    monkeypatch.setenv("FLOWBENCH_DISABLE_PLUGINS", "samplers, metrics")
    infos = fresh_plugins.plugin_infos()
    assert "samplers" not in infos and "metrics" not in infos and "dit" in infos
    assert len(fresh_plugins.registry("sampler")) == 0
    with pytest.raises(UnknownNameError):
        fresh_plugins.registry("sampler").get("euler")


def _fake_distribution(tmp_path, dist: str, module: str, body: str) -> None:
    """A real installed distribution (dist-info with an entry point) on sys.path."""
    info = tmp_path / f"{dist}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[flowbench]\n{dist} = {module}\n")
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(body))


def test_plugin_raising_on_import_is_one_warning(fresh_plugins, tmp_path, monkeypatch):
    _fake_distribution(tmp_path, "bad-plugin", "bad_plugin_mod", "raise ImportError('missing dependency xyz')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        infos = fresh_plugins.plugin_infos()
    messages = [str(w.message) for w in caught if issubclass(w.category, fresh_plugins.PluginLoadWarning)]
    assert len(messages) == 1
    assert "'bad-plugin' failed to import: ImportError: missing dependency xyz" in messages[0]
    assert "bad-plugin" not in infos
    assert BUILTIN_ENTRY_POINTS <= set(infos)
    sys.modules.pop("bad_plugin_mod", None)


def test_third_party_entry_point_is_loaded_with_its_distribution(fresh_plugins, tmp_path, monkeypatch):
    body = """
    from flowbench import hookimpl

    @hookimpl
    def register_samplers(register):
        register("third-party-sampler", dict)
    """
    _fake_distribution(tmp_path, "good-plugin", "good_plugin_mod", body)
    monkeypatch.syspath_prepend(str(tmp_path))
    entry = fresh_plugins.registry("sampler").get("third-party-sampler")
    assert (entry.plugin, entry.distribution, entry.version) == ("good_plugin_mod", "good-plugin", "0.1")
    sys.modules.pop("good_plugin_mod", None)
