"""A small CNN classifier for a dataset's images: features for FID/KID/PR and class accuracy.

Inception-v3 features are the standard for natural images, but they are slow on a CPU (about 3.5
images/s here) and mean little for 28x28 grey images. A classifier trained on the dataset itself
gives domain features (Heusel et al. use Inception only because it exists; FID on MNIST-like data is
customarily computed with a dataset classifier) and also scores whether class-conditional samples
show the class they were asked for.

Architecture (``SmallCNN``): three 3x3 conv + BatchNorm + ReLU stages (widths ``w1, w2, w2``; 2x2
max-pool after the first two), flatten, ``Linear -> ReLU`` to ``feature_dim`` (the *features*), dropout,
``Linear`` to ``num_classes`` (the *logits*). Input: uint8 ``(B, C, H, W)``, scaled to ``[-1, 1]`` as
the datasets scale it. Weights are a safetensors file with a JSON file next to it holding
:class:`ClassifierConfig` and how the weights were made.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from flowbench.errors import CheckpointError
from flowbench.io import atomic_path, write_json

__all__ = ["ClassifierConfig", "SmallCNN", "save_classifier", "load_classifier", "classifier_paths"]


@dataclass
class ClassifierConfig:
    """Shape of a :class:`SmallCNN`."""

    in_channels: int = 1
    image_size: int = 28
    num_classes: int = 10
    widths: tuple[int, int] = (16, 32)
    feature_dim: int = 128
    dropout: float = 0.3

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClassifierConfig:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        if "widths" in known:
            known["widths"] = tuple(known["widths"])
        return cls(**known)


def _stage(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class SmallCNN(nn.Module):
    """``forward(uint8 images) -> (features (B, feature_dim), logits (B, num_classes))``."""

    def __init__(self, config: ClassifierConfig) -> None:
        super().__init__()
        if config.image_size % 4:
            raise ValueError(f"image_size must be a multiple of 4, got {config.image_size}")
        self.config = config
        w1, w2 = config.widths
        self.body = nn.Sequential(
            *_stage(config.in_channels, w1),
            nn.MaxPool2d(2),
            *_stage(w1, w2),
            nn.MaxPool2d(2),
            *_stage(w2, w2),
            nn.Flatten(),
        )
        side = config.image_size // 4
        self.embed = nn.Sequential(nn.Linear(w2 * side * side, config.feature_dim), nn.ReLU(inplace=True))
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.feature_dim, config.num_classes)

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        x = images.float() / 127.5 - 1.0 if images.dtype == torch.uint8 else images.float()
        features = self.embed(self.body(x))
        return features, self.head(self.dropout(features))


def classifier_paths(path: str | Path) -> tuple[Path, Path]:
    """``(weights.safetensors, config.json)`` for a path given with or without an extension."""
    p = Path(path)
    stem = p.with_suffix("") if p.suffix in (".safetensors", ".json") else p
    return stem.with_suffix(".safetensors"), stem.with_suffix(".json")


def save_classifier(path: str | Path, model: SmallCNN, info: dict[str, Any] | None = None) -> tuple[Path, Path]:
    """Write ``<path>.safetensors`` and ``<path>.json`` (config + ``info``), each atomically."""
    weights, meta = classifier_paths(path)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(weights) as tmp:
        save_file(state, str(tmp))
    from flowbench.weights import file_sha256

    write_json(meta, {"config": asdict(model.config), "weights_sha256": file_sha256(weights), **(info or {})})
    return weights, meta


@dataclass
class LoadedClassifier:
    model: SmallCNN
    info: dict[str, Any] = field(default_factory=dict)


def load_classifier(path: str | Path, device: str | torch.device = "cpu") -> LoadedClassifier:
    """Load a classifier saved by :func:`save_classifier` (eval mode, no gradients)."""
    weights, meta = classifier_paths(path)
    if not weights.is_file():
        raise CheckpointError(f"classifier weights {weights} not found (train them with `flowbench classifier train`)")
    if not meta.is_file():
        raise CheckpointError(f"classifier config {meta} not found next to {weights.name}")
    try:
        info = json.loads(meta.read_text())
        config = ClassifierConfig.from_dict(info["config"])
        model = SmallCNN(config)
        model.load_state_dict(load_file(str(weights)))
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise CheckpointError(f"cannot load classifier {weights}: {str(exc).splitlines()[0]}") from None
    model.requires_grad_(False).eval().to(device)
    return LoadedClassifier(model=model, info=info)
