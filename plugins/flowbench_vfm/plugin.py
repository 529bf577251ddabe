"""Registration hooks of the built-in vfm plugin: Purrception (variational flow matching)."""

from __future__ import annotations

from flowbench import hookimpl
from flowbench_vfm.objective import VFM


@hookimpl
def register_objectives(register):
    register(
        "vfm",
        VFM,
        aliases=("purrception",),
        description="Purrception / variational flow matching: CE on codes, velocity from the posterior mean",
    )
