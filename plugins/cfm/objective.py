"""Conditional flow matching baselines on VQ latents, as the Purrception paper defines them.

Same source and path as Purrception: ``x0 ~ N(0, I)`` in embedding space, ``x1 = E[c]``,
``x_t = t x1 + (1 - t) x0``, ``t`` on ``[1e-3, 1]`` (the core's
:class:`~flowbench.paths.GaussianLinearPath`); the backbone reads ``x_t`` and writes ``D`` channels ``f``.

* ``cfm`` (velocity): loss ``MSE(f, x1 - x0)``; ``v = f``.
* ``cfm-endpoint``: loss ``MSE(f, x1)``; ``v = (f - x) / (1 - t + 1e-6)``.

The MSE is the mean over all elements (batch, channels, positions), logged as ``mse``.
Classifier-free guidance is applied to the output: ``f = f_u + s (f_c - f_u)``. For the endpoint
model ``v`` is affine in ``f`` with the same ``x`` and ``t`` in both passes, so guiding ``f`` is
exactly guiding the velocity. Temperature has no meaning here and is ignored
(``temperature_on = None``). At ``t = 1`` the state is snapped to the nearest codebook row.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import ClassVar

import torch
from torch import Tensor, nn

from flowbench.interfaces import GaussianPathObjective, LossOutput, Prediction
from flowbench.paths import PathSample

__all__ = ["GaussianPathRegression", "CFM", "CFMEndpoint"]


class GaussianPathRegression(GaussianPathObjective):
    """Regression of a ``D``-channel target on the Gaussian linear path; subclasses pick the target.

    Args:
        codebook: ``(K, D)`` code embeddings.
        time_sampling: ``"uniform"`` or ``"logit-normal"`` (see :mod:`flowbench.time_sampling`).
        logit_normal_mean, logit_normal_std: parameters of ``"logit-normal"``.
        t_min: smallest training time.
    """

    guidance_on: ClassVar[str] = "velocity"
    temperature_on: ClassVar[str | None] = None
    categorical: ClassVar[bool] = False
    eps: ClassVar[float] = 1e-6

    @abstractmethod
    def target(self, path: PathSample) -> Tensor:
        """The regression target for a path sample."""

    @abstractmethod
    def velocity(self, out: Tensor, x: Tensor, t: Tensor) -> Tensor:
        """The velocity given the (guided) output ``out`` at state ``x`` and times ``t`` ``(B,)``."""

    def loss(
        self, model: nn.Module, indices: Tensor, labels: Tensor, generator: torch.Generator | None = None
    ) -> LossOutput:
        path = self.sample_path(indices, generator)
        out = model(path.x_t, path.t, labels)
        mse = (out.float() - self.target(path)).pow(2).mean()
        return LossOutput(mse, {"mse": mse.detach()})

    def prediction(
        self, out: Tensor, x: Tensor, t: Tensor, *, temperature: float = 1.0, need_entropy: bool = False
    ) -> Prediction:
        return Prediction(velocity=self.velocity(out.float(), x.float(), t.float()))


class CFM(GaussianPathRegression):
    """Conditional flow matching, velocity regression: ``MSE(f, x1 - x0)``, ``v = f``."""

    def target(self, path: PathSample) -> Tensor:
        return path.dx_t

    def velocity(self, out: Tensor, x: Tensor, t: Tensor) -> Tensor:
        return out


class CFMEndpoint(GaussianPathRegression):
    """Conditional flow matching, endpoint regression: ``MSE(f, x1)``, ``v = (f - x) / (1 - t + eps)``."""

    def target(self, path: PathSample) -> Tensor:
        return path.x_1

    def velocity(self, out: Tensor, x: Tensor, t: Tensor) -> Tensor:
        return self.path.endpoint_to_velocity(out, x, t, self.eps)
