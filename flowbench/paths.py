"""The Gaussian linear path between noise and code embeddings, and what one sample of it holds.

Codes ``c`` ``(B, h, w)`` embed as :math:`x_1 = E[c]` ``(B, D, h, w)`` (:func:`embed`); the source is
standard normal noise :math:`x_0 \\sim \\mathcal N(0, I)`; time runs from noise (``t = 0``) to data
(``t = 1``). The path (conditional optimal transport, or rectified flow) is

.. math::

    x_t = t\\, x_1 + (1 - t)\\, x_0, \\qquad
    \\dot x_t = \\frac{d x_t}{dt} = x_1 - x_0 = \\frac{x_1 - x_t}{1 - t},

so :math:`x_t \\mid x_1 \\sim \\mathcal N(t x_1, (1 - t)^2 I)`. Because the conditional velocity is linear
in :math:`x_1`, the marginal velocity an ODE sampler integrates is
:math:`v(x, t) = (\\mathbb E[x_1 \\mid x_t = x] - x) / (1 - t)`: a model of the endpoint (an endpoint
regression, or the posterior mean of a categorical model) gives it through
:meth:`GaussianLinearPath.endpoint_to_velocity`.

This is flow_matching's ``AffineProbPath`` with the ``CondOTScheduler`` (:math:`\\alpha_t = t`,
:math:`\\sigma_t = 1 - t`), written for flowbench: :meth:`GaussianLinearPath.sample_at` is their
``sample(x_0, x_1, t) -> PathSample``, and :meth:`GaussianLinearPath.sample` also draws ``t`` (from a
:class:`~flowbench.time_sampling.TimeSampler`) and ``x_0``, in that order, from one generator.
:class:`~flowbench.interfaces.GaussianPathObjective` builds an objective on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from flowbench.time_sampling import TimeSampler

__all__ = ["PathSample", "GaussianLinearPath", "embed"]


def embed(codebook: Tensor, indices: Tensor) -> Tensor:
    """:math:`E[c]`: ``(B, h, w)`` int64 indices into the ``(K, D)`` codebook -> ``(B, D, h, w)``."""
    return codebook[indices].permute(0, 3, 1, 2)


def _per_sample(t: Tensor) -> Tensor:
    """``(B,)`` times as ``(B, 1, 1, 1)``, to scale ``(B, D, h, w)`` states."""
    return t.view(-1, 1, 1, 1)


@dataclass
class PathSample:
    """One draw of the path for a batch.

    Attributes:
        x_0: ``(B, D, h, w)`` the noise.
        x_1: ``(B, D, h, w)`` the data (code embeddings).
        t: ``(B,)`` the times.
        x_t: ``(B, D, h, w)`` the state :math:`t x_1 + (1 - t) x_0`.
    """

    x_0: Tensor
    x_1: Tensor
    t: Tensor
    x_t: Tensor

    @property
    def dx_t(self) -> Tensor:
        """The conditional velocity :math:`\\dot x_t = x_1 - x_0` ``(B, D, h, w)`` (computed on use)."""
        return self.x_1 - self.x_0


@dataclass(frozen=True)
class GaussianLinearPath:
    """:math:`x_t = t x_1 + (1 - t) x_0`, :math:`x_0 \\sim \\mathcal N(0, I)`, training times from ``times``.

    Attributes:
        times: the training distribution of ``t`` (its ``config()`` holds the path's options).
    """

    times: TimeSampler = field(default_factory=TimeSampler)

    def sample_at(self, x_0: Tensor, x_1: Tensor, t: Tensor) -> PathSample:
        """The path at given noise ``x_0``, data ``x_1`` and times ``t`` ``(B,)`` (no randomness)."""
        tt = _per_sample(t)
        return PathSample(x_0=x_0, x_1=x_1, t=t, x_t=tt * x_1 + (1 - tt) * x_0)

    def sample(self, x_1: Tensor, generator: torch.Generator | None = None) -> PathSample:
        """Draw ``t ~ times`` ``(B,)``, then ``x_0 ~ N(0, I)``, on ``x_1``'s device from ``generator``."""
        t = self.times.sample(x_1.shape[0], x_1.device, generator)
        x_0 = torch.randn(x_1.shape, device=x_1.device, generator=generator)
        return self.sample_at(x_0, x_1, t)

    def noise(
        self,
        batch: int,
        channels: int,
        grid_shape: tuple[int, int],
        device: torch.device | str | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """The state at ``t = 0``: ``(batch, channels, h, w)`` float32 standard normal noise."""
        return torch.randn(batch, channels, *grid_shape, device=device, generator=generator)

    @staticmethod
    def endpoint_to_velocity(x_1: Tensor, x_t: Tensor, t: Tensor, eps: float = 1e-6) -> Tensor:
        """:math:`v = (\\hat x_1 - x_t) / (1 - t + \\epsilon)` for a predicted endpoint :math:`\\hat x_1`;
        ``eps`` keeps it finite at ``t = 1`` (samplers never evaluate there)."""
        return (x_1 - x_t) / _per_sample(1 - t + eps)
