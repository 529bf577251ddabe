"""A model that records what an objective feeds it and answers with fixed random outputs."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class Recorder(nn.Module):
    """``f(x, t, y)``: a learnable constant ``(B, out, h, w)`` output; keeps the last inputs."""

    def __init__(self, batch: int, out_channels: int, grid: tuple[int, int], num_classes: int, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.out = nn.Parameter(3 * torch.randn(batch, out_channels, *grid, generator=g))
        self.null_class = num_classes
        self.inputs: list[tuple[Tensor, Tensor, Tensor]] = []

    def forward(self, x: Tensor, t: Tensor, y: Tensor) -> Tensor:
        self.inputs.append((x.detach().clone(), t.detach().clone(), y.detach().clone()))
        return self.out[: x.shape[0]]
