"""A saved :class:`~flowbench.metrics.classifier.SmallCNN` as a torch-fidelity feature extractor.

:class:`ClassifierFidelityModule` subclasses ``torch_fidelity.FeatureExtractorBase``: it takes uint8
``(B, 3, H, W)`` images (torch-fidelity's convention; grey images are replicated to three channels,
so a one-channel classifier reads channel 0) and provides the layers ``features`` (penultimate,
used for FID/KID/PR) and ``logits`` (classifier score, class accuracy). A plugin subclasses it to set
:attr:`default_weights` and registers it with
:func:`~flowbench.metrics.extractor.register_fidelity_extractor`; :class:`ClassifierExtractor` is the
matching flowbench feature extractor.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor
from torch_fidelity.feature_extractor_base import FeatureExtractorBase

from flowbench.metrics.classifier import load_classifier
from flowbench.metrics.extractor import FidelityExtractor

__all__ = ["ClassifierFidelityModule", "ClassifierExtractor"]


class ClassifierFidelityModule(FeatureExtractorBase):
    """torch-fidelity extractor over a saved classifier (``feature_extractor_weights_path`` or
    :attr:`default_weights`)."""

    default_weights: ClassVar[Path | None] = None

    def __init__(
        self, name: str, features_list: list[str], feature_extractor_weights_path: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(name, features_list)
        path = feature_extractor_weights_path or self.default_weights
        if path is None:
            raise ValueError(f"feature extractor {name!r} needs feature_extractor_weights_path")
        loaded = load_classifier(path)
        self.net = loaded.model
        self.config = loaded.model.config
        self.requires_grad_(False)
        self.eval()

    @staticmethod
    def get_provided_features_list() -> tuple[str, ...]:
        return ("features", "logits")

    @staticmethod
    def get_default_feature_layer_for_metric(metric: str) -> str:
        return {"isc": "logits", "fid": "features", "kid": "features", "prc": "features"}[metric]

    @staticmethod
    def can_be_compiled() -> bool:
        return False

    @staticmethod
    def get_dummy_input_for_compile() -> Tensor:
        return torch.zeros(1, 3, 28, 28, dtype=torch.uint8)

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        if not (torch.is_tensor(x) and x.dtype == torch.uint8 and x.dim() == 4 and x.shape[1] == 3):
            raise ValueError(f"expected uint8 images (B, 3, H, W), got {getattr(x, 'dtype', type(x))} {tuple(x.shape)}")
        size = self.config.image_size
        if tuple(x.shape[-2:]) != (size, size):
            raise ValueError(f"{self.name} reads {size}x{size} images, got {x.shape[-2]}x{x.shape[-1]}")
        if self.config.in_channels == 1:
            x = x[:, :1]
        features, logits = self.net(x)
        out = {"features": features, "logits": logits}
        return tuple(out[name] for name in self.features_list)


class ClassifierExtractor(FidelityExtractor):
    """A flowbench feature extractor over a :class:`ClassifierFidelityModule` registered in torch-fidelity
    as :attr:`fidelity_name`; the score it reports is the classifier score (not an Inception Score)."""

    feature_layer = "features"
    score_layer = "logits"
    score_name = "classifier_score"
    logits_layer = "logits"

    def __init__(self, weights_path: str | Path) -> None:
        super().__init__(weights_path)
        loaded = load_classifier(weights_path)
        config = loaded.model.config
        self.info = loaded.info
        self.feature_dim = config.feature_dim
        self.num_classes = config.num_classes
        self.input_size = config.image_size

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "test_accuracy": self.info.get("test_accuracy")}
