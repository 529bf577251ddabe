"""Registry lookups: aliases, unknown names with suggestions, duplicate names."""

from __future__ import annotations

import pytest

from flowbench.errors import DuplicateNameError, FlowbenchError, UnknownNameError
from flowbench.registry import Entry, Registry


def _entry(name, plugin="p1", aliases=()):
    return Entry(
        kind="objective", name=name, factory=dict, plugin=plugin, distribution="d", version="1", aliases=aliases
    )


def test_get_by_name_and_alias():
    reg = Registry("objective")
    e = _entry("vfm", aliases=("purrception",))
    reg.add(e)
    assert reg.get("vfm") is e
    assert reg.get("purrception") is e
    assert "purrception" in reg and "nope" not in reg
    assert reg.names() == ["vfm"]


def test_unknown_name_suggests_closest_and_lists_choices():
    reg = Registry("objective")
    for n in ("vfm", "cfm", "cfm-endpoint", "dfm"):
        reg.add(_entry(n))
    with pytest.raises(UnknownNameError) as info:
        reg.get("vmf")
    msg = str(info.value)
    assert "did you mean 'vfm'?" in msg
    assert "choices: cfm, cfm-endpoint, dfm, vfm" in msg
    assert "\n" not in msg
    assert isinstance(info.value, FlowbenchError)


def test_unknown_name_without_close_match():
    reg = Registry("sampler")
    reg.add(Entry("sampler", "euler", dict, "p"))
    with pytest.raises(UnknownNameError, match="unknown sampler 'zzzzzz'; choices: euler"):
        reg.get("zzzzzz")


def test_duplicate_name_names_both_plugins():
    reg = Registry("objective")
    reg.add(_entry("vfm", plugin="first_plugin"))
    reg.add(_entry("vfm", plugin="second_plugin"))
    with pytest.raises(DuplicateNameError) as info:
        reg.get("vfm")
    assert "first_plugin" in str(info.value) and "second_plugin" in str(info.value)
    assert "FLOWBENCH_DISABLE_PLUGINS" in str(info.value)
    reg.remove_plugin("second_plugin")
    assert reg.get("vfm").plugin == "first_plugin"


def test_alias_colliding_with_name_is_a_conflict():
    reg = Registry("objective")
    reg.add(_entry("a", plugin="p1"))
    reg.add(_entry("b", plugin="p2", aliases=("a",)))
    with pytest.raises(DuplicateNameError):
        reg.get("a")
    assert reg.get("b").plugin == "p2"
