"""ODE samplers for continuous states: ``dx/dt = v(x, t)`` from ``t = 0`` to ``1`` on a uniform grid.

The velocity is the objective's (:meth:`~flowbench.interfaces.Objective.predict`), guidance and
temperature included; each call is one network evaluation (guidance doubles the batch of that
evaluation, not the count). With step ``h = 1 / steps`` at ``t``:

* ``euler``: ``x <- x + h v(x, t)``. NFE = ``steps``.
* ``heun`` (explicit trapezoid): ``x' = x + h v1``, ``x <- x + h/2 (v1 + v(x', t + h))``. The
  velocity of Purrception and of CFM-endpoint divides by ``1 - t`` and is singular at ``t = 1``,
  so the **last step is an Euler step** (no evaluation at ``t = 1``): NFE = ``2 steps - 1``.
* ``midpoint``: ``x <- x + h v(x + h/2 v1, t + h/2)``; never evaluates at ``t = 1``. NFE = ``2 steps``.

After the last step the objective maps the state to code indices (:meth:`Objective.finalize`), given
the last prediction the solver computed (at ``t = 1 - h`` for Euler and Heun, ``1 - h/2`` for midpoint).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from typing import ClassVar

from torch import Tensor

from flowbench.interfaces import Sampler, SamplingRun, StateKind
from flowbench.time_grid import check_steps

__all__ = ["ODESampler", "Euler", "Heun", "Midpoint"]

Velocity = Callable[[Tensor, float], Tensor]


class ODESampler(Sampler):
    """A fixed-step ODE solver over the uniform grid; subclasses define one step."""

    state_kind: ClassVar[StateKind] = "continuous"

    @abstractmethod
    def step(self, velocity: Velocity, x: Tensor, t: float, h: float, v0: Tensor, last: bool) -> Tensor:
        """Advance ``x`` from ``t`` to ``t + h``; ``v0 = v(x, t)`` is already evaluated."""

    def integrate(self, run: SamplingRun) -> Tensor:
        def velocity(x: Tensor, t: float) -> Tensor:
            return run.predict(x, t).velocity

        x = run.initial_state().float()
        for i in range(run.steps):
            t = i * run.h
            v0 = run.predict(x, t, step=i).velocity
            x = self.step(velocity, x, t, run.h, v0, last=i == run.steps - 1)
        return x


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
