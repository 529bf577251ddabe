"""The dataset interface: labelled images for tokenizers and reference statistics."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

from torch import Tensor
from torch.utils.data import Dataset

__all__ = ["ImageDataset"]


class ImageDataset(Dataset):
    """Labelled images.

    Constructed as ``factory(split, root=None, image_size=None, **options)``.
    ``dataset[i]`` is ``(image, label)``: a float ``(C, H, W)`` tensor in ``[-1, 1]`` and an int.

    Attributes:
        num_classes: number of classes.
        image_size: side of the square images.
        channels: 1 or 3.
        split: the split it holds (``"train"``, ``"test"``, ...).
    """

    num_classes: int
    image_size: int
    channels: int
    split: str

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def __getitem__(self, index: int) -> tuple[Tensor, int]: ...

    def describe(self) -> dict[str, Any]:
        """Provenance recorded with results."""
        return {
            "class": type(self).__name__,
            "split": self.split,
            "size": len(self),
            "num_classes": self.num_classes,
            "image_size": self.image_size,
            "channels": self.channels,
        }
