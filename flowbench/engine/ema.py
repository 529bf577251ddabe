"""Exponential moving average of the weights, used for sampling and evaluation.

After each optimizer step :math:`n` (counting from 0) the shadow weights move towards the live ones:

.. math:: \\bar\\theta \\leftarrow \\beta_n \\bar\\theta + (1 - \\beta_n)\\,\\theta,
   \\qquad \\beta_n = \\min\\Big(\\beta, \\frac{1 + n}{10 + n}\\Big) \\text{ with warm-up, else } \\beta.

The paper uses :math:`\\beta = 0.9999` (an averaging horizon of ~10k steps); the warm-up makes the
average useful in short runs, where the plain decay would leave it near the random initialisation.
The shadow is kept in fp32 whatever the training precision.
"""

from __future__ import annotations

import copy
from contextlib import nullcontext
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["EMA"]


class EMA:
    """An fp32 eval-mode copy of a network whose parameters track the live ones (buffers are copied).

    Create it before ``deepspeed.initialize`` (the copy is taken from the unpartitioned fp32 module).

    Args:
        module: the live network.
        decay: :math:`\\beta`.
        warmup: use :math:`\\min(\\beta, (1+n)/(10+n))`.
        zero3: gather partitioned parameters before reading them (a collective: every rank calls
            :meth:`update`; only ranks with ``keep=True`` hold the copy).
        keep: whether this rank holds the copy (rank 0 samples, evaluates and saves it).

    Attributes:
        model: the averaged network (``None`` where ``keep`` is False).
        num_updates: updates so far (:math:`n`).
    """

    def __init__(
        self, module: nn.Module, decay: float, warmup: bool = True, zero3: bool = False, keep: bool = True
    ) -> None:
        self.decay = float(decay)
        self.warmup = bool(warmup)
        self.zero3 = zero3
        self.keep = keep
        self.num_updates = 0
        self.model: nn.Module | None = None
        self._live_of: nn.Module | None = None
        self._live: list[Tensor] = []
        if keep:
            self.model = copy.deepcopy(module).float().eval().requires_grad_(False)
            self._names = [n for n, _ in self.model.named_parameters()]
            self._shadow = [p for _, p in self.model.named_parameters()]
            self._buffers = dict(self.model.named_buffers())

    def _gathered(self, module: nn.Module) -> Any:
        if not self.zero3:
            return nullcontext()
        import deepspeed

        return deepspeed.zero.GatheredParameters(list(module.parameters()), modifier_rank=None)

    def current_decay(self) -> float:
        """:math:`\\beta_n` for the next update."""
        n = self.num_updates
        return min(self.decay, (1 + n) / (10 + n)) if self.warmup else self.decay

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        """One EMA step towards ``module``'s current parameters."""
        beta = self.current_decay()
        self.num_updates += 1
        with self._gathered(module):
            if not self.keep:
                return
            if self._live_of is not module:  # the live module's parameter objects, in our order
                params = dict(module.named_parameters())
                self._live = [params[n] for n in self._names]
                self._live_of = module
            live = [p.detach() for p in self._live]
            if live and live[0].dtype != torch.float32:
                live = [p.float() for p in live]
            # shadow += (1 - beta) * (live - shadow), fused over all tensors
            torch._foreach_lerp_(self._shadow, live, 1.0 - beta)
            if self._buffers:
                live_buffers = dict(module.named_buffers())
                for n, b in self._buffers.items():
                    if n in live_buffers:
                        b.copy_(live_buffers[n])

    def state_dict(self) -> dict[str, Tensor]:
        """The averaged network's state dict (fp32)."""
        assert self.model is not None, "this rank holds no EMA copy"
        return self.model.state_dict()

    def load_state_dict(self, state: dict[str, Tensor], num_updates: int) -> None:
        self.num_updates = int(num_updates)
        if self.model is not None:
            self.model.load_state_dict(state)
