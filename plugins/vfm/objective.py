"""Purrception: Variational Flow Matching (VFM) on vector-quantized latents.

Matişan et al., "Purrception: Variational Flow Matching for Vector-Quantized Image Generation"
(arXiv 2510.01478), after Eijkelboom et al., "Variational Flow Matching" (arXiv 2406.04843).

Codebook ``E`` (``K x D``); a grid of codes ``c`` has latent ``x1 = E[c]`` (``D x h x w``).

Training. ``t ~ p(t)`` on ``[1e-3, 1]`` (uniform by default), ``x0 ~ N(0, I)`` in embedding space,
``x_t = t x1 + (1 - t) x0`` (the core's :class:`~flowbench.paths.GaussianLinearPath`). The backbone reads
``x_t`` and writes logits ``l`` (``K x h x w``), a categorical posterior ``q(c | x_t)`` per position. The loss is

.. math:: \\mathcal{L} = \\frac{1}{hw}\\sum_n \\mathrm{CE}(l_n, c_n)
          + \\lambda_z \\frac{1}{hw}\\sum_n \\big(\\log\\textstyle\\sum_k e^{l_{n,k}}\\big)^2,

averaged over the batch, with ``lambda_z = 1e-5`` (logged as ``ce`` and ``z_loss``, the weighted
term, so ``loss = ce + z_loss``). The velocity is never regressed.

Sampling. Guidance acts on the raw logits, ``l = l_u + s (l_c - l_u)``, then temperature:
``pi = softmax(l / tau)``, ``mu = pi E`` (posterior mean), and

.. math:: v(x, t) = \\frac{\\mu(x, t) - x}{1 - t + 10^{-6}}.

Because the conditional velocity ``(x1 - x_t) / (1 - t)`` is linear in ``x1``, the true marginal
velocity is ``(E[x1 | x_t] - x_t) / (1 - t)``: an exact posterior gives the exact flow. At ``t = 1``
the state is snapped to the nearest codebook row (``final="nearest"``) or replaced by the argmax
of the last posterior the sampler computed (``final="argmax"``: ``Prediction.codes``, the argmax of
the guided logits of the last prediction the sampler hands to :meth:`VFM.finalize`, i.e. at
``t = 1 - h`` for Euler and Heun, ``1 - h/2`` for midpoint).
The same codebook (e.g. L2-normalised for LlamaGen) serves as targets and for ``mu``.

:meth:`VFM.predict` returns the velocity, and with ``need_entropy=True`` also the entropy of ``pi``
and ``pi`` itself (``Prediction.probs``, ``(B, h, w, K)``); without it, ``pi`` is never materialised
(the posterior mean is computed chunk by chunk, :func:`flowbench.categorical.posterior_mean`).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from flowbench.categorical import cross_entropy_terms, posterior_mean, posterior_probs
from flowbench.errors import ConfigError
from flowbench.interfaces import GaussianPathObjective, LossOutput, Prediction

__all__ = ["VFM", "FINALS"]

FINALS: tuple[str, ...] = ("nearest", "argmax")


class VFM(GaussianPathObjective):
    """Purrception (variational flow matching): cross-entropy on codes, velocity from the posterior mean.

    Args:
        codebook: ``(K, D)`` code embeddings.
        z_loss_weight: ``lambda_z`` of the z-loss (``>= 0``; 0 disables it).
        time_sampling: ``"uniform"`` or ``"logit-normal"`` (see :mod:`flowbench.time_sampling`).
        logit_normal_mean, logit_normal_std: parameters of ``"logit-normal"``.
        t_min: smallest training time.
        final: ``"nearest"`` (snap ``x`` at ``t = 1`` to the nearest code) or ``"argmax"``.
    """

    guidance_on: ClassVar[str] = "logits"
    temperature_on: ClassVar[str | None] = "logits"
    categorical: ClassVar[bool] = True
    eps: ClassVar[float] = 1e-6

    def __init__(
        self,
        codebook: Tensor,
        *,
        z_loss_weight: float = 1e-5,
        time_sampling: str = "uniform",
        logit_normal_mean: float = 0.0,
        logit_normal_std: float = 1.0,
        t_min: float = 1e-3,
        final: str = "nearest",
    ) -> None:
        super().__init__(codebook, time_sampling, logit_normal_mean, logit_normal_std, t_min)
        if not isinstance(z_loss_weight, (int, float)) or z_loss_weight < 0:
            raise ConfigError(f"z_loss_weight must be a number >= 0, got {z_loss_weight!r}")
        if final not in FINALS:
            raise ConfigError(f"final must be one of {', '.join(repr(f) for f in FINALS)}, got {final!r}")
        self.z_loss_weight = float(z_loss_weight)
        self.final = final

    @property
    def out_channels(self) -> int:
        """``K`` logits per position."""
        return self.codebook_size

    def loss(
        self, model: nn.Module, indices: Tensor, labels: Tensor, generator: torch.Generator | None = None
    ) -> LossOutput:
        path = self.sample_path(indices, generator)
        logits = model(path.x_t, path.t, labels)
        ce, lse = cross_entropy_terms(logits, indices)
        ce = ce.mean()
        z_loss = self.z_loss_weight * lse.pow(2).mean()
        return LossOutput(ce + z_loss, {"ce": ce.detach(), "z_loss": z_loss.detach()})

    def prediction(
        self, out: Tensor, x: Tensor, t: Tensor, *, temperature: float = 1.0, need_entropy: bool = False
    ) -> Prediction:
        """``pi = softmax(l / tau)`` of the guided logits ``l = out``, ``v = (pi E - x) / (1 - t + eps)``."""
        mu, entropy = posterior_mean(out, self.codebook, temperature, need_entropy)
        velocity = self.path.endpoint_to_velocity(mu, x.float(), t.float(), self.eps)
        # The full (B, h, w, K) posterior only for snapshots (need_entropy): at K = 16384 it is the
        # largest tensor of a sampling step, and the velocity never needs it.
        probs = posterior_probs(out, temperature) if need_entropy else None
        codes = out.argmax(dim=1) if self.final == "argmax" else None
        return Prediction(velocity=velocity, probs=probs, entropy=entropy, codes=codes)

    def finalize(self, x: Tensor, last: Prediction | None = None) -> Tensor:
        """Code indices at ``t = 1``: the nearest code to ``x``, or (``final="argmax"``) the argmax of the
        last posterior (``last.codes``); without a last prediction, the nearest code."""
        if self.final == "argmax" and last is not None and last.codes is not None:
            return last.codes
        return super().finalize(x)

    def config(self) -> dict[str, Any]:
        return {"z_loss_weight": self.z_loss_weight, "final": self.final, **self.times.config()}
