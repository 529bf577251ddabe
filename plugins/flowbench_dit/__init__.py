"""flowbench built-in plugin: the DiT family of backbones (adaLN-Zero transformers)."""

from flowbench_dit.configs import DIT_CONFIGS, DiTConfig
from flowbench_dit.model import DiT, count_parameters

__all__ = ["DiT", "DiTConfig", "DIT_CONFIGS", "count_parameters"]
