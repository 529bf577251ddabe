"""Registration hooks of the built-in vfm plugin: Purrception (variational flow matching)."""

from __future__ import annotations

from flowbench.builtin.vfm.objective import VFM

from flowbench import hookimpl


@hookimpl
def register_objectives(register):
    register(
        "vfm",
        VFM,
        aliases=("purrception",),
        description="Purrception / variational flow matching: CE on codes, velocity from the posterior mean",
    )
