"""An ImageNet-style folder of RGB images: ``root/[split/]<class>/<image>``.

Labels are the sorted class-folder names' positions. Each image is resized so that its shorter
side is ``image_size`` (bicubic, antialiased) and centre-cropped to ``image_size x image_size``,
then mapped to ``[-1, 1]``. ``split`` selects ``root/<split>`` when that folder exists.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from flowbench.errors import DataError
from flowbench.interfaces import ImageDataset

__all__ = ["ImageFolder", "EXTENSIONS", "resize_center_crop"]

EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff", ".ppm"})


def resize_center_crop(image: Image.Image, size: int) -> Image.Image:
    """Resize the shorter side to ``size`` and crop the centre square."""
    w, h = image.size
    scale = size / min(w, h)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    image = image.resize((nw, nh), Image.Resampling.BICUBIC, reducing_gap=None)
    left, top = (nw - size) // 2, (nh - size) // 2
    return image.crop((left, top, left + size, top + size))


class ImageFolder(ImageDataset):
    """Images from ``root/[split/]<class>/<file>`` as float ``(3, S, S)`` tensors in ``[-1, 1]``.

    Args:
        split: a sub-folder of ``root`` to use if it exists (``train``, ``val``, ...).
        root: the tree's root (required).
        image_size: side ``S`` after resize and centre crop (default 256).
    """

    channels = 3

    def __init__(self, split: str = "train", root: str | Path | None = None, image_size: int | None = None) -> None:
        if root is None:
            raise DataError("image-folder needs a root directory: pass --root DIR (DIR/<class>/<image>)")
        base = Path(root).expanduser()
        if not base.is_dir():
            raise DataError(f"image-folder root {base} is not a directory")
        self.root = base / split if (base / split).is_dir() else base
        self.split = split
        self.image_size = 256 if image_size is None else int(image_size)
        if self.image_size < 1:
            raise DataError(f"image_size must be positive, got {image_size}")
        self.classes = sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))
        if not self.classes:
            raise DataError(f"image-folder: no class folders in {self.root} (expected {self.root}/<class>/<image>)")
        self.num_classes = len(self.classes)
        self.samples: list[tuple[Path, int]] = []
        for label, name in enumerate(self.classes):
            files = sorted(p for p in (self.root / name).rglob("*") if p.is_file() and p.suffix.lower() in EXTENSIONS)
            self.samples += [(p, label) for p in files]
        if not self.samples:
            raise DataError(
                f"image-folder: no images ({', '.join(sorted(EXTENSIONS))}) under the class folders of {self.root}"
            )

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        path, label = self.samples[index]
        try:
            with Image.open(path) as img:
                img = img.convert("RGB")
                img = resize_center_crop(img, self.image_size)
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise DataError(f"image-folder: cannot decode {path} as an image ({exc})") from None
        array = np.asarray(img, dtype=np.float32)
        x = torch.from_numpy(array).permute(2, 0, 1).div(127.5).sub(1.0)
        return x.contiguous(), label

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "name": "image-folder", "root": str(self.root), "classes": self.classes}
