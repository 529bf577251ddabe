"""Rectified flow with x-prediction and a velocity-space loss (a third-party flowbench objective).

Notation as in flowbench: codes ``c`` with embeddings :math:`x_1 = E[c]`, noise
:math:`x_0 \\sim \\mathcal N(0, I)`, time from noise (``t = 0``) to data (``t = 1``), the straight path

.. math::

    x_t = t\\,x_1 + (1 - t)\\,x_0, \\qquad v = \\frac{d x_t}{dt} = x_1 - x_0 = \\frac{x_1 - x_t}{1 - t}.

The network predicts the clean endpoint (``x0``-prediction in the diffusion convention, where
``x0`` is data; flowbench calls it :math:`x_1`): :math:`\\hat x_1 = f(x_t, t, y)`, and the velocity
follows as :math:`\\hat v = (\\hat x_1 - x_t) / (1 - t)`. The two weightings of the endpoint error
(Li & He 2025, "Back to Basics: Let Denoising Generative Models Denoise", use the first):

* ``"velocity"``: the loss of the velocity the sampler integrates,
  :math:`\\lVert \\hat v - v \\rVert^2 = \\lVert \\hat x_1 - x_1 \\rVert^2 / (1 - t)^2`, with
  :math:`1 - t` clipped below at ``min_gap`` (as they do) so that the weight stays finite;
* ``"endpoint"``: the plain endpoint error :math:`\\lVert \\hat x_1 - x_1 \\rVert^2` (weight 1).

flowbench's :class:`~flowbench.interfaces.GaussianPathObjective` supplies the path (times, noise and
:math:`x_t`, as a :class:`~flowbench.paths.PathSample`), the initial noise, guidance and the final
snap to the nearest code: this module states only the loss and the velocity.

Sampling integrates :math:`\\hat v` with an ODE solver (``euler`` by default), classifier-free
guidance acts on :math:`\\hat x_1` (so on :math:`\\hat v`, which is affine in it), temperature has no
effect, and the state at ``t = 1`` snaps to the nearest codebook row.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from flowbench.errors import ConfigError
from flowbench.interfaces import GaussianPathObjective, LossOutput, Prediction

__all__ = ["X0Rectified", "WEIGHTINGS"]

WEIGHTINGS = ("velocity", "endpoint")


class X0Rectified(GaussianPathObjective):
    """Rectified flow, x-prediction, velocity-space loss (see the module docstring).

    Args:
        codebook: ``(K, D)`` code embeddings.
        weighting: ``"velocity"`` (weight :math:`1 / \\max(1 - t, \\text{min\\_gap})^2`) or ``"endpoint"`` (1).
        min_gap: lower clip of :math:`1 - t` in the velocity weighting.
        time_sampling: ``"uniform"`` or ``"logit-normal"`` training times.
        logit_normal_mean, logit_normal_std: parameters of the logit-normal times.
        t_min: smallest training time.
    """

    default_sampler = "euler"
    guidance_on = "endpoint"
    temperature_on = None
    categorical = False

    def __init__(
        self,
        codebook: Tensor,
        *,
        weighting: str = "velocity",
        min_gap: float = 0.05,
        time_sampling: str = "logit-normal",
        logit_normal_mean: float = 0.0,
        logit_normal_std: float = 1.0,
        t_min: float = 1e-3,
    ) -> None:
        # flowbench's shared path and time distributions (validated there, with the same kind of message).
        super().__init__(codebook, time_sampling, logit_normal_mean, logit_normal_std, t_min)
        if weighting not in WEIGHTINGS:
            raise ConfigError(f"weighting must be one of {', '.join(map(repr, WEIGHTINGS))}, got {weighting!r}")
        if not 0.0 < min_gap <= 1.0:
            raise ConfigError(f"min_gap must be in (0, 1], got {min_gap!r}")
        self.weighting, self.min_gap = weighting, float(min_gap)

    def config(self) -> dict[str, Any]:
        """Every option: ``X0Rectified(codebook, **obj.config())`` rebuilds this objective."""
        return {"weighting": self.weighting, "min_gap": self.min_gap, **self.path.times.config()}

    def loss(
        self, model: nn.Module, indices: Tensor, labels: Tensor, generator: torch.Generator | None = None
    ) -> LossOutput:
        path = self.sample_path(indices, generator)  # x_1 = E[c], then t and x_0 from the engine's generator
        err = (model(path.x_t, path.t, labels).float() - path.x_1).pow(2).mean(dim=(1, 2, 3))  # (B,) endpoint error
        if self.weighting == "velocity":
            weight = (1 - path.t).clamp_min(self.min_gap).pow(-2)
        else:
            weight = torch.ones_like(path.t)
        loss = (weight * err).mean()
        return LossOutput(loss, {"endpoint_mse": err.mean().detach(), "weighted": loss.detach()})

    def prediction(
        self, out: Tensor, x: Tensor, t: Tensor, *, temperature: float = 1.0, need_entropy: bool = False
    ) -> Prediction:
        """:math:`\\hat v = (\\hat x_1 - x) / (1 - t)` from the guided endpoint ``out``; temperature is unused."""
        gap = (1 - t.float()).clamp_min(1e-6)[:, None, None, None]
        return Prediction(velocity=(out.float() - x) / gap)
