"""flowbench built-in plugin: masked discrete flow matching (Gat et al., 2024)."""

from flowbench.builtin.dfm.objective import DFM

__all__ = ["DFM"]
