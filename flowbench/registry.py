"""Named registries of components, filled by the plugins' registration hooks.

A :class:`Registry` maps names (and aliases) of one kind of component to :class:`Entry` records
that say which plugin module and distribution provided them. Lookups of unknown names raise
:class:`~flowbench.errors.UnknownNameError` with the closest match and the full list of choices.
Two plugins registering the same name are both remembered; looking that name up raises
:class:`~flowbench.errors.DuplicateNameError` naming both, so neither silently wins.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from flowbench.errors import DuplicateNameError, UnknownNameError

__all__ = ["Entry", "Registry", "KINDS"]

#: The kinds of component, in the order ``flowbench plugins`` lists them; each has one hook
#: ``register_<kind>s`` in :mod:`flowbench.hookspecs`.
KINDS: tuple[str, ...] = (
    "objective",
    "backbone",
    "tokenizer",
    "sampler",
    "dataset",
    "feature_extractor",
    "evaluator",
)


@dataclass(frozen=True)
class Entry:
    """One registered component."""

    kind: str
    name: str
    factory: Callable[..., Any]
    plugin: str
    distribution: str | None = None
    version: str | None = None
    aliases: tuple[str, ...] = ()
    description: str = ""

    def origin(self) -> str:
        dist = f"{self.distribution} {self.version}" if self.distribution else "not installed"
        return f"plugin {self.plugin!r} ({dist})"


@dataclass
class Registry:
    """All components of one kind, by name."""

    kind: str
    _entries: dict[str, Entry] = field(default_factory=dict)
    _aliases: dict[str, str] = field(default_factory=dict)
    _conflicts: dict[str, list[Entry]] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.kind.replace("_", " ")

    def add(self, entry: Entry) -> None:
        """Record ``entry``; a name or alias already taken becomes a conflict (see module doc)."""
        for key in (entry.name, *entry.aliases):
            owner = self._owner(key)
            if owner is not None and owner is not entry:
                self._conflicts.setdefault(key, [owner]).append(entry)
                continue
            if key == entry.name:
                self._entries[key] = entry
            else:
                self._aliases[key] = entry.name

    def remove_plugin(self, plugin: str) -> None:
        """Forget everything ``plugin`` registered (used when a plugin is unregistered)."""
        self._entries = {k: e for k, e in self._entries.items() if e.plugin != plugin}
        self._aliases = {a: n for a, n in self._aliases.items() if n in self._entries}
        for key in list(self._conflicts):
            left = [e for e in self._conflicts[key] if e.plugin != plugin]
            if len(left) > 1:
                self._conflicts[key] = left
            else:
                del self._conflicts[key]

    def _owner(self, key: str) -> Entry | None:
        if key in self._entries:
            return self._entries[key]
        if key in self._aliases:
            return self._entries.get(self._aliases[key])
        return None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._owner(name) is not None

    def __iter__(self) -> Iterator[Entry]:
        return iter(sorted(self._entries.values(), key=lambda e: e.name))

    def __len__(self) -> int:
        return len(self._entries)

    def conflicts(self) -> dict[str, list[Entry]]:
        return {k: list(v) for k, v in self._conflicts.items()}

    def get(self, name: str) -> Entry:
        """The entry registered as ``name`` (or one of its aliases).

        Raises:
            DuplicateNameError: two plugins registered ``name``.
            UnknownNameError: nothing is registered as ``name``.
        """
        if name in self._conflicts:
            who = " and ".join(e.origin() for e in self._conflicts[name])
            raise DuplicateNameError(
                f"{self.label} {name!r} is registered by both {who}; block one of them with "
                f"FLOWBENCH_DISABLE_PLUGINS=<plugin>"
            )
        entry = self._owner(name)
        if entry is not None:
            return entry
        choices = sorted({*self._entries, *self._aliases})
        close = difflib.get_close_matches(name, choices, n=1, cutoff=0.5)
        hint = f"did you mean {close[0]!r}? " if close else ""
        listed = ", ".join(self.names()) or "(none registered)"
        raise UnknownNameError(f"unknown {self.label} {name!r}; {hint}choices: {listed}")

    def create(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Look ``name`` up and call its factory."""
        return self.get(name).factory(*args, **kwargs)
