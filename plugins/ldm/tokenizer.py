"""``ldm-vq-f8``: the latent-diffusion VQ-f8 first stage (K = 16384, D = 4, 256px -> 32x32 codes)."""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import Any

from flowbench.builtin.ldm.autoencoder import VQ_F8, VQModel
from torch import nn

from flowbench.pretrained_vq import PretrainedVQTokenizer

__all__ = ["LDMVQF8Tokenizer"]


class LDMVQF8Tokenizer(PretrainedVQTokenizer):
    """LDM ``vq-f8`` (CompVis latent-diffusion ``models/first_stage_models/vq-f8``).

    The checkpoint is the released ``model.ckpt`` (its ``"state_dict"``; the ``loss.*``
    discriminator/LPIPS weights are ignored), loaded from a local path.
    """

    registry_name = "ldm-vq-f8"
    checkpoint_key = "state_dict"
    ignored_prefixes = ("loss.",)
    where_to_get = "the model.ckpt of latent-diffusion's vq-f8.zip (ommer-lab.com/files/latent-diffusion/vq-f8.zip)"

    def build_model(self, ch: int) -> nn.Module:
        self._cfg = replace(VQ_F8, ch=ch)
        return VQModel(self._cfg)

    @property
    def downsampling(self) -> int:
        return self._cfg.downsampling

    def config(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self._cfg).items()}
