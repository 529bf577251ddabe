"""Conditional flow matching baselines on VQ latents, as the Purrception paper defines them.

Same source and path as Purrception: ``x0 ~ N(0, I)`` in embedding space, ``x1 = E[c]``,
``x_t = t x1 + (1 - t) x0``, ``t`` on ``[1e-3, 1]``; the backbone reads ``x_t`` and writes ``D``
channels ``f``.

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
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from flowbench.categorical import nearest_code
from flowbench.guidance import guided_output
from flowbench.interfaces import Backbone, BackboneSpec, LossOutput, Objective, Prediction
from flowbench.time_sampling import TimeSampler

__all__ = ["GaussianPathRegression", "CFM", "CFMEndpoint"]


class GaussianPathRegression(Objective):
    """Regression of a ``D``-channel target on the Gaussian linear path; subclasses pick the target.

    Args:
        codebook: ``(K, D)`` code embeddings.
        time_sampling: ``"uniform"`` or ``"logit-normal"`` (see :mod:`flowbench.time_sampling`).
        logit_normal_mean, logit_normal_std: parameters of ``"logit-normal"``.
        t_min: smallest training time.
    """

    state_kind: ClassVar[str] = "continuous"
    default_sampler: ClassVar[str] = "euler"
    guidance_on: ClassVar[str] = "velocity"
    temperature_on: ClassVar[str | None] = None
    categorical: ClassVar[bool] = False
    eps: ClassVar[float] = 1e-6

    def __init__(
        self,
        codebook: Tensor,
        *,
        time_sampling: str = "uniform",
        logit_normal_mean: float = 0.0,
        logit_normal_std: float = 1.0,
        t_min: float = 1e-3,
    ) -> None:
        super().__init__(codebook)
        self.times = TimeSampler(time_sampling, float(logit_normal_mean), float(logit_normal_std), float(t_min))

    @abstractmethod
    def target(self, x0: Tensor, x1: Tensor) -> Tensor:
        """The regression target for a path sample."""

    @abstractmethod
    def velocity(self, out: Tensor, x: Tensor, t: Tensor) -> Tensor:
        """The velocity given the (guided) output ``out`` at state ``x`` and times ``t`` ``(B,)``."""

    def backbone_spec(self, grid_shape: tuple[int, int], num_classes: int) -> BackboneSpec:
        return BackboneSpec("continuous", self.embed_dim, self.embed_dim, tuple(grid_shape), num_classes)

    def embed(self, indices: Tensor) -> Tensor:
        """``E[c]``: ``(B, h, w)`` indices -> ``(B, D, h, w)``."""
        return self.codebook[indices].permute(0, 3, 1, 2)

    def loss(
        self,
        model: Backbone | nn.Module,
        indices: Tensor,
        labels: Tensor,
        generator: torch.Generator | None = None,
    ) -> LossOutput:
        x1 = self.embed(indices)
        t = self.times.sample(x1.shape[0], x1.device, generator)
        x0 = torch.randn(x1.shape, device=x1.device, generator=generator)
        tt = t.view(-1, 1, 1, 1)
        xt = tt * x1 + (1 - tt) * x0
        out = model(xt, t, labels)
        mse = (out.float() - self.target(x0, x1)).pow(2).mean()
        return LossOutput(mse, {"mse": mse.detach()})

    def initial_state(
        self, batch: int, grid_shape: tuple[int, int], generator: torch.Generator | None = None
    ) -> Tensor:
        return torch.randn(batch, self.embed_dim, *grid_shape, device=self.codebook.device, generator=generator)

    def predict(
        self,
        model: Backbone | nn.Module,
        x: Tensor,
        t: Tensor,
        labels: Tensor,
        *,
        guidance: float = 1.0,
        temperature: float = 1.0,
        need_entropy: bool = False,
    ) -> Prediction:
        out = guided_output(model, x, t, labels, guidance).float()
        return Prediction(velocity=self.velocity(out, x.float(), t.float()))

    def finalize(self, x: Tensor) -> Tensor:
        return nearest_code(x, self.codebook)

    def config(self) -> dict[str, Any]:
        return self.times.config()


class CFM(GaussianPathRegression):
    """Conditional flow matching, velocity regression: ``MSE(f, x1 - x0)``, ``v = f``."""

    def target(self, x0: Tensor, x1: Tensor) -> Tensor:
        return x1 - x0

    def velocity(self, out: Tensor, x: Tensor, t: Tensor) -> Tensor:
        return out


class CFMEndpoint(GaussianPathRegression):
    """Conditional flow matching, endpoint regression: ``MSE(f, x1)``, ``v = (f - x) / (1 - t + eps)``."""

    def target(self, x0: Tensor, x1: Tensor) -> Tensor:
        return x1

    def velocity(self, out: Tensor, x: Tensor, t: Tensor) -> Tensor:
        return (out - x) / (1 - t + self.eps).view(-1, 1, 1, 1)
