"""Class accuracy of class-conditional samples, judged by a dataset classifier.

For samples ``x_i`` generated with label ``y_i`` and classifier logits ``f(x_i)``:

    accuracy = (1/N) sum_i 1[argmax_c f(x_i)_c = y_i],
    per_class[c] = mean of 1[argmax f(x_i) = c] over the i with y_i = c.

``balanced_accuracy`` is the mean of ``per_class`` over the classes present. The classifier's own
accuracy on the reference split is the ceiling to read these against.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor

from flowbench.errors import ConfigError

__all__ = ["ClassAccuracy", "class_accuracy"]


@dataclass
class ClassAccuracy:
    accuracy: float
    balanced_accuracy: float
    per_class: list[float | None]
    num: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def class_accuracy(logits: Tensor, labels: Tensor, num_classes: int | None = None) -> ClassAccuracy:
    """Accuracy of ``argmax(logits)`` against ``labels`` (see module doc)."""
    if logits.dim() != 2 or labels.dim() != 1 or len(logits) != len(labels):
        raise ConfigError(
            f"class accuracy needs logits (N, C) and labels (N,), got {tuple(logits.shape)}, {tuple(labels.shape)}"
        )
    if len(labels) == 0:
        raise ConfigError("class accuracy of zero samples is undefined")
    num_classes = num_classes or logits.shape[1]
    labels = labels.long().cpu()
    if int(labels.min()) < 0 or int(labels.max()) >= num_classes:
        raise ConfigError(f"labels must be in 0..{num_classes - 1}, got {int(labels.min())}..{int(labels.max())}")
    correct = (logits.detach().cpu().argmax(dim=1) == labels).float()
    per_class: list[float | None] = []
    for c in range(num_classes):
        mask = labels == c
        per_class.append(float(correct[mask].mean()) if mask.any() else None)
    present = [a for a in per_class if a is not None]
    return ClassAccuracy(
        accuracy=float(correct.mean()),
        balanced_accuracy=float(torch.tensor(present).mean()),
        per_class=per_class,
        num=len(labels),
    )
