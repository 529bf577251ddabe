"""The sampler interface: integrate an objective's dynamics from ``t = 0`` to ``t = 1``.

A sampler declares which state it integrates (``state_kind``); pairing it with an objective of the
other kind is an :class:`~flowbench.errors.IncompatibleError`. ``steps`` is the number of steps
on the uniform grid ``t_i = i / steps`` (``i = 0..steps``); :meth:`Sampler.nfe` says how many
network evaluations that costs (guidance doubles the batch, not the count).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from flowbench.errors import IncompatibleError
from flowbench.interfaces.objective import Objective, StateKind

__all__ = ["Sampler", "SampleResult", "TrajectoryPoint"]


@dataclass
class TrajectoryPoint:
    """A snapshot along a trajectory (for uncertainty maps).

    Attributes:
        t: the time of the snapshot.
        entropy: ``(B, h, w)`` posterior entropy at ``t`` (nats), or None.
    """

    t: float
    entropy: Tensor | None = None


@dataclass
class SampleResult:
    """Output of a sampler.

    Attributes:
        indices: ``(B, h, w)`` int64 code indices.
        nfe: number of function (network) evaluations used.
        trajectory: snapshots at the times asked for with ``record_times``.
    """

    indices: Tensor
    nfe: int
    trajectory: list[TrajectoryPoint] = field(default_factory=list)


class Sampler(ABC):
    """Integrates from ``t = 0`` to ``t = 1``; constructed as ``Sampler(**options)``."""

    state_kind: ClassVar[StateKind]

    def config(self) -> dict[str, Any]:
        """Options that rebuild this sampler."""
        return {}

    @abstractmethod
    def nfe(self, steps: int) -> int:
        """Network evaluations for ``steps`` steps."""

    def check_compatible(self, objective: Objective, sampler_name: str = "", objective_name: str = "") -> None:
        """Raise :class:`IncompatibleError` unless this sampler integrates ``objective``'s state."""
        if objective.state_kind != self.state_kind:
            raise IncompatibleError(
                f"sampler {sampler_name or type(self).__name__!r} integrates {self.state_kind} states, "
                f"but objective {objective_name or type(objective).__name__!r} has "
                f"{objective.state_kind} states; choose a {objective.state_kind}-state sampler"
            )

    @abstractmethod
    def sample(
        self,
        model: nn.Module,
        objective: Objective,
        labels: Tensor,
        steps: int,
        *,
        grid_shape: tuple[int, int],
        guidance: float = 1.0,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
        record_times: Sequence[float] = (),
    ) -> SampleResult:
        """Draw ``len(labels)`` samples.

        Args:
            model: backbone in eval mode (the EMA weights, usually).
            objective: supplies the initial state, predictions and the final map to indices.
            labels: ``(B,)`` class labels (the null class for unconditional samples).
            steps: number of steps on the uniform time grid.
            grid_shape: ``(h, w)``.
            guidance: classifier-free guidance scale (1 = conditional model only).
            temperature: passed to :meth:`Objective.predict`.
            generator: RNG for the initial state and any jumps.
            record_times: times at which to record a :class:`TrajectoryPoint` (nearest grid step).
        """
