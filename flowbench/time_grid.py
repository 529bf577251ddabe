"""The uniform time grid shared by all samplers, and where trajectory snapshots are taken.

``steps`` steps on ``t_i = i / steps`` (``i = 0..steps``): step ``i`` goes from ``t_i`` to
``t_{i+1}`` and starts with one prediction at ``t_i``. A snapshot asked for at time ``r`` is
taken at the prediction of step ``round(r * steps)`` (clamped to ``0..steps-1``: there is no
prediction at ``t = 1``), and reports that step's time. :class:`flowbench.interfaces.SamplingRun`
applies these rules for every sampler.
"""

from __future__ import annotations

from collections.abc import Sequence

from flowbench.errors import ConfigError

__all__ = ["check_steps", "record_steps"]


def check_steps(steps: int) -> int:
    """``steps`` as a positive int, or a :class:`ConfigError`."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ConfigError(f"sampling steps must be a positive integer, got {steps!r}")
    return steps


def record_steps(record_times: Sequence[float], steps: int) -> list[int]:
    """Grid step of each requested snapshot time (same order as ``record_times``)."""
    out = []
    for r in record_times:
        if not 0.0 <= float(r) <= 1.0:
            raise ConfigError(f"record times must be in [0, 1], got {r!r}")
        out.append(min(steps - 1, max(0, round(float(r) * steps))))
    return out
