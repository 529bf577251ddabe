"""Analytic oracles for sampler contracts: an exact posterior instead of a trained network.

Sampler tests need a model and an objective whose dynamics are known in closed form. Take data
whose code at each position is drawn independently from a prior :math:`\\pi_y(k)` (per label ``y``),
the linear path :math:`x_t = t E_c + (1 - t) x_0`, :math:`x_0 \\sim \\mathcal N(0, I)`. Then
:math:`x_t \\mid c \\sim \\mathcal N(t E_c, (1 - t)^2 I)` and the posterior over codes is exact:

.. math::

    \\log q(k \\mid x_t) = \\log \\pi_y(k) - \\frac{\\lVert x_t - t E_k \\rVert^2}{2 (1 - t)^2} + \\text{const}.

:class:`OracleModel` returns these logits (and counts its calls); :class:`OracleObjective` turns them
into the velocity :math:`v = (\\mathbb E_q[E_k] - x_t) / (1 - t)`, which carries every sample to a
code. For masked states, :class:`OracleMaskedObjective` reads the prior alone (the posterior of a
masked position under independent positions) with the linear schedule :math:`\\kappa(t) = t`.

A point-mass prior makes the answer known: any consistent sampler must return exactly that grid.
The oracles are not trainable objectives: their :meth:`loss` raises.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from flowbench.guidance import guided_output
from flowbench.interfaces import Backbone, BackboneSpec, LossOutput, MaskedObjective, Objective, Prediction

__all__ = ["OracleModel", "OracleObjective", "OracleMaskedObjective", "PredictCall", "point_mass_prior"]

_MIN_GAP = 1e-4


def point_mass_prior(target: Tensor, codebook_size: int, num_classes: int, strength: float = 1e4) -> Tensor:
    """Prior logits ``(num_classes + 1, K, h, w)`` that put all mass on ``target`` ``(h, w)`` for every label."""
    logits = torch.full((num_classes + 1, codebook_size, *target.shape), -strength)
    logits.scatter_(1, target[None, None].expand(num_classes + 1, 1, *target.shape), 0.0)
    return logits


class OracleModel(Backbone):
    """The exact posterior logits ``(B, K, h, w)`` of the module docstring, as a "backbone".

    Args:
        spec: continuous input (``D`` channels) or token input (``K + 1`` symbols); ``K`` outputs.
        codebook: ``(K, D)``.
        prior_logits: ``(num_classes + 1, K, h, w)``; row ``num_classes`` is the unconditional prior.

    Attributes:
        calls: number of forward calls so far.
    """

    def __init__(self, spec: BackboneSpec, codebook: Tensor, prior_logits: Tensor) -> None:
        super().__init__()
        self.spec = spec
        self.register_buffer("codebook", codebook.float())
        self.register_buffer("prior_logits", prior_logits.float())
        self.calls = 0

    def forward(self, x: Tensor, t: Tensor, y: Tensor) -> Tensor:
        self.calls += 1
        logits = self.prior_logits[y]
        if self.spec.input_kind == "tokens":
            return logits
        gap = (1.0 - t.float()).clamp_min(_MIN_GAP)[:, None, None, None]
        means = t.float()[:, None, None] * self.codebook[None]  # (B, K, D)
        sq = ((x[:, None] - means[:, :, :, None, None]) ** 2).sum(dim=2)  # (B, K, h, w)
        return logits - sq / (2 * gap**2)


@dataclass
class PredictCall:
    """The keyword arguments of one :meth:`Objective.predict` call, as an oracle saw them."""

    t: list[float]
    guidance: float
    temperature: float
    need_entropy: bool


@dataclass
class _Recorder:
    calls: list[PredictCall] = field(default_factory=list)
    last_prediction: Prediction | None = None  # the last one predict returned
    finalized_with: list[Prediction | None] = field(default_factory=list)  # what finalize got, per call


class _Recording:
    """What both oracles share: their call records, and the posterior of :class:`OracleModel` logits."""

    recorder: _Recorder
    guidance_on = "logits"
    temperature_on = "logits"
    categorical = True

    @property
    def predict_calls(self) -> list[PredictCall]:
        return self.recorder.calls

    def loss(self, model, indices, labels, generator=None) -> LossOutput:
        raise NotImplementedError("oracle objectives are analytic and are not trained")

    def _posterior(self, model, x, t, labels, guidance, temperature, need_entropy) -> tuple[Tensor, Tensor | None]:
        self.recorder.calls.append(PredictCall([float(v) for v in t.flatten()], guidance, temperature, need_entropy))
        logits = guided_output(model, x, t, labels, guidance) / temperature
        log_probs = torch.log_softmax(logits.permute(0, 2, 3, 1), dim=-1)  # (B, h, w, K)
        probs = log_probs.exp()
        entropy = -(probs * log_probs).sum(-1) if need_entropy else None
        return probs, entropy

    def _returned(self, prediction: Prediction) -> Prediction:
        self.recorder.last_prediction = prediction
        return prediction

    def _finalizing(self, last: Prediction | None) -> None:
        self.recorder.finalized_with.append(last)


class OracleObjective(_Recording, Objective):
    """Continuous-state oracle: posterior-mean velocity from :class:`OracleModel` logits.

    Guidance applies to the logits, temperature divides them. ``predict_calls`` records every call;
    ``recorder.finalized_with`` what each :meth:`finalize` call was given as the last prediction.
    """

    state_kind = "continuous"

    def __init__(self, codebook: Tensor) -> None:
        super().__init__(codebook)
        self.recorder = _Recorder()

    def backbone_spec(self, grid_shape: tuple[int, int], num_classes: int) -> BackboneSpec:
        return BackboneSpec("continuous", self.embed_dim, self.codebook_size, tuple(grid_shape), num_classes)

    def initial_state(self, batch: int, grid_shape: tuple[int, int], generator: torch.Generator | None = None):
        return torch.randn(batch, self.embed_dim, *grid_shape, device=self.codebook.device, generator=generator)

    def predict(self, model, x, t, labels, *, guidance=1.0, temperature=1.0, need_entropy=False) -> Prediction:
        probs, entropy = self._posterior(model, x, t, labels, guidance, temperature, need_entropy)
        mean = (probs @ self.codebook).permute(0, 3, 1, 2)
        velocity = (mean - x) / (1.0 - t.float()).clamp_min(_MIN_GAP)[:, None, None, None]
        return self._returned(Prediction(velocity=velocity, probs=probs, entropy=entropy))

    def finalize(self, x: Tensor, last: Prediction | None = None) -> Tensor:
        self._finalizing(last)
        flat = x.permute(0, 2, 3, 1).reshape(-1, self.embed_dim)
        return torch.cdist(flat, self.codebook).argmin(dim=1).reshape(x.shape[0], *x.shape[2:])


class OracleMaskedObjective(_Recording, MaskedObjective):
    """Masked-state oracle: the prior of :class:`OracleModel` as the posterior, ``kappa(t) = t``."""

    def __init__(self, codebook: Tensor) -> None:
        super().__init__(codebook)
        self.recorder = _Recorder()

    def backbone_spec(self, grid_shape: tuple[int, int], num_classes: int) -> BackboneSpec:
        return BackboneSpec("tokens", self.codebook_size + 1, self.codebook_size, tuple(grid_shape), num_classes)

    def initial_state(self, batch: int, grid_shape: tuple[int, int], generator: torch.Generator | None = None):
        return torch.full((batch, *grid_shape), self.mask_index, dtype=torch.long, device=self.codebook.device)

    def predict(self, model, x, t, labels, *, guidance=1.0, temperature=1.0, need_entropy=False) -> Prediction:
        probs, entropy = self._posterior(model, x, t, labels, guidance, temperature, need_entropy)
        return self._returned(Prediction(probs=probs, entropy=entropy))

    def unmask_probability(self, t: float, h: float) -> float:
        return 1.0 if t + h >= 1.0 else min(1.0, h / (1.0 - t))

    def finalize(self, x: Tensor, last: Prediction | None = None) -> Tensor:
        self._finalizing(last)
        return x.long()
