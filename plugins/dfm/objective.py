"""Masked discrete flow matching (DFM; Gat et al., "Discrete Flow Matching", 2024) on VQ codes.

Vocabulary ``K + 1``: the extra index ``K`` is MASK. The mixture path from all-MASK (``t = 0``) to
the data (``t = 1``) keeps each position's code with probability ``kappa(t)`` and masks it otherwise:

.. math:: p_t(x_t^n \\mid c^n) = \\kappa(t)\\, \\delta_{c^n}(x_t^n)
          + (1 - \\kappa(t))\\, \\delta_{\\mathrm{MASK}}(x_t^n),

with ``kappa(t) = t`` (``kappa="linear"``) or ``t^n`` (``kappa="poly"``, ``power=n``). The backbone
reads the token grid (an embedding table of size ``K + 1``) and writes ``K`` logits.

Loss. Cross-entropy over the ``K`` codes plus the same z-loss as Purrception
(``lambda_z mean(logsumexp(l)^2)`` over all positions), logged as ``ce`` and ``z_loss``. Which
positions the CE averages over is the option ``loss_positions``:

* ``"all"`` (default): every position, masked or not: the loss as the Purrception paper states it
  ("CE over K") and as its authors' code trains its DFM baseline (``F.cross_entropy`` on the whole
  grid), and the plain cross-entropy of Meta's ``flow_matching`` examples. Unmasked positions teach
  the identity (their posterior is a point mass), which the sampler never reads;
* ``"masked"``: only masked positions (MaskGIT/MDLM style; mean over masked positions of the batch).

Neither is the generalized-KL ELBO (``MixturePathGeneralizedKL``), which reweights masked positions by
``kappa'(t) / (1 - kappa(t))``.

Sampling (``dfm-euler``). From all-MASK, one step of size ``h`` at time ``t`` reveals a masked
position with the exact probability ``(kappa(t + h) - kappa(t)) / (1 - kappa(t))``
(:meth:`DFM.unmask_probability`; for linear kappa this is the Euler rate ``h kappa'(t) / (1 - kappa(t))``),
drawing its code from the posterior ``softmax(l / tau)`` (guidance on the raw logits first,
``l = l_u + s (l_c - l_u)``); at the last step (``t + h = 1``) every remaining MASK is filled.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from flowbench.categorical import cross_entropy_terms, entropy_of_probs, posterior_probs
from flowbench.errors import ConfigError
from flowbench.interfaces import BackboneSpec, LossOutput, MaskedObjective, Prediction
from flowbench.time_sampling import TimeSampler

__all__ = ["DFM", "KAPPAS", "LOSS_POSITIONS"]

KAPPAS: tuple[str, ...] = ("linear", "poly")
LOSS_POSITIONS: tuple[str, ...] = ("all", "masked")


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(repr(a) for a in allowed)}, got {value!r}")
    return value


class DFM(MaskedObjective):
    """Masked discrete flow matching: mask-or-keep path, cross-entropy over codes, jump sampler.

    Args:
        codebook: ``(K, D)`` code embeddings (only ``K`` matters: tokens are indices).
        kappa: ``"linear"`` (``kappa(t) = t``) or ``"poly"`` (``t^power``).
        power: exponent of ``"poly"`` (default 2); not allowed with ``"linear"``.
        z_loss_weight: ``lambda_z`` of the z-loss (``>= 0``).
        loss_positions: ``"all"`` or ``"masked"`` (see the module docstring).
        time_sampling: ``"uniform"`` or ``"logit-normal"`` (see :mod:`flowbench.time_sampling`).
        logit_normal_mean, logit_normal_std: parameters of ``"logit-normal"``.
        t_min: smallest training time.
    """

    default_sampler: ClassVar[str] = "dfm-euler"
    guidance_on: ClassVar[str] = "logits"
    temperature_on: ClassVar[str | None] = "logits"
    categorical: ClassVar[bool] = True

    def __init__(
        self,
        codebook: Tensor,
        *,
        kappa: str = "linear",
        power: float | None = None,
        z_loss_weight: float = 1e-5,
        loss_positions: str = "all",
        time_sampling: str = "uniform",
        logit_normal_mean: float = 0.0,
        logit_normal_std: float = 1.0,
        t_min: float = 1e-3,
    ) -> None:
        super().__init__(codebook)
        self.kappa_name = _choice("kappa", kappa, KAPPAS)
        if kappa == "linear":
            if power not in (None, 1, 1.0):
                raise ConfigError(f"power applies to kappa='poly' only (kappa='linear' is t), got power={power!r}")
            self.power = 1.0
        else:
            power = 2.0 if power is None else power
            if isinstance(power, bool) or not isinstance(power, (int, float)) or power <= 0:
                raise ConfigError(f"power must be a number > 0, got {power!r}")
            self.power = float(power)
        if not isinstance(z_loss_weight, (int, float)) or z_loss_weight < 0:
            raise ConfigError(f"z_loss_weight must be a number >= 0, got {z_loss_weight!r}")
        self.z_loss_weight = float(z_loss_weight)
        self.loss_positions = _choice("loss_positions", loss_positions, LOSS_POSITIONS)
        self.times = TimeSampler(time_sampling, float(logit_normal_mean), float(logit_normal_std), float(t_min))

    # -- schedule -------------------------------------------------------------------------------
    def kappa(self, t: Tensor | float) -> Tensor | float:
        """``kappa(t) = t^power`` (``power = 1`` for ``"linear"``)."""
        return t**self.power

    def kappa_derivative(self, t: float) -> float:
        """``kappa'(t) = power * t^(power - 1)``."""
        return self.power * t ** (self.power - 1.0) if t > 0 or self.power >= 1 else float("inf")

    def unmask_probability(self, t: float, h: float) -> float:
        """``(kappa(t + h) - kappa(t)) / (1 - kappa(t))``: a position still masked at ``t`` is revealed
        by ``t + h``.

        This is the exact conditional probability under the path: a position is unmasked by time
        ``s`` with probability ``kappa(s)``, so ``P(unmasked by t + h | masked at t) =
        (kappa(t + h) - kappa(t)) / (1 - kappa(t))``. For ``kappa(t) = t`` it equals the Euler rate
        ``h kappa'(t) / (1 - kappa(t)) = h / (1 - t)``. The Euler form is wrong for ``power < 1``:
        ``kappa'(0)`` is infinite, so it revealed every position in the first step (one draw from
        the product of the marginals, not the joint). A step that reaches ``t + h >= 1`` reveals
        everything (``kappa(1) = 1``): probability 1.
        """
        t = float(t)
        remaining = 1.0 - float(self.kappa(t))
        if remaining <= 0.0 or t + h >= 1.0 - 1e-9:
            return 1.0
        gained = float(self.kappa(t + float(h))) - float(self.kappa(t))
        return min(1.0, max(0.0, gained / remaining))

    # -- training -------------------------------------------------------------------------------
    def backbone_spec(self, grid_shape: tuple[int, int], num_classes: int) -> BackboneSpec:
        return BackboneSpec("tokens", self.codebook_size + 1, self.codebook_size, tuple(grid_shape), num_classes)

    def loss(
        self, model: nn.Module, indices: Tensor, labels: Tensor, generator: torch.Generator | None = None
    ) -> LossOutput:
        t = self.times.sample(indices.shape[0], indices.device, generator)
        keep = torch.rand(indices.shape, device=indices.device, generator=generator) < self.kappa(t).view(-1, 1, 1)
        xt = torch.where(keep, indices, torch.full_like(indices, self.mask_index))
        logits = model(xt, t, labels)
        ce, lse = cross_entropy_terms(logits, indices)
        if self.loss_positions == "all":
            ce = ce.mean()
        else:
            masked = (~keep).float()
            ce = (ce * masked).sum() / masked.sum().clamp(min=1.0)
        z_loss = self.z_loss_weight * lse.pow(2).mean()
        return LossOutput(ce + z_loss, {"ce": ce.detach(), "z_loss": z_loss.detach()})

    # -- sampling -------------------------------------------------------------------------------
    def initial_state(
        self, batch: int, grid_shape: tuple[int, int], generator: torch.Generator | None = None
    ) -> Tensor:
        return torch.full((batch, *grid_shape), self.mask_index, dtype=torch.long, device=self.codebook.device)

    def prediction(
        self, out: Tensor, x: Tensor, t: Tensor, *, temperature: float = 1.0, need_entropy: bool = False
    ) -> Prediction:
        """``probs = softmax(l / tau)`` of the guided logits ``l = out`` (and their entropy when asked)."""
        probs = posterior_probs(out, temperature)
        return Prediction(probs=probs, entropy=entropy_of_probs(probs) if need_entropy else None)

    def finalize(self, x: Tensor, last: Prediction | None = None) -> Tensor:
        """The tokens themselves (the sampler has revealed every position)."""
        if bool((x == self.mask_index).any()):
            raise RuntimeError("finalize() got a grid that still has MASK positions; the sampler must fill them")
        return x.long()

    def config(self) -> dict[str, Any]:
        opts: dict[str, Any] = {"kappa": self.kappa_name}
        if self.kappa_name == "poly":
            opts["power"] = self.power
        opts.update(z_loss_weight=self.z_loss_weight, loss_positions=self.loss_positions)
        return {**opts, **self.times.config()}
