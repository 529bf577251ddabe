"""Registration hooks of the built-in dit plugin: the DiT family of backbones."""

from __future__ import annotations

from flowbench.builtin.dit.configs import ALIASES, DIT_CONFIGS, make_factory

from flowbench import hookimpl


@hookimpl
def register_backbones(register):
    for name in DIT_CONFIGS:
        size, patch = name.removeprefix("dit-").split("/")
        aliases = (f"dit-{size}",) if ALIASES.get(size) == int(patch) else ()
        factory = make_factory(name)
        register(name, factory, aliases=aliases, description=factory.__doc__)
