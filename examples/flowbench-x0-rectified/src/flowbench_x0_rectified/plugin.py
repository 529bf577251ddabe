"""The module named by this package's ``flowbench`` entry point: it registers the objective."""

from flowbench import hookimpl
from flowbench_x0_rectified.objective import X0Rectified


@hookimpl
def register_objectives(register):
    register("x0-rectified", X0Rectified, aliases=("rf-xpred",))
