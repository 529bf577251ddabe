"""Registration hooks of the built-in cfm plugin: CFM (velocity) and CFM-endpoint baselines."""

from __future__ import annotations

from flowbench.builtin.cfm.objective import CFM, CFMEndpoint

from flowbench import hookimpl


@hookimpl
def register_objectives(register):
    register("cfm", CFM, description="Conditional flow matching: MSE on the velocity x1 - x0")
    register("cfm-endpoint", CFMEndpoint, description="Conditional flow matching: MSE on the endpoint x1")
