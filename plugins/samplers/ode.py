"""ODE samplers for continuous states: ``dx/dt = v(x, t)`` from ``t = 0`` to ``1`` on a uniform grid.

The velocity is the objective's (:meth:`~flowbench.interfaces.Objective.predict`), guidance and
temperature included; each call is one network evaluation (guidance doubles the batch of that
evaluation, not the count). With step ``h = 1 / steps`` at ``t``:

* ``euler``: ``x <- x + h v(x, t)``. NFE = ``steps``.
* ``heun`` (explicit trapezoid): ``x' = x + h v1``, ``x <- x + h/2 (v1 + v(x', t + h))``. The
  velocity of Purrception and of CFM-endpoint divides by ``1 - t`` and is singular at ``t = 1``,
  so the **last step is an Euler step** (no evaluation at ``t = 1``): NFE = ``2 steps - 1``.
* ``midpoint``: ``x <- x + h v(x + h/2 v1, t + h/2)``; never evaluates at ``t = 1``. NFE = ``2 steps``.

After the last step the objective maps the state to code indices (:meth:`Objective.finalize`).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Sequence
from typing import ClassVar

import torch
from flowbench.builtin.samplers.grid import check_steps, record_steps
from torch import Tensor, nn

from flowbench.interfaces import Objective, Sampler, SampleResult, StateKind, TrajectoryPoint

__all__ = ["ODESampler", "Euler", "Heun", "Midpoint"]

Velocity = Callable[[Tensor, float], Tensor]


class ODESampler(Sampler):
    """A fixed-step ODE solver over the uniform grid; subclasses define one step."""

    state_kind: ClassVar[StateKind] = "continuous"

    @abstractmethod
    def step(self, velocity: Velocity, x: Tensor, t: float, h: float, v0: Tensor, last: bool) -> Tensor:
        """Advance ``x`` from ``t`` to ``t + h``; ``v0 = v(x, t)`` is already evaluated."""

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
        self.check_compatible(objective)
        steps = check_steps(steps)
        device = objective.codebook.device
        labels = labels.to(device)
        batch = labels.shape[0]
        records = record_steps(record_times, steps)
        wanted = set(records)
        entropies: dict[int, Tensor | None] = {}
        nfe = 0

        def predict(x: Tensor, t: float, need_entropy: bool = False):
            nonlocal nfe
            nfe += 1
            tt = torch.full((batch,), t, device=device, dtype=torch.float32)
            return objective.predict(
                model, x, tt, labels, guidance=guidance, temperature=temperature, need_entropy=need_entropy
            )

        def velocity(x: Tensor, t: float) -> Tensor:
            return predict(x, t).velocity

        h = 1.0 / steps
        with torch.no_grad():
            x = objective.initial_state(batch, grid_shape, generator=generator).float()
            for i in range(steps):
                t = i * h
                first = predict(x, t, need_entropy=i in wanted)
                if i in wanted:
                    entropies[i] = first.entropy
                x = self.step(velocity, x, t, h, first.velocity, last=i == steps - 1)
            indices = objective.finalize(x)
        trajectory = [TrajectoryPoint(t=i * h, entropy=entropies[i]) for i in records]
        return SampleResult(indices=indices, nfe=nfe, trajectory=trajectory)


class Euler(ODESampler):
    """Explicit Euler: one evaluation per step."""

    def nfe(self, steps: int) -> int:
        return check_steps(steps)

    def step(self, velocity: Velocity, x: Tensor, t: float, h: float, v0: Tensor, last: bool) -> Tensor:
        return x + h * v0


class Heun(ODESampler):
    """Heun's method (2nd order); Euler on the last step, where ``v`` at ``t = 1`` may be singular."""

    def nfe(self, steps: int) -> int:
        return 2 * check_steps(steps) - 1

    def step(self, velocity: Velocity, x: Tensor, t: float, h: float, v0: Tensor, last: bool) -> Tensor:
        if last:
            return x + h * v0
        v1 = velocity(x + h * v0, t + h)
        return x + 0.5 * h * (v0 + v1)


class Midpoint(ODESampler):
    """Explicit midpoint (2nd order): two evaluations per step, none at ``t = 1``."""

    def nfe(self, steps: int) -> int:
        return 2 * check_steps(steps)

    def step(self, velocity: Velocity, x: Tensor, t: float, h: float, v0: Tensor, last: bool) -> Tensor:
        return x + h * velocity(x + 0.5 * h * v0, t + 0.5 * h)
