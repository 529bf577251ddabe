"""Conditioning and position embeddings of DiT (Peebles & Xie, 2023).

* Time: a sinusoidal embedding of the (scaled) time followed by a two-layer MLP. flowbench times
  live in ``[0, 1]``; DiT was designed for integer diffusion steps in ``[0, 1000)``, so the time is
  multiplied by :data:`TIME_SCALE` before the sinusoid, which keeps DiT's frequency range useful:

  .. math:: \\mathrm{emb}(t)_i = \\cos(s t\\,\\omega_i),\\ \\mathrm{emb}(t)_{i + F/2} = \\sin(s t\\,\\omega_i),
     \\quad \\omega_i = 10000^{-2i/F}

* Class: an embedding table with ``num_classes + 1`` rows; the last row is the null class of
  classifier-free guidance. In training mode each label is replaced by the null class with
  probability ``dropout_prob``.
* Position: fixed 2-D sine-cosine embedding of the patch grid (half the width encodes the row, half
  the column), as in MAE and DiT.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["TIME_SCALE", "TimestepEmbedder", "LabelEmbedder", "sincos_pos_embed_2d", "timestep_frequencies"]

#: Multiplier applied to ``t`` in ``[0, 1]`` before the sinusoid (DiT's 1000 diffusion steps).
TIME_SCALE = 1000.0


def timestep_frequencies(t: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """Sinusoidal features ``(B, dim)`` of (already scaled) times ``t`` ``(B,)``: ``[cos, sin]``."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
    return emb


class TimestepEmbedder(nn.Module):
    """``t`` in ``[0, 1]`` -> ``(B, width)``: sinusoid of ``TIME_SCALE * t``, then Linear-SiLU-Linear."""

    def __init__(self, width: int, frequency_dim: int = 256, scale: float = TIME_SCALE) -> None:
        super().__init__()
        self.frequency_dim = frequency_dim
        self.scale = scale
        self.mlp = nn.Sequential(nn.Linear(frequency_dim, width), nn.SiLU(), nn.Linear(width, width))

    def forward(self, t: Tensor) -> Tensor:
        freqs = timestep_frequencies(t * self.scale, self.frequency_dim)
        return self.mlp(freqs.to(self.mlp[0].weight.dtype))


class LabelEmbedder(nn.Module):
    """Class labels -> ``(B, width)``; index ``num_classes`` is the null class.

    In training mode, labels are replaced by the null class with probability ``dropout_prob``
    (DiT's label dropout), so the unconditional model used by guidance is learned as well.
    """

    def __init__(self, num_classes: int, width: int, dropout_prob: float) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.dropout_prob = dropout_prob
        self.embedding_table = nn.Embedding(num_classes + 1, width)

    def forward(self, labels: Tensor) -> Tensor:
        if self.training and self.dropout_prob > 0:
            drop = torch.rand(labels.shape, device=labels.device) < self.dropout_prob
            labels = torch.where(drop, torch.full_like(labels, self.num_classes), labels)
        return self.embedding_table(labels)


def _sincos_1d(dim: int, pos: Tensor) -> Tensor:
    omega = 1.0 / 10000 ** (torch.arange(dim // 2, dtype=torch.float64) / (dim / 2.0))
    out = pos.reshape(-1, 1).double() * omega[None]
    return torch.cat([torch.sin(out), torch.cos(out)], dim=1)


def sincos_pos_embed_2d(dim: int, grid_h: int, grid_w: int) -> Tensor:
    """Fixed ``(grid_h * grid_w, dim)`` embedding, row-major over the patch grid.

    The first ``dim / 2`` channels encode the row index, the last ``dim / 2`` the column index, each
    as ``[sin(p ω), cos(p ω)]`` with ``ω_i = 10000^{-2i/(dim/2)}``.
    """
    if dim % 4:
        raise ValueError(f"2-D sin-cos position embedding needs a width divisible by 4, got {dim}")
    rows, cols = torch.meshgrid(
        torch.arange(grid_h, dtype=torch.float64), torch.arange(grid_w, dtype=torch.float64), indexing="ij"
    )
    emb = torch.cat([_sincos_1d(dim // 2, rows), _sincos_1d(dim // 2, cols)], dim=1)
    return emb.float()
