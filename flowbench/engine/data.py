"""Training batches of code grids: an in-memory, sharded, resumable order.

Code grids are tiny (Fashion-MNIST at 7x7 is 49 indices an image; ImageNet at 32x32 is 2 KiB in
int16), so the whole token set sits in (pinned) memory and a batch is one gather: data loading never
waits on workers or files (``data.num_workers`` is therefore unused by training; it applies where
images are decoded, e.g. while tokenizing).

Order (like ``torch.utils.data.DistributedSampler``, deterministic by seed and epoch): epoch ``e`` is
the permutation of ``randperm(N, generator=seed + e)`` cut to a multiple of ``world * micro``; rank
``r`` takes every ``world``-th index from ``r`` and reads it ``micro`` at a time. The position in the
epoch is the only state, saved in each checkpoint, so a resumed run sees exactly the batches the
uninterrupted run would have.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from flowbench.errors import DataError

__all__ = ["ShardedOrder", "TokenBatches"]


@dataclass
class ShardedOrder:
    """Which samples rank ``rank`` of ``world`` reads, ``micro`` at a time.

    Attributes:
        size: number of samples ``N``.
        world: number of processes.
        rank: this process.
        micro: samples per micro-batch.
        seed: base seed of the permutations.
        epoch: current epoch.
        position: micro-batches already read in this epoch.
    """

    size: int
    world: int
    rank: int
    micro: int
    seed: int
    epoch: int = 0
    position: int = 0

    def __post_init__(self) -> None:
        if self.batches_per_epoch < 1:
            raise DataError(
                f"the token set has {self.size} samples, fewer than one global micro-batch of "
                f"{self.world} x {self.micro}; use a smaller train.batch_size or more data"
            )
        self._perm: Tensor | None = None
        self._perm_epoch = -1

    @property
    def batches_per_epoch(self) -> int:
        return self.size // (self.world * self.micro)

    def _epoch_indices(self) -> Tensor:
        if self._perm_epoch != self.epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            perm = torch.randperm(self.size, generator=g)[: self.batches_per_epoch * self.world * self.micro]
            self._perm = perm[self.rank :: self.world]
            self._perm_epoch = self.epoch
        assert self._perm is not None
        return self._perm

    def next(self) -> Tensor:
        """Indices of the next micro-batch of this rank."""
        if self.position >= self.batches_per_epoch:
            self.epoch += 1
            self.position = 0
        perm = self._epoch_indices()
        out = perm[self.position * self.micro : (self.position + 1) * self.micro]
        self.position += 1
        return out

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "position": self.position, "size": self.size, "micro": self.micro}

    def load_state_dict(self, state: dict[str, int]) -> None:
        if int(state.get("size", self.size)) != self.size or int(state.get("micro", self.micro)) != self.micro:
            raise DataError(
                f"the checkpoint read {state.get('size')} samples in micro-batches of {state.get('micro')}, "
                f"this run has {self.size} in micro-batches of {self.micro}; resume with the same data and batch size"
            )
        self.epoch = int(state["epoch"])
        self.position = int(state["position"])


class TokenBatches:
    """Micro-batches ``(indices (B, h, w) int64, labels (B,) int64)`` on ``device``.

    Args:
        codes: ``(N, h, w)`` integer code grids (any integer dtype; kept as given).
        labels: ``(N,)`` integer labels.
        order: the :class:`ShardedOrder` of this rank.
        device: where batches are sent; on CUDA the arrays are pinned and copies are asynchronous.
    """

    def __init__(self, codes: Tensor, labels: Tensor, order: ShardedOrder, device: torch.device) -> None:
        if codes.ndim != 3 or labels.ndim != 1 or len(codes) != len(labels):
            raise DataError(
                f"token arrays must be (N, h, w) and (N,), got {tuple(codes.shape)} and {tuple(labels.shape)}"
            )
        self.device = device
        self.cuda = device.type == "cuda"
        self.codes = codes.pin_memory() if self.cuda else codes
        self.labels = labels.pin_memory() if self.cuda else labels
        self.order = order

    def __len__(self) -> int:
        return len(self.codes)

    def next(self) -> tuple[Tensor, Tensor]:
        idx = self.order.next()
        codes = self.codes[idx]
        labels = self.labels[idx]
        if self.cuda:
            codes, labels = codes.pin_memory(), labels.pin_memory()
        codes = codes.to(self.device, non_blocking=True).long()
        labels = labels.to(self.device, non_blocking=True).long()
        return codes, labels
