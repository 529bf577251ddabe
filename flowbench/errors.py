"""Errors a user can cause and fix.

Everything deriving from :class:`FlowbenchError` is a problem with the input (a name, a value, a
file), not a bug: the CLI prints its message as one line and exits with code 2, no traceback.
"""

from __future__ import annotations

__all__ = [
    "FlowbenchError",
    "ConfigError",
    "UnknownNameError",
    "DuplicateNameError",
    "IncompatibleError",
    "DataError",
    "CheckpointError",
]


class FlowbenchError(Exception):
    """Base class: a user-facing error whose message says what is wrong and what would be right."""


class ConfigError(FlowbenchError, ValueError):
    """A configuration key or value is invalid."""


class UnknownNameError(FlowbenchError, KeyError):
    """A component name is not registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class DuplicateNameError(FlowbenchError):
    """Two plugins registered the same name for the same kind of component."""


class IncompatibleError(FlowbenchError):
    """Two components cannot work together (e.g. a continuous sampler with a masked objective)."""


class DataError(FlowbenchError):
    """A dataset or token-cache file is missing, truncated or corrupt."""


class CheckpointError(FlowbenchError):
    """A checkpoint is missing or does not match the architecture."""
