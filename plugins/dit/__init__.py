"""flowbench built-in plugin: the DiT family of backbones (adaLN-Zero transformers)."""

from flowbench.builtin.dit.configs import DIT_CONFIGS, DiTConfig
from flowbench.builtin.dit.model import DiT, count_parameters

__all__ = ["DiT", "DiTConfig", "DIT_CONFIGS", "count_parameters"]
