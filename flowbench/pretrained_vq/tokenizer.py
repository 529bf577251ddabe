"""A tokenizer around a released VQ autoencoder checkpoint (LDM/taming, LlamaGen): the base class.

Subclasses say how to build the network (:meth:`PretrainedVQTokenizer.build_model`), under which
key of the checkpoint dict its state dict sits, which keys to ignore (an LDM checkpoint also
holds its ``loss.*`` discriminator/LPIPS weights) and whether codes are L2-normalised.

Checkpoints are read from a local path only, with ``torch.load(..., weights_only=True)`` (or
safetensors), and must match the architecture key for key and shape for shape; anything else is
one :class:`~flowbench.errors.CheckpointError` naming the missing/unexpected keys
(:func:`flowbench.weights.read_checkpoint`, :func:`flowbench.weights.load_strict`).

Quantisation: ``z = quant_conv(encoder(x))`` per position, nearest code
``c = argmin_k ||z - E_k||^2`` (both unit-normalised when ``l2_norm``), and
``decode(c) = decoder(post_quant_conv(E[c]))``.
"""

from __future__ import annotations

from abc import abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from flowbench.errors import CheckpointError, ConfigError
from flowbench.interfaces.tokenizer import Tokenizer
from flowbench.io import atomic_path
from flowbench.weights import file_sha256, load_strict, read_checkpoint, state_sha256

__all__ = ["PretrainedVQTokenizer"]


class PretrainedVQTokenizer(Tokenizer):
    """Base of the released-checkpoint tokenizers (see module doc).

    Args:
        checkpoint: local path of the released checkpoint (required unless ``pretrained=False``).
        pretrained: ``False`` builds a randomly initialised network (tests, smoke runs).
        image_size: side of the images it encodes (any multiple of the downsampling factor).
        ch: base channel width (the released models use 128; a multiple of 32 for GroupNorm);
            smaller widths make small test models with the same key layout.
    """

    registry_name: ClassVar[str]
    checkpoint_key: ClassVar[str]
    ignored_prefixes: ClassVar[tuple[str, ...]] = ()
    optional_keys: ClassVar[tuple[str, ...]] = ()
    l2_norm: ClassVar[bool] = False
    where_to_get: ClassVar[str] = ""

    def __init__(
        self, checkpoint: str | Path | None = None, pretrained: bool = True, image_size: int = 256, ch: int = 128
    ) -> None:
        super().__init__()
        if ch < 32 or ch % 32:
            raise ConfigError(f"{self.registry_name}: ch must be a positive multiple of 32 (GroupNorm), got {ch}")
        if pretrained and checkpoint is None:
            raise CheckpointError(
                f"{self.registry_name} needs a local checkpoint (it cannot be downloaded here): pass "
                f"--tokenizer-checkpoint PATH (checkpoint=PATH) with {self.where_to_get}"
            )
        if not pretrained and checkpoint is not None:
            raise ConfigError(f"{self.registry_name}: pass either checkpoint=PATH or pretrained=False, not both")
        self.model = self.build_model(ch)
        factor = self.downsampling
        if image_size < factor or image_size % factor:
            raise ConfigError(f"{self.registry_name}: image_size must be a multiple of {factor}, got {image_size}")
        self.ch = ch
        self.checkpoint_path: Path | None = None
        self._sha: str | None = None
        if checkpoint is not None:
            path = Path(checkpoint).expanduser()
            self.load_state(read_checkpoint(path, self.checkpoint_key, self.ignored_prefixes), path)
            self.checkpoint_path = path
            self._sha = file_sha256(path)
        self.model.eval()
        self.codebook_size, self.embed_dim = self.codebook_weight.shape
        self.image_size = image_size
        self.image_channels = 3
        self.grid_shape = (image_size // factor, image_size // factor)

    # -- what subclasses provide -------------------------------------------------------------------

    @abstractmethod
    def build_model(self, ch: int) -> nn.Module:
        """The network with ``encode_latent``, ``decode_latent`` and the codebook at ``quantize.embedding``."""

    @property
    @abstractmethod
    def downsampling(self) -> int:
        """Image side / grid side."""

    @abstractmethod
    def config(self) -> dict[str, Any]:
        """Architecture settings recorded by :meth:`describe`."""

    # -- checkpoints -------------------------------------------------------------------------------

    def load_state(self, state: dict[str, Tensor], source: Path | str) -> None:
        """Strictly load ``state`` (keys in ``optional_keys`` may be absent)."""
        current = self.model.state_dict()
        for key in self.optional_keys:
            if key not in state and key in current:
                state = {**state, key: current[key]}
        load_strict(self.model, state, source)

    def save_checkpoint(self, path: str | Path, extra: dict[str, Tensor] | None = None) -> Path:
        """Write the weights in the released layout (``{checkpoint_key: state_dict}``), atomically."""
        state = {**self.model.state_dict(), **(extra or {})}
        path = Path(path)
        with atomic_path(path) as tmp:
            torch.save({self.checkpoint_key: state}, tmp)
        return path

    # -- the Tokenizer interface -------------------------------------------------------------------

    @property
    def codebook_weight(self) -> Tensor:
        return self.model.quantize.embedding.weight

    def codebook(self) -> Tensor:
        table = self.codebook_weight.detach()
        return F.normalize(table, dim=1) if self.l2_norm else table

    @property
    def device(self) -> torch.device:
        return self.codebook_weight.device

    @torch.no_grad()
    def encode(self, images: Tensor) -> Tensor:
        expected = (3, self.image_size, self.image_size)
        if images.dim() != 4 or tuple(images.shape[1:]) != expected:
            raise ConfigError(
                f"{self.registry_name} expects images (B, 3, {self.image_size}, {self.image_size}), got "
                f"{tuple(images.shape)}; set the dataset's image_size (or the tokenizer's image_size option)"
            )
        z = self.model.encode_latent(images.to(self.device, torch.float32))
        b, d, h, w = z.shape
        flat = z.permute(0, 2, 3, 1).reshape(-1, d)
        if self.l2_norm:
            flat = F.normalize(flat, dim=1)
        table = self.codebook()
        sq = table.pow(2).sum(1)
        out = torch.empty(flat.shape[0], dtype=torch.long, device=flat.device)
        for start in range(0, flat.shape[0], 4096):  # bounded memory with K = 16384
            chunk = flat[start : start + 4096]
            out[start : start + 4096] = (sq[None] - 2 * chunk @ table.t()).argmin(1)
        return out.view(b, h, w)

    @torch.no_grad()
    def decode(self, indices: Tensor) -> Tensor:
        latent = self.embed(indices.to(self.device))
        return self.model.decode_latent(latent).clamp_(-1.0, 1.0)

    @property
    def checkpoint_sha256(self) -> str:
        return self._sha if self._sha is not None else state_sha256(self.model.state_dict())

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "name": self.registry_name,
            "config": {**self.config(), "ch": self.ch, "image_size": self.image_size},
            "checkpoint": str(self.checkpoint_path) if self.checkpoint_path else None,
            "checkpoint_sha256": self.checkpoint_sha256,
        }
