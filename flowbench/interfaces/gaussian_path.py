"""Objectives on the Gaussian linear path: the shared parts, so an objective states only its loss
and its velocity.

:class:`GaussianPathObjective` is an :class:`~flowbench.interfaces.Objective` over continuous states
on :class:`~flowbench.paths.GaussianLinearPath` (:math:`x_t = t x_1 + (1 - t) x_0`,
:math:`x_0 \\sim \\mathcal N(0, I)`, :math:`x_1 = E[c]`). It supplies:

* the time options (``time_sampling``, ``logit_normal_mean``, ``logit_normal_std``, ``t_min``; see
  :mod:`flowbench.time_sampling`) and their ``config()``;
* :meth:`~GaussianPathObjective.sample_path`: ``E[c]``, ``t`` and ``x_0`` drawn from the engine's
  generator, and ``x_t``, as a :class:`~flowbench.paths.PathSample`;
* the backbone spec (reads ``D`` channels, writes :attr:`~GaussianPathObjective.out_channels`);
* the initial state (noise), and the final map to the nearest codebook row;
* (from :class:`~flowbench.interfaces.Objective`) ``predict``: classifier-free guidance on the raw
  network output (:func:`~flowbench.guidance.guided_output`), then :meth:`~GaussianPathObjective.prediction`.

A subclass writes :meth:`~flowbench.interfaces.Objective.loss` (with :meth:`sample_path`) and
:meth:`prediction` (the velocity, from the guided output), and overrides the rest only where it
differs (e.g. ``out_channels``, ``finalize``, ``config`` for options of its own).
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, ClassVar

import torch
from torch import Tensor

from flowbench.categorical import nearest_code
from flowbench.interfaces.backbone import BackboneSpec
from flowbench.interfaces.objective import Objective, Prediction, StateKind
from flowbench.paths import GaussianLinearPath, PathSample, embed
from flowbench.time_sampling import TimeSampler

__all__ = ["GaussianPathObjective"]


class GaussianPathObjective(Objective):
    """An objective over continuous states on the Gaussian linear path (see the module docstring).

    Args (the time options also by position, in this order, as a subclass passes them on):
        codebook: ``(K, D)`` code embeddings.
        time_sampling: ``"uniform"`` or ``"logit-normal"`` training times.
        logit_normal_mean, logit_normal_std: parameters of ``"logit-normal"``.
        t_min: smallest training time.

    Attributes:
        path: the :class:`~flowbench.paths.GaussianLinearPath` (``path.times`` draws training times).
    """

    state_kind: ClassVar[StateKind] = "continuous"
    default_sampler: ClassVar[str] = "euler"

    def __init__(
        self,
        codebook: Tensor,
        time_sampling: str = "uniform",
        logit_normal_mean: float = 0.0,
        logit_normal_std: float = 1.0,
        t_min: float = 1e-3,
    ) -> None:
        super().__init__(codebook)
        times = TimeSampler(time_sampling, float(logit_normal_mean), float(logit_normal_std), float(t_min))
        self.path = GaussianLinearPath(times)

    @property
    def times(self) -> TimeSampler:
        """The training distribution of ``t`` (``self.path.times``)."""
        return self.path.times

    @property
    def out_channels(self) -> int:
        """Channels the backbone writes: ``D`` (a velocity or an endpoint); ``K`` for logits."""
        return self.embed_dim

    def backbone_spec(self, grid_shape: tuple[int, int], num_classes: int) -> BackboneSpec:
        return BackboneSpec("continuous", self.embed_dim, self.out_channels, tuple(grid_shape), num_classes)

    def embed(self, indices: Tensor) -> Tensor:
        """``E[c]``: ``(B, h, w)`` indices -> ``(B, D, h, w)``."""
        return embed(self.codebook, indices)

    def sample_path(self, indices: Tensor, generator: torch.Generator | None = None) -> PathSample:
        """The path at ``x_1 = E[indices]``: times, then noise, drawn from ``generator``."""
        return self.path.sample(self.embed(indices), generator)

    def initial_state(
        self, batch: int, grid_shape: tuple[int, int], generator: torch.Generator | None = None
    ) -> Tensor:
        return self.path.noise(batch, self.embed_dim, grid_shape, self.codebook.device, generator)

    @abstractmethod
    def prediction(
        self, out: Tensor, x: Tensor, t: Tensor, *, temperature: float = 1.0, need_entropy: bool = False
    ) -> Prediction:
        """What the guided network output ``out`` at state ``x`` and times ``t`` ``(B,)`` tells the
        sampler: at least ``Prediction(velocity=...)`` ``(B, D, h, w)``; categorical objectives apply
        ``temperature`` and fill ``probs``/``entropy`` when ``need_entropy``."""

    def finalize(self, x: Tensor, last: Prediction | None = None) -> Tensor:
        """The nearest codebook row at each position, ``(B, h, w)`` int64."""
        return nearest_code(x, self.codebook)

    def config(self) -> dict[str, Any]:
        return self.path.times.config()
