"""Registration hooks of the built-in samplers plugin: ODE solvers and the masked jump sampler."""

from __future__ import annotations

from flowbench.builtin.samplers.jump import MaskedEuler
from flowbench.builtin.samplers.ode import Euler, Heun, Midpoint

from flowbench import hookimpl


@hookimpl
def register_samplers(register):
    register("euler", Euler, description="Explicit Euler ODE solver (NFE = steps)")
    register("heun", Heun, description="Heun ODE solver, Euler on the last step (NFE = 2 steps - 1)")
    register("midpoint", Midpoint, description="Explicit midpoint ODE solver (NFE = 2 steps)")
    register("dfm-euler", MaskedEuler, description="Euler jump sampler for masked token states (NFE = steps)")
