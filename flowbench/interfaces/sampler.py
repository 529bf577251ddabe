"""The sampler interface: integrate an objective's dynamics from ``t = 0`` to ``t = 1``.

A sampler declares which state it integrates (``state_kind``); pairing it with an objective of the
other kind is an :class:`~flowbench.errors.IncompatibleError`. ``steps`` is the number of steps
on the uniform grid ``t_i = i / steps`` (``i = 0..steps``); :meth:`Sampler.nfe` says how many
network evaluations that costs (guidance doubles the batch, not the count).

What every sampler does around its update rule is written once: :meth:`Sampler.sample` checks the
pairing, opens a :class:`SamplingRun` (the labels on the objective's device, the grid, the
snapshot steps) and, without gradients, calls :meth:`Sampler.integrate`, which draws the initial
state and steps it with :meth:`SamplingRun.predict`; :meth:`SamplingRun.finish` then hands the state
and the last prediction to :meth:`Objective.finalize` and collects the trajectory. A sampler
implements :meth:`Sampler.nfe` and :meth:`Sampler.integrate` (or overrides :meth:`Sampler.sample`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from flowbench.errors import IncompatibleError
from flowbench.interfaces.objective import Objective, Prediction, StateKind
from flowbench.time_grid import check_steps, record_steps

__all__ = ["Sampler", "SampleResult", "SamplingRun", "TrajectoryPoint"]


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


@dataclass(eq=False)
class SamplingRun:
    """One :meth:`Sampler.sample` call: its inputs, its network evaluations and its snapshots.

    Attributes:
        model, objective, steps, grid_shape, guidance, temperature, generator, record_times: as given
            to ``sample`` (``steps`` checked: a positive int).
        labels: ``(B,)``, moved to ``device`` (the objective's codebook's device).
        h: the step ``1 / steps``; ``batch``: ``B``; ``records``: the grid step of each record time.
        nfe: network evaluations so far (one per :meth:`predict`).
        last: the last :class:`Prediction` :meth:`predict` returned (handed to ``finalize``).
    """

    model: nn.Module
    objective: Objective
    labels: Tensor
    steps: int
    grid_shape: tuple[int, int]
    guidance: float = 1.0
    temperature: float = 1.0
    generator: torch.Generator | None = None
    record_times: Sequence[float] = ()
    nfe: int = 0
    last: Prediction | None = None
    entropies: dict[int, Tensor | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.steps = check_steps(self.steps)
        self.h = 1.0 / self.steps
        self.device = self.objective.codebook.device
        self.labels = self.labels.to(self.device)
        self.batch = int(self.labels.shape[0])
        self.records = record_steps(self.record_times, self.steps)

    def initial_state(self) -> Tensor:
        """The objective's state at ``t = 0`` for this batch, drawn from ``generator``."""
        return self.objective.initial_state(self.batch, self.grid_shape, generator=self.generator)

    def predict(self, x: Tensor, t: float, step: int | None = None) -> Prediction:
        """One network evaluation: the objective's prediction at state ``x`` and time ``t``, with the
        run's guidance and temperature. Pass ``step=i`` for the prediction that starts grid step ``i``:
        the entropy snapshot asked for at that step is taken from it."""
        self.nfe += 1
        record = step is not None and step in self.records
        tt = torch.full((self.batch,), t, device=self.device, dtype=torch.float32)
        self.last = self.objective.predict(
            self.model, x, tt, self.labels, guidance=self.guidance, temperature=self.temperature, need_entropy=record
        )
        if record:
            self.entropies[step] = self.last.entropy
        return self.last

    def finish(self, x: Tensor) -> SampleResult:
        """The indices of the final state (``objective.finalize(x, last)``), the NFE and the snapshots."""
        indices = self.objective.finalize(x, self.last)
        trajectory = [TrajectoryPoint(t=i * self.h, entropy=self.entropies[i]) for i in self.records]
        return SampleResult(indices=indices, nfe=self.nfe, trajectory=trajectory)


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

    def integrate(self, run: SamplingRun) -> Tensor:
        """Draw ``run.initial_state()`` and step it to ``t = 1`` on the grid ``t_i = i * run.h``, calling
        ``run.predict(x, t, step=i)`` for the evaluation that starts step ``i`` (and ``run.predict(x, t)``
        for any other); return the final state (called without gradients)."""
        raise NotImplementedError(f"{type(self).__name__} implements neither integrate() nor sample()")

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
            objective: supplies the initial state, predictions and the final map to indices; the
                sampler ends with ``objective.finalize(x, last)``, ``last`` the last
                :class:`~flowbench.interfaces.Prediction` its ``predict`` returned.
            labels: ``(B,)`` class labels (the null class for unconditional samples).
            steps: number of steps on the uniform time grid.
            grid_shape: ``(h, w)``.
            guidance: classifier-free guidance scale (1 = conditional model only).
            temperature: passed to :meth:`Objective.predict`.
            generator: RNG for the initial state and any jumps.
            record_times: times at which to record a :class:`TrajectoryPoint` (nearest grid step).
        """
        self.check_compatible(objective)
        run = SamplingRun(model, objective, labels, steps, grid_shape, guidance, temperature, generator, record_times)
        with torch.no_grad():
            x = self.integrate(run)
            return run.finish(x)
