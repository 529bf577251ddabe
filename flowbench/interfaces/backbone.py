"""The backbone interface: the network an objective trains.

What the network reads and writes is the objective's to say, through a :class:`BackboneSpec`:

* continuous input: a ``(B, D, h, w)`` float grid (e.g. a point on the path between noise and
  ``E[c]``); token input: a ``(B, h, w)`` int64 grid over a vocabulary (e.g. ``K`` codes + MASK);
* output: ``(B, out_channels, h, w)``: ``D`` channels (a velocity or an endpoint) or ``K`` logits.

Every backbone is conditioned on time ``t`` (``(B,)`` floats in ``[0, 1]``) and a class label
``y`` (``(B,)`` int64). Label ``num_classes`` is the *null class* used for classifier-free
guidance; while training, backbones replace labels by the null class with probability
``class_dropout_prob`` so that the unconditional model is learned too.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Literal

from torch import Tensor, nn

__all__ = ["BackboneSpec", "Backbone", "InputKind"]

InputKind = Literal["continuous", "tokens"]


@dataclass(frozen=True)
class BackboneSpec:
    """What an objective asks the backbone to read and write.

    Attributes:
        input_kind: ``"continuous"`` (float grid with ``in_channels`` channels) or ``"tokens"``
            (int64 grid over a vocabulary of ``in_channels`` symbols).
        in_channels: ``D`` for continuous input, the vocabulary size for token input.
        out_channels: channels of the output grid (``D`` or ``K``).
        grid_shape: ``(h, w)`` of the index grid.
        num_classes: number of real classes; label ``num_classes`` is the null class.
    """

    input_kind: InputKind
    in_channels: int
    out_channels: int
    grid_shape: tuple[int, int]
    num_classes: int

    def __post_init__(self) -> None:
        if self.input_kind not in ("continuous", "tokens"):
            raise ValueError(f"input_kind must be 'continuous' or 'tokens', not {self.input_kind!r}")
        if self.in_channels < 1 or self.out_channels < 1 or self.num_classes < 1:
            raise ValueError(f"channels and classes must be positive: {self}")

    @property
    def null_class(self) -> int:
        return self.num_classes


class Backbone(nn.Module, ABC):
    """A conditional network ``f(x, t, y) -> (B, out_channels, h, w)``.

    Attributes:
        spec: the :class:`BackboneSpec` it was built for.
    """

    spec: BackboneSpec

    @property
    def null_class(self) -> int:
        """The label that means "no class" (classifier-free guidance)."""
        return self.spec.num_classes

    @abstractmethod
    def forward(self, x: Tensor, t: Tensor, y: Tensor) -> Tensor:
        """Evaluate the network.

        Args:
            x: ``(B, D, h, w)`` floats or ``(B, h, w)`` int64 tokens, per ``spec.input_kind``.
            t: ``(B,)`` times in ``[0, 1]``.
            y: ``(B,)`` labels in ``[0, num_classes]`` (``num_classes`` = null class).

        Returns:
            ``(B, spec.out_channels, h, w)``.
        """
