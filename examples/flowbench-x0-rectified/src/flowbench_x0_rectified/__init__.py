"""flowbench-x0-rectified: an example third-party flowbench objective (see README.md)."""

from flowbench_x0_rectified.objective import X0Rectified

__all__ = ["X0Rectified"]
