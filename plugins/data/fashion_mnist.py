"""Fashion-MNIST (Xiao et al., 2017; MIT licence): 28x28 grey images of 10 kinds of clothing.

The default embedded dataset. Splits ``train`` (60,000) and ``test`` (10,000). The original IDX
files are found as described in :mod:`flowbench.builtin.data.sources`, verified (decompressed size and
SHA-256), decoded once per process into uint8 arrays, and converted per item to float images in
``[-1, 1]``: ``x = p / 127.5 - 1`` for a pixel value ``p in {0..255}``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from flowbench.builtin.data.idx import load_idx
from flowbench.builtin.data.sources import EXPECTED, SplitFiles, locate
from torch import Tensor

from flowbench.errors import DataError
from flowbench.interfaces import ImageDataset

__all__ = ["FashionMNIST", "CLASSES", "load_split"]

CLASSES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
NATIVE_SIZE = 28

_decoded: dict[tuple[str, str, int, int], tuple[np.ndarray, np.ndarray]] = {}


def load_split(files: SplitFiles) -> tuple[np.ndarray, np.ndarray]:
    """Verified ``(images (N, 28, 28) uint8, labels (N,) int64)``; decoded once per process."""
    key = (str(files.images.resolve()), str(files.labels.resolve()))
    stamp = (files.images.stat().st_mtime_ns, files.labels.stat().st_mtime_ns)
    cache_key = (*key, *stamp)
    if cache_key not in _decoded:
        images = load_idx(files.images, EXPECTED[files.images.name.removesuffix(".gz")])
        labels = load_idx(files.labels, EXPECTED[files.labels.name.removesuffix(".gz")])
        if len(images) != len(labels):
            raise DataError(f"{files.images} holds {len(images)} images but {files.labels} {len(labels)} labels")
        if labels.max() >= len(CLASSES):
            raise DataError(f"{files.labels}: label {int(labels.max())} out of range 0..{len(CLASSES) - 1}")
        _decoded[cache_key] = (images, labels.astype(np.int64))
    return _decoded[cache_key]


class FashionMNIST(ImageDataset):
    """Fashion-MNIST images as float ``(1, S, S)`` tensors in ``[-1, 1]``, with class labels.

    Args:
        split: ``"train"`` or ``"test"``.
        root: a directory holding the IDX files (searched alone); default: see
            :mod:`flowbench.builtin.data.sources`.
        image_size: side ``S`` of the returned images (default 28). With ``fit="pad"``, a larger
            side pads with background (-1) around the centred image and a smaller one resizes;
            with ``fit="resize"`` the image is always resized (bilinear, antialiased).
        fit: ``"pad"`` or ``"resize"``.
        download: fetch the official files into the user cache if no directory has them.
    """

    classes = CLASSES
    channels = 1

    def __init__(
        self,
        split: str = "train",
        root: str | Path | None = None,
        image_size: int | None = None,
        fit: Literal["pad", "resize"] = "pad",
        download: bool = True,
    ) -> None:
        if fit not in ("pad", "resize"):
            raise DataError(f"fashion-mnist option fit must be 'pad' or 'resize', got {fit!r}")
        size = NATIVE_SIZE if image_size is None else int(image_size)
        if size < 1:
            raise DataError(f"image_size must be positive, got {image_size}")
        self.split = split
        self.image_size = size
        self.fit = fit
        self.num_classes = len(CLASSES)
        self.files = locate(split, root, download_missing=download)
        self.images, self.labels = load_split(self.files)

    def __len__(self) -> int:
        return len(self.labels)

    def _convert(self, pixels: np.ndarray) -> Tensor:
        x = torch.from_numpy(np.array(pixels, dtype=np.float32)).div_(127.5).sub_(1.0)
        x = x.unsqueeze(-3)  # (..., 1, 28, 28)
        size = self.image_size
        if size == NATIVE_SIZE:
            return x
        if self.fit == "pad" and size > NATIVE_SIZE:
            lo = (size - NATIVE_SIZE) // 2
            hi = size - NATIVE_SIZE - lo
            return F.pad(x, (lo, hi, lo, hi), value=-1.0)
        batch = x if x.dim() == 4 else x.unsqueeze(0)
        out = F.interpolate(batch, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        return out.clamp_(-1.0, 1.0) if x.dim() == 4 else out[0].clamp_(-1.0, 1.0)

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        return self._convert(self.images[index]), int(self.labels[index])

    def batch(self, indices: slice | np.ndarray) -> tuple[Tensor, Tensor]:
        """Many items at once: ``(images (B, 1, S, S), labels (B,))`` (faster than a DataLoader)."""
        return self._convert(self.images[indices]), torch.from_numpy(self.labels[indices])

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "name": "fashion-mnist",
            "fit": self.fit,
            "files": [str(self.files.images), str(self.files.labels)],
            "classes": list(CLASSES),
        }
