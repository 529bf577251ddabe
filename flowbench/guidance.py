"""Classifier-free guidance with one batched forward pass.

For a model output :math:`f(x, t, y)`, guidance with scale :math:`s` combines the conditional and
unconditional outputs as :math:`f_u + s (f_c - f_u)`, with :math:`f_u = f(x, t, \\varnothing)`.
Both are computed in a single forward pass over the doubled batch. ``s = 1`` is the conditional
output alone (one pass of the plain batch). Which output is guided (logits, velocity) is the
objective's choice: it calls :func:`guided_output` on the raw network output it wants guided.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["guided_output", "null_labels"]


def null_labels(model: nn.Module, labels: Tensor) -> Tensor:
    """Labels of the same shape filled with the model's null class (``model.null_class``: a
    :class:`~flowbench.interfaces.Backbone`'s, as samplers get it)."""
    null = getattr(model, "null_class", None)
    if null is None:
        raise TypeError(f"classifier-free guidance needs the model's null_class; {type(model).__name__} has none")
    return torch.full_like(labels, int(null))


def guided_output(model: nn.Module, x: Tensor, t: Tensor, labels: Tensor, scale: float) -> Tensor:
    """``f_u + scale * (f_c - f_u)``, computed in one batched call of ``model``."""
    if scale == 1.0:
        return model(x, t, labels)
    out = model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([labels, null_labels(model, labels)]))
    cond, uncond = out.chunk(2)
    return uncond + scale * (cond - uncond)
