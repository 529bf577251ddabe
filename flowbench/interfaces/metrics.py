"""Interfaces for evaluation: feature extractors (FID/KID/PR) and periodic evaluators."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Protocol, runtime_checkable

from torch import Tensor, nn

__all__ = ["FeatureExtractor", "Evaluator"]


class FeatureExtractor(nn.Module, ABC):
    """Maps uint8 images ``(B, 3, H, W)`` to feature vectors ``(B, F)`` (float).

    Attributes:
        name: registry name; recorded in every metric row.
        feature_dim: ``F``.
    """

    name: str
    feature_dim: int

    @abstractmethod
    def features(self, images: Tensor) -> Tensor:
        """Features of uint8 ``(B, 3, H, W)`` images."""

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "feature_dim": self.feature_dim}


@runtime_checkable
class Evaluator(Protocol):
    """Called by the training engine every ``eval.every`` steps (rank 0 only).

    ``evaluator(step, run)`` returns a flat dict of metrics (e.g. ``{"fid": 12.3}``) that the engine
    appends to the run's ``evals.jsonl``; ``run`` gives access to the EMA model, the objective,
    the tokenizer and the run directory.

    An evaluator may name the keys worth a progress line in a ``summary_keys`` attribute (a tuple of
    strings); without it the line shows every numeric value. The whole dict always goes to
    ``evals.jsonl``.
    """

    def __call__(self, step: int, run: Any) -> dict[str, float]: ...
