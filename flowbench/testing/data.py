"""Tiny, seeded inputs for contract tests: a codebook, code grids and labels."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["tiny_codebook", "tiny_batch"]


def tiny_codebook(codebook_size: int = 8, embed_dim: int = 4, seed: int = 0) -> Tensor:
    """A ``(K, D)`` float32 codebook with well separated rows (pairwise distance > 0.5)."""
    g = torch.Generator().manual_seed(seed)
    for _ in range(100):
        codebook = torch.randn(codebook_size, embed_dim, generator=g)
        dist = torch.cdist(codebook, codebook) + torch.eye(codebook_size) * 1e9
        if dist.min() > 0.5:
            return codebook
    raise ValueError(f"could not draw {codebook_size} separated codes in {embed_dim} dimensions; raise embed_dim")


def tiny_batch(
    batch: int, grid_shape: tuple[int, int], codebook_size: int, num_classes: int, seed: int = 0
) -> tuple[Tensor, Tensor]:
    """Random code grids ``(B, h, w)`` in ``[0, K)`` and labels ``(B,)`` in ``[0, num_classes)`` (int64)."""
    g = torch.Generator().manual_seed(seed)
    indices = torch.randint(0, codebook_size, (batch, *grid_shape), generator=g)
    labels = torch.arange(batch) % num_classes
    return indices, labels
