"""The objective interface: what is learned, and how its output drives a sampler.

An objective owns everything that differs between generative objectives:

* the state it moves (``state_kind``: ``"continuous"`` points in embedding space, or ``"masked"``
  token grids), and so what the backbone reads and writes (:meth:`Objective.backbone_spec`);
* the training distribution of times and noisy states, and the loss (:meth:`Objective.loss`);
* the initial state at ``t = 0`` and the final map to code indices at ``t = 1`` (which may read the
  sampler's last :class:`Prediction`: no state is kept between calls);
* how the backbone's output at ``(x, t)`` becomes what its sampler needs
  (:meth:`Objective.predict`): a velocity :math:`v(x, t)` for ODE samplers, or a posterior over
  codes for jump samplers, and where classifier-free guidance and temperature apply.

Time runs from noise/mask (``t = 0``) to data (``t = 1``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor, nn

from flowbench.guidance import guided_output
from flowbench.interfaces.backbone import Backbone, BackboneSpec

__all__ = ["StateKind", "LossOutput", "Prediction", "Objective", "MaskedObjective"]

StateKind = Literal["continuous", "masked"]


@dataclass
class LossOutput:
    """A training loss and its logged parts.

    Attributes:
        loss: scalar tensor to back-propagate.
        parts: named scalar tensors (detached) for logging, e.g. ``{"ce": ..., "z_loss": ...}``.
    """

    loss: Tensor
    parts: dict[str, Tensor] = field(default_factory=dict)


@dataclass
class Prediction:
    """What an objective tells its sampler at one state and time.

    Attributes:
        velocity: ``(B, D, h, w)`` for continuous states.
        probs: ``(B, h, w, K)`` posterior over codes (masked states; optional otherwise).
        entropy: ``(B, h, w)`` entropy of the posterior in nats, when asked for and defined.
        codes: ``(B, h, w)`` int64 code indices this prediction implies (e.g. the argmax of a
            posterior), for objectives whose :meth:`Objective.finalize` reads the last prediction.
    """

    velocity: Tensor | None = None
    probs: Tensor | None = None
    entropy: Tensor | None = None
    codes: Tensor | None = None


class Objective(nn.Module, ABC):
    """A generative objective over a fixed codebook.

    Subclasses are constructed as ``Objective(codebook, **options)``; unknown options must raise
    :class:`flowbench.errors.ConfigError` naming the allowed ones. The codebook is kept as a
    buffer, so ``objective.to(device)`` moves it.

    Class attributes:
        state_kind: ``"continuous"`` or ``"masked"``; a sampler integrates one kind.
        default_sampler: registry name of the sampler used when none is given.
        guidance_on: where classifier-free guidance is applied (``"logits"``, ``"velocity"``...),
            for reports and docs.
        temperature_on: where temperature applies, or ``None`` if it has no effect.
        categorical: whether the model outputs a posterior over codes (enables entropy maps).
    """

    state_kind: ClassVar[StateKind]
    default_sampler: ClassVar[str] = "euler"
    guidance_on: ClassVar[str] = "output"
    temperature_on: ClassVar[str | None] = None
    categorical: ClassVar[bool] = False

    codebook: Tensor

    def __init__(self, codebook: Tensor) -> None:
        super().__init__()
        if codebook.ndim != 2:
            raise ValueError(f"codebook must be (K, D), got shape {tuple(codebook.shape)}")
        self.register_buffer("codebook", codebook.detach().float().clone(), persistent=False)

    @property
    def codebook_size(self) -> int:
        return int(self.codebook.shape[0])

    @property
    def embed_dim(self) -> int:
        return int(self.codebook.shape[1])

    @abstractmethod
    def backbone_spec(self, grid_shape: tuple[int, int], num_classes: int) -> BackboneSpec:
        """The input/output the backbone must have for this objective."""

    @abstractmethod
    def loss(
        self, model: nn.Module, indices: Tensor, labels: Tensor, generator: torch.Generator | None = None
    ) -> LossOutput:
        """Draw times and noisy states for a batch of code grids and return the loss.

        Args:
            model: the backbone (possibly wrapped by an engine) called as ``model(x, t, y)``.
            indices: ``(B, h, w)`` int64 code indices.
            labels: ``(B,)`` int64 class labels.
            generator: optional RNG for the times and noise (reproducibility).
        """

    @abstractmethod
    def initial_state(
        self,
        batch: int,
        grid_shape: tuple[int, int],
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """The state at ``t = 0`` (noise or all-mask), on the codebook's device."""

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
        """Turn the model's output at state ``x`` and times ``t`` ``(B,)`` into a
        :class:`Prediction` for the sampler, applying guidance and temperature where this
        objective says they apply.

        By default, classifier-free guidance combines the raw network outputs
        (:func:`~flowbench.guidance.guided_output`, one batched forward pass) and :meth:`prediction`
        reads the guided output; an objective that guides something else overrides this method."""
        out = guided_output(model, x, t, labels, guidance)
        return self.prediction(out, x, t, temperature=temperature, need_entropy=need_entropy)

    def prediction(
        self, out: Tensor, x: Tensor, t: Tensor, *, temperature: float = 1.0, need_entropy: bool = False
    ) -> Prediction:
        """What the guided network output ``out`` at state ``x`` and times ``t`` ``(B,)`` tells the
        sampler (used by the default :meth:`predict`): the velocity for continuous states, the
        posterior ``probs`` for masked ones; categorical objectives apply ``temperature`` and fill
        ``entropy`` when ``need_entropy``."""
        raise NotImplementedError(f"{type(self).__name__} implements neither prediction() nor predict()")

    @abstractmethod
    def finalize(self, x: Tensor, last: Prediction | None = None) -> Tensor:
        """Map the state at ``t = 1`` to code indices ``(B, h, w)`` (int64).

        ``last`` is the last :class:`Prediction` the sampler computed for this batch (for ODE
        samplers, at the last time they evaluated: ``1 - h`` for Euler and Heun, ``1 - h/2`` for
        midpoint), or ``None``. Samplers always pass it; objectives that need only ``x`` ignore it.
        """

    def config(self) -> dict[str, Any]:
        """Options that rebuild this objective: ``type(self)(codebook, **self.config())``."""
        return {}


class MaskedObjective(Objective):
    """An objective whose state is a token grid where index ``mask_index`` means MASK.

    Jump samplers need, beyond :meth:`Objective.predict` (which fills ``Prediction.probs``), the
    probability that a masked position is revealed during a step from ``t`` to ``t + h``.
    """

    state_kind: ClassVar[StateKind] = "masked"

    @property
    def mask_index(self) -> int:
        return self.codebook_size

    @abstractmethod
    def unmask_probability(self, t: float, h: float) -> float:
        """Probability that a position still masked at ``t`` is revealed by ``t + h``."""
