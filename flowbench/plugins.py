"""The plugin manager: finds plugins, loads them safely, and fills the registries.

Plugins (the built-in ones in ``plugins/``, installed as ``flowbench.builtin.<name>``, as well as
third-party packages) declare a module in the ``flowbench`` entry-point group::

    [project.entry-points.flowbench]
    my_objective = "my_package.plugin"

On first use, :func:`get_plugin_manager` imports each entry point, registers the module with a
:class:`pluggy.PluginManager`, calls :meth:`~pluggy.PluginManager.check_pending` (a misspelt hook
fails loudly), then calls every registration hook once per plugin. A plugin that fails to import or
to register is reported as one warning naming it and its error; the others still load.

``FLOWBENCH_DISABLE_PLUGINS=a,b`` skips the named plugins (entry-point names or module names).
"""

from __future__ import annotations

import importlib.metadata as md
import os
import warnings
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pluggy

from flowbench import hookspecs
from flowbench.registry import KINDS, Entry, Registry

__all__ = [
    "ENTRY_POINT_GROUP",
    "DISABLE_ENV",
    "PluginLoadWarning",
    "PluginInfo",
    "get_plugin_manager",
    "registry",
    "registries",
    "register_plugin",
    "unregister_plugin",
    "reset",
    "plugin_infos",
]

ENTRY_POINT_GROUP = "flowbench"
DISABLE_ENV = "FLOWBENCH_DISABLE_PLUGINS"


class PluginLoadWarning(UserWarning):
    """A plugin failed to import or register; the others were loaded."""


@dataclass(frozen=True)
class PluginInfo:
    """Where a loaded plugin came from."""

    name: str
    module: str
    distribution: str | None
    version: str | None


_pm: pluggy.PluginManager | None = None
_registries: dict[str, Registry] | None = None
_infos: dict[str, PluginInfo] = {}


def _blocked() -> set[str]:
    raw = os.environ.get(DISABLE_ENV, "")
    return {part.strip() for part in raw.split(",") if part.strip()}


def _warn(plugin: str, what: str, exc: BaseException) -> None:
    warnings.warn(
        f"flowbench: plugin {plugin!r} failed to {what}: {type(exc).__name__}: {exc}",
        PluginLoadWarning,
        stacklevel=3,
    )


def _hook_name(kind: str) -> str:
    return f"register_{kind}s"


def _register_into(pm: pluggy.PluginManager, regs: dict[str, Registry], plugin: Any) -> None:
    """Call ``plugin``'s registration hooks and add what it registers to ``regs``."""
    name = pm.get_name(plugin)
    info = _infos.get(name) or PluginInfo(name, getattr(plugin, "__name__", name), None, None)
    staged: list[Entry] = []
    for kind in KINDS:
        impls = [i for i in getattr(pm.hook, _hook_name(kind)).get_hookimpls() if i.plugin is plugin]
        if not impls:
            continue
        impl = impls[0].function

        def register(
            entry_name: str,
            factory: Any,
            aliases: tuple[str, ...] | list[str] = (),
            description: str | None = None,
            _kind: str = kind,
        ) -> None:
            if not isinstance(entry_name, str) or not entry_name:
                raise TypeError(f"register() needs a non-empty name, got {entry_name!r}")
            if not callable(factory):
                raise TypeError(f"register({entry_name!r}, ...) needs a callable factory")
            doc = description
            if doc is None:
                doc = ((getattr(factory, "__doc__", None) or "").strip().splitlines() or [""])[0]
            staged.append(
                Entry(
                    kind=_kind,
                    name=entry_name,
                    factory=factory,
                    plugin=info.module,
                    distribution=info.distribution,
                    version=info.version,
                    aliases=tuple(aliases),
                    description=doc,
                )
            )

        try:
            impl(register=register)
        except Exception as exc:  # a plugin's bug must not take the others down
            _warn(name, f"register its {kind}s", exc)
            return
    for entry in staged:
        regs[entry.kind].add(entry)


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    blocked = _blocked()
    seen: set[str] = set()
    for ep in sorted(md.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        if ep.name in seen or ep.name in blocked or ep.value.split(":")[0] in blocked:
            continue
        seen.add(ep.name)
        dist = getattr(ep, "dist", None)
        try:
            module = ep.load()
        except Exception as exc:
            _warn(ep.name, "import", exc)
            continue
        try:
            pm.register(module, name=ep.name)
        except Exception as exc:
            _warn(ep.name, "register", exc)
            continue
        _infos[ep.name] = PluginInfo(
            name=ep.name,
            module=getattr(module, "__name__", ep.value),
            distribution=dist.metadata["Name"] if dist is not None else None,
            version=dist.version if dist is not None else None,
        )


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, created and loaded on first call."""
    global _pm, _registries
    if _pm is None:
        pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        pm.add_hookspecs(hookspecs)
        _load_entry_points(pm)
        pm.check_pending()
        regs = {kind: Registry(kind) for kind in KINDS}
        for plugin in pm.get_plugins():
            _register_into(pm, regs, plugin)
        _pm, _registries = pm, regs
    return _pm


def registries() -> dict[str, Registry]:
    """Every registry, by kind."""
    get_plugin_manager()
    assert _registries is not None
    return _registries


def registry(kind: str) -> Registry:
    """The registry of one kind (``objective``, ``backbone``, ...)."""
    regs = registries()
    if kind not in regs:
        raise KeyError(f"unknown kind {kind!r}; kinds: {', '.join(KINDS)}")
    return regs[kind]


def register_plugin(plugin: ModuleType | object, name: str | None = None) -> str:
    """Register a plugin object at run time (tests, notebooks); returns its name.

    Hook implementations are checked against the specs (``check_pending``) so a misspelt hook
    raises :class:`pluggy.PluginValidationError`.
    """
    pm = get_plugin_manager()
    plugin_name = pm.register(plugin, name=name)
    assert plugin_name is not None
    try:
        pm.check_pending()
    except Exception:
        pm.unregister(plugin)
        raise
    _register_into(pm, registries(), plugin)
    return plugin_name


def unregister_plugin(plugin: ModuleType | object | str) -> None:
    """Undo :func:`register_plugin`."""
    pm = get_plugin_manager()
    obj = pm.get_plugin(plugin) if isinstance(plugin, str) else plugin
    if obj is None:
        return
    name = pm.get_name(obj)
    module = _infos.get(name, PluginInfo(name, getattr(obj, "__name__", name), None, None)).module
    pm.unregister(obj)
    for reg in registries().values():
        reg.remove_plugin(module)
    _infos.pop(name, None)


def plugin_infos() -> dict[str, PluginInfo]:
    """Where each loaded entry-point plugin came from."""
    get_plugin_manager()
    return dict(_infos)


def reset() -> None:
    """Forget the loaded plugins; the next call loads them again (tests use this)."""
    global _pm, _registries
    _pm = None
    _registries = None
    _infos.clear()
