"""flowbench built-in plugin: Purrception (variational flow matching on VQ latents)."""

from flowbench.builtin.vfm.objective import VFM

__all__ = ["VFM"]
