"""The tokenizer interface: images <-> grids of codebook indices.

A tokenizer is a fixed, pretrained vector-quantized autoencoder with a codebook
:math:`E \\in \\mathbb{R}^{K \\times D}`. An image :math:`I` becomes a grid of indices
:math:`c \\in \\{0..K-1\\}^{h \\times w}`; its quantized latent is :math:`x_1 = E[c]`
(shape ``(D, h, w)``). Objectives only see ``c`` and ``E``; images only pass through
:meth:`Tokenizer.encode` and :meth:`Tokenizer.decode`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["Tokenizer"]


class Tokenizer(nn.Module, ABC):
    """A VQ tokenizer.

    Attributes:
        codebook_size: ``K``, the number of codes.
        embed_dim: ``D``, the dimension of a code.
        grid_shape: ``(h, w)``, the index grid of one image.
        image_size: side of the (square) images it encodes.
        image_channels: 1 (grey) or 3 (RGB).

    Images are float tensors ``(B, C, H, W)`` in ``[-1, 1]``.
    """

    codebook_size: int
    embed_dim: int
    grid_shape: tuple[int, int]
    image_size: int
    image_channels: int

    @abstractmethod
    def encode(self, images: Tensor) -> Tensor:
        """Quantize images ``(B, C, H, W)`` in ``[-1, 1]`` to indices ``(B, h, w)`` (int64)."""

    @abstractmethod
    def decode(self, indices: Tensor) -> Tensor:
        """Decode indices ``(B, h, w)`` to images ``(B, C, H, W)`` in ``[-1, 1]``."""

    @abstractmethod
    def codebook(self) -> Tensor:
        """The ``(K, D)`` float table objectives embed indices with.

        Tokenizers that L2-normalise their codes (LlamaGen) return the normalised table, so that
        training targets ``E[c]`` and the sampler's posterior mean ``softmax(l) @ E`` agree with what
        :meth:`decode` expects.
        """

    def describe(self) -> dict[str, Any]:
        """Provenance: name, configuration and checkpoint hash (recorded with every result)."""
        return {
            "class": type(self).__name__,
            "codebook_size": self.codebook_size,
            "embed_dim": self.embed_dim,
            "grid_shape": list(self.grid_shape),
            "image_size": self.image_size,
            "image_channels": self.image_channels,
        }

    @torch.no_grad()
    def embed(self, indices: Tensor) -> Tensor:
        """``E[c]`` as a ``(B, D, h, w)`` latent."""
        return self.codebook()[indices].permute(0, 3, 1, 2).contiguous()
