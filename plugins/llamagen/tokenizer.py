"""``llamagen-vq8`` / ``llamagen-vq16``: LlamaGen's image tokenizers (K = 16384, D = 8, L2-normalised codes)."""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import Any, ClassVar

from flowbench.builtin.llamagen.model import VQ_8, VQ_16, LlamaGenConfig, LlamaGenVQModel
from torch import nn

from flowbench.pretrained_vq import PretrainedVQTokenizer

__all__ = ["LlamaGenVQ8Tokenizer", "LlamaGenVQ16Tokenizer"]


class _LlamaGenTokenizer(PretrainedVQTokenizer):
    checkpoint_key = "model"
    optional_keys = ("quantize.codebook_used",)  # a training-time usage record, not a weight
    l2_norm = True
    base: ClassVar[LlamaGenConfig]

    def build_model(self, ch: int) -> nn.Module:
        self._cfg = replace(self.base, ch=ch)
        return LlamaGenVQModel(self._cfg)

    @property
    def downsampling(self) -> int:
        return self._cfg.downsampling

    def config(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self._cfg).items()}


class LlamaGenVQ8Tokenizer(_LlamaGenTokenizer):
    """LlamaGen VQ-8 (``vq_ds8_c2i.pt``): 256px images -> 32x32 codes."""

    registry_name = "llamagen-vq8"
    base = VQ_8
    where_to_get = "vq_ds8_c2i.pt (huggingface.co/FoundationVision/LlamaGen)"


class LlamaGenVQ16Tokenizer(_LlamaGenTokenizer):
    """LlamaGen VQ-16 (``vq_ds16_c2i.pt``): 256px images -> 16x16 codes."""

    registry_name = "llamagen-vq16"
    base = VQ_16
    where_to_get = "vq_ds16_c2i.pt (huggingface.co/FoundationVision/LlamaGen)"
