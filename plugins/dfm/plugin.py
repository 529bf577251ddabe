"""Registration hooks of the built-in dfm plugin: masked discrete flow matching."""

from __future__ import annotations

from flowbench.builtin.dfm.objective import DFM

from flowbench import hookimpl


@hookimpl
def register_objectives(register):
    register("dfm", DFM, description="Masked discrete flow matching: keep-or-mask path, CE over codes, jump sampler")
