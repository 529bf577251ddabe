"""The codes a run trains on: a token cache, made once per (dataset, split, tokenizer).

``data.tokens = DIR`` reads a cache written by ``flowbench tokenize`` (its manifest must match the
run's tokenizer); otherwise the dataset is tokenized through
:func:`flowbench.tokens.ensure_token_cache` (rank 0 first, the other ranks then find the cache) and
read back. The whole set is held in memory as ``(N, h, w)`` codes and ``(N,)`` labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from flowbench.config import RunConfig
from flowbench.engine.distributed import DistInfo, barrier, broadcast_object
from flowbench.errors import DataError, FlowbenchError

__all__ = ["TokenSet", "load_token_set", "token_arrays"]


@dataclass
class TokenSet:
    """Code grids and labels of the training split.

    Attributes:
        codes: ``(N, h, w)`` integer tensor.
        labels: ``(N,)`` integer tensor.
        num_classes: number of classes of the dataset.
        path: the cache directory read.
        describe: provenance (the cache's manifest), recorded in ``environment.json``.
    """

    codes: Tensor
    labels: Tensor
    num_classes: int
    path: Path
    describe: dict[str, Any]


def _as_tensor(x: Any) -> Tensor:
    if isinstance(x, Tensor):
        return x
    return torch.from_numpy(np.ascontiguousarray(np.asarray(x)))


def token_arrays(ds: Any) -> tuple[Tensor, Tensor]:
    """``(codes, labels)`` of a :class:`flowbench.tokens.TokenDataset` as whole tensors.

    Reads the shards named in the cache's manifest (the documented on-disk format) in one go;
    falls back to item-by-item reading for other datasets.
    """
    manifest = getattr(ds, "manifest", None)
    path = getattr(ds, "path", None)
    if isinstance(manifest, dict) and "shards" in manifest and path is not None:
        codes = [np.load(Path(path) / sh["indices"], allow_pickle=False) for sh in manifest["shards"]]
        labels = [np.load(Path(path) / sh["labels"], allow_pickle=False) for sh in manifest["shards"]]
        return _as_tensor(np.concatenate(codes)), _as_tensor(np.concatenate(labels)).long()
    items = [ds[i] for i in range(len(ds))]
    codes_t = torch.stack([_as_tensor(c) for c, _ in items])
    labels_t = torch.tensor([int(y) for _, y in items], dtype=torch.int64)
    return codes_t, labels_t


def _num_classes(ds: Any, labels: Tensor) -> int:
    n = getattr(ds, "num_classes", None)
    if n is None:
        manifest = getattr(ds, "manifest", None) or {}
        n = manifest.get("num_classes") if isinstance(manifest, dict) else None
    return int(n) if n is not None else int(labels.max()) + 1


def _manifest(ds: Any) -> dict[str, Any]:
    m = getattr(ds, "manifest", None)
    if isinstance(m, dict):
        return m
    describe = getattr(ds, "describe", None)
    return describe() if callable(describe) else {}


def load_token_set(cfg: RunConfig, tokenizer: Any, dist: DistInfo) -> TokenSet:
    """Make (rank 0) or find the token cache of ``cfg.data`` and load it on every rank."""
    from flowbench.tokens import TokenDataset, ensure_token_cache

    d = cfg.data
    if d.tokens:
        path: Path | None = Path(d.tokens)
        if not path.exists():
            raise DataError(f"token cache {d.tokens!r} does not exist; make one with `flowbench tokenize`")
    else:
        # rank 0 tokenizes; the others wait and then find the finished cache
        error: str | None = None
        path = None
        if dist.is_main:
            try:
                path = ensure_token_cache(
                    d.dataset,
                    d.split,
                    tokenizer,
                    cfg.tokenizer.name,
                    root=d.root,
                    image_size=d.image_size,
                    progress=True,
                )
            except FlowbenchError as exc:
                error = str(exc)
        error, path = broadcast_object((error, path))  # type: ignore[misc]
        if error is not None:
            raise DataError(error)
        barrier()
    assert path is not None
    ds = TokenDataset(path, expect=tokenizer.describe())
    codes, labels = token_arrays(ds)
    if tuple(codes.shape[1:]) != tuple(tokenizer.grid_shape):
        raise DataError(
            f"token cache {str(path)!r} holds {tuple(codes.shape[1:])} grids but the tokenizer makes "
            f"{tuple(tokenizer.grid_shape)}; tokenize again with this tokenizer"
        )
    return TokenSet(codes, labels, _num_classes(ds, labels), Path(path), _manifest(ds))
