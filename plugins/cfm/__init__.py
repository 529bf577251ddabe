"""flowbench built-in plugin: conditional flow matching baselines (velocity and endpoint)."""

from flowbench.builtin.cfm.objective import CFM, CFMEndpoint, GaussianPathRegression

__all__ = ["CFM", "CFMEndpoint", "GaussianPathRegression"]
