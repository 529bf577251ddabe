"""A tiny reference backbone for contract tests: no built-in plugin needed.

:class:`TinyBackbone` is a real, trainable conditional network ``f(x, t, y)`` small enough to
overfit a batch in a few dozen steps on a CPU. It reads either input kind of a
:class:`~flowbench.interfaces.BackboneSpec` and conditions on time and label by FiLM:

.. math::

    h \\leftarrow h + \\mathrm{conv}_3\\big(\\mathrm{SiLU}(\\mathrm{GN}(h)) (1 + s(c)) + b(c)\\big),
    \\qquad c = \\mathrm{MLP}(\\mathrm{fourier}(t)) + \\mathrm{emb}(y),

with a learned position embedding, so one batch can be memorised per position and label.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from flowbench.interfaces import Backbone, BackboneSpec

__all__ = ["TinyBackbone", "make_tiny_backbone"]


class _FiLMBlock(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(1, width)
        self.mod = nn.Linear(width, 2 * width)
        self.conv = nn.Conv2d(width, width, 3, padding=1)

    def forward(self, h: Tensor, c: Tensor) -> Tensor:
        scale, shift = self.mod(c)[:, :, None, None].chunk(2, dim=1)
        return h + self.conv(nn.functional.silu(self.norm(h)) * (1 + scale) + shift)


class TinyBackbone(Backbone):
    """A small FiLM-conditioned conv net built for ``spec``.

    Args:
        spec: what to read and write (from the objective).
        width: hidden channels.
        depth: residual blocks.
        class_dropout_prob: probability of replacing a label by the null class in training mode.
    """

    def __init__(self, spec: BackboneSpec, *, width: int = 32, depth: int = 2, class_dropout_prob: float = 0.0):
        super().__init__()
        self.spec = spec
        self.width, self.depth, self.class_dropout_prob = width, depth, float(class_dropout_prob)
        h, w = spec.grid_shape
        if spec.input_kind == "tokens":
            self.stem: nn.Module = nn.Embedding(spec.in_channels, width)
        else:
            self.stem = nn.Conv2d(spec.in_channels, width, 1)
        self.pos = nn.Parameter(0.1 * torch.randn(1, width, h, w))
        self.register_buffer("freqs", torch.exp(torch.linspace(0.0, math.log(100.0), 8)), persistent=False)
        self.time = nn.Sequential(nn.Linear(16, width), nn.SiLU(), nn.Linear(width, width))
        self.label = nn.Embedding(spec.num_classes + 1, width)
        self.blocks = nn.ModuleList(_FiLMBlock(width) for _ in range(depth))
        self.out = nn.Conv2d(width, spec.out_channels, 1)

    def forward(self, x: Tensor, t: Tensor, y: Tensor) -> Tensor:
        if self.spec.input_kind == "tokens":
            h = self.stem(x).permute(0, 3, 1, 2)
        else:
            h = self.stem(x)
        h = h + self.pos
        if self.training and self.class_dropout_prob > 0:
            drop = torch.rand(y.shape, device=y.device) < self.class_dropout_prob
            y = torch.where(drop, torch.full_like(y, self.null_class), y)
        angles = t.float()[:, None] * self.freqs[None]
        c = self.time(torch.cat([angles.sin(), angles.cos()], dim=1)) + self.label(y)
        for block in self.blocks:
            h = block(h, c)
        return self.out(nn.functional.silu(h))


def make_tiny_backbone(spec: BackboneSpec, seed: int = 0, **options: object) -> TinyBackbone:
    """A :class:`TinyBackbone` with weights drawn from ``seed`` (the global RNG is left as it was)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return TinyBackbone(spec, **options)  # type: ignore[arg-type]
