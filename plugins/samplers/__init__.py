"""flowbench built-in plugin: samplers (Euler/Heun/midpoint ODE solvers, masked Euler jumps)."""

from flowbench.builtin.samplers.jump import MaskedEuler
from flowbench.builtin.samplers.ode import Euler, Heun, Midpoint, ODESampler

__all__ = ["Euler", "Heun", "Midpoint", "MaskedEuler", "ODESampler"]
