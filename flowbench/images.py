"""Images in and out: ``[-1, 1]`` float tensors to uint8 and PNG grids (written atomically)."""

from __future__ import annotations

import math
from pathlib import Path

import torch
from PIL import Image
from torch import Tensor
from torchvision.utils import make_grid

from flowbench.io import atomic_path

__all__ = ["to_uint8", "save_image_grid", "interleave_rows"]


def to_uint8(images: Tensor) -> Tensor:
    """Float images in ``[-1, 1]`` (any shape) to uint8 in ``[0, 255]``: ``round((x + 1) * 127.5)``."""
    return ((images.detach().float().clamp(-1.0, 1.0) + 1.0) * 127.5).round_().to(torch.uint8)


def save_image_grid(images: Tensor, path: str | Path, nrow: int | None = None, padding: int = 2) -> Path:
    """Save ``(B, C, H, W)`` images in ``[-1, 1]`` as one PNG grid of ``nrow`` images per row.

    ``nrow`` defaults to ``ceil(sqrt(B))`` (a square-ish grid). Grey (``C = 1``) images stay grey.
    The file appears atomically.
    """
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"save_image_grid expects (B, 1 or 3, H, W) images, got {tuple(images.shape)}")
    b = images.shape[0]
    nrow = nrow or max(1, math.ceil(math.sqrt(b)))
    grid = make_grid(to_uint8(images.cpu()), nrow=nrow, padding=padding, pad_value=255)
    array = grid.permute(1, 2, 0).numpy()
    image = Image.fromarray(array[..., 0]) if images.shape[1] == 1 else Image.fromarray(array)
    path = Path(path)
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")
    return path


def interleave_rows(top: Tensor, bottom: Tensor, nrow: int) -> Tensor:
    """Alternate rows of ``nrow`` images from ``top`` and ``bottom`` (e.g. originals above reconstructions)."""
    if top.shape != bottom.shape:
        raise ValueError(f"interleave_rows needs equal shapes, got {tuple(top.shape)} and {tuple(bottom.shape)}")
    rows = []
    for start in range(0, top.shape[0], nrow):
        rows += [top[start : start + nrow], bottom[start : start + nrow]]
    return torch.cat(rows)
