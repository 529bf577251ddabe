"""Token caches: a dataset split encoded once by a tokenizer, memory-mapped at training time.

A cache is a directory::

    manifest.json           written last: its presence means the cache is complete
    build.json              what is being built (a partial cache resumes only if this matches)
    indices-00000.npy ...   (n, h, w) int16 (K <= 32767) or int32 code indices, one file per shard
    labels-00000.npy ...    (n,) int64 class labels

Every shard is written atomically, so an interrupted build keeps its finished shards and a rerun
encodes only what is missing. :func:`ensure_token_cache` keys caches by dataset, split, image
size and tokenizer (name, configuration, checkpoint SHA-256) under ``<cache_root>/tokens/`` and
holds a file lock while building, so concurrent callers build it once.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset

from flowbench.errors import DataError
from flowbench.interfaces import ImageDataset, Tokenizer
from flowbench.io import atomic_path, write_json

__all__ = [
    "FORMAT_VERSION",
    "TokenDataset",
    "build_token_cache",
    "ensure_token_cache",
    "cache_key",
    "default_cache_root",
    "index_dtype",
]

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
BUILD = "build.json"


def default_cache_root() -> Path:
    """``$FLOWBENCH_CACHE`` or ``~/.cache/flowbench``."""
    env = os.environ.get("FLOWBENCH_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "flowbench"


def index_dtype(codebook_size: int) -> np.dtype:
    """int16 when every index fits (``K <= 32767``), else int32."""
    return np.dtype(np.int16) if codebook_size <= np.iinfo(np.int16).max else np.dtype(np.int32)


def _describe(tokenizer: Tokenizer) -> dict[str, Any]:
    return json.loads(json.dumps(tokenizer.describe(), default=str))


def _build_spec(
    dataset: ImageDataset, dataset_name: str, split: str, tokenizer: Tokenizer, tokenizer_name: str, shard_size: int
) -> dict[str, Any]:
    desc = _describe(tokenizer)
    return {
        "format": FORMAT_VERSION,
        "dataset": dataset_name,
        "split": split,
        "count": len(dataset),
        "image_size": dataset.image_size,
        "tokenizer": tokenizer_name,
        "checkpoint_sha256": desc.get("checkpoint_sha256"),
        "codebook_size": tokenizer.codebook_size,
        "grid_shape": list(tokenizer.grid_shape),
        "shard_size": shard_size,
    }


def _batches(
    dataset: ImageDataset, start: int, stop: int, batch_size: int, num_workers: int
) -> Iterator[tuple[int, tuple[torch.Tensor, Any]]]:
    """``(first index, (images, labels))`` for items ``start..stop-1`` in order.

    Datasets with a ``batch(slice)`` method (in-memory ones) are sliced directly; others are read
    through a :class:`~torch.utils.data.DataLoader` with ``num_workers`` processes.
    """
    batch_fn = getattr(dataset, "batch", None)
    if callable(batch_fn):
        for b0 in range(start, stop, batch_size):
            yield b0, batch_fn(slice(b0, min(b0 + batch_size, stop)))
        return
    loader = DataLoader(Subset(dataset, range(start, stop)), batch_size=batch_size, num_workers=num_workers)
    b0 = start
    for images, ys in loader:
        yield b0, (images, ys)
        b0 += len(images)


def _shard_ok(path: Path, shape: tuple[int, ...], dtype: np.dtype) -> bool:
    try:
        arr = np.load(path, mmap_mode="r")
    except (OSError, ValueError):
        return False
    return arr.shape == shape and arr.dtype == dtype


@torch.no_grad()
def build_token_cache(
    dataset: ImageDataset,
    tokenizer: Tokenizer,
    out: str | Path,
    *,
    dataset_name: str,
    tokenizer_name: str,
    split: str | None = None,
    batch_size: int = 256,
    shard_size: int = 10_000,
    num_workers: int = 0,
    progress: bool = True,
) -> Path:
    """Encode every image of ``dataset`` into a cache at ``out`` (resuming a partial one)."""
    out = Path(out)
    split = split if split is not None else getattr(dataset, "split", "")
    spec = _build_spec(dataset, dataset_name, split, tokenizer, tokenizer_name, shard_size)
    if (out / MANIFEST).is_file():
        done = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
        changed = sorted(k for k in spec if k != "shard_size" and done.get(k) != spec[k])
        if changed:
            raise DataError(
                f"{out} holds a token cache of something else (differs in {', '.join(changed)}); "
                "choose another --out or delete it"
            )
        return out
    if (out / BUILD).is_file():
        previous = json.loads((out / BUILD).read_text(encoding="utf-8"))
        if previous != spec:
            changed = sorted(k for k in spec.keys() | previous.keys() if spec.get(k) != previous.get(k))
            raise DataError(
                f"{out} holds a partial token cache of something else (differs in {', '.join(changed)}); "
                "choose another --out or delete it"
            )
    elif out.exists() and any(out.iterdir()):
        raise DataError(f"{out} exists and is not a token cache; choose another --out or delete it")
    write_json(out / BUILD, spec)
    h, w = tokenizer.grid_shape
    dtype = index_dtype(tokenizer.codebook_size)
    total = len(dataset)
    shards = []
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("[bold]tokenize"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), disable=not progress
    ) as bar:
        task = bar.add_task("tokenize", total=total)
        for number, start in enumerate(range(0, total, shard_size)):
            stop = min(start + shard_size, total)
            entry = {
                "indices": f"indices-{number:05d}.npy",
                "labels": f"labels-{number:05d}.npy",
                "count": stop - start,
            }
            shards.append(entry)
            if _shard_ok(out / entry["indices"], (stop - start, h, w), dtype) and _shard_ok(
                out / entry["labels"], (stop - start,), np.dtype(np.int64)
            ):
                bar.update(task, advance=stop - start)
                continue
            codes = np.empty((stop - start, h, w), dtype=dtype)
            labels = np.empty(stop - start, dtype=np.int64)
            for b0, (images, ys) in _batches(dataset, start, stop, batch_size, num_workers):
                b1 = b0 + len(images)
                idx = tokenizer.encode(images).cpu()
                if tuple(idx.shape) != (b1 - b0, h, w):
                    raise DataError(f"tokenizer returned indices {tuple(idx.shape)}, expected {(b1 - b0, h, w)}")
                codes[b0 - start : b1 - start] = idx.numpy().astype(dtype)
                labels[b0 - start : b1 - start] = np.asarray(ys, dtype=np.int64)
                bar.update(task, advance=b1 - b0)
            with atomic_path(out / entry["labels"]) as tmp:
                np.save(tmp, labels, allow_pickle=False)
            with atomic_path(out / entry["indices"]) as tmp:
                np.save(tmp, codes, allow_pickle=False)
    manifest = {
        **spec,
        "tokenizer_describe": _describe(tokenizer),
        "dataset_describe": json.loads(json.dumps(dataset.describe(), default=str)),
        "num_classes": dataset.num_classes,
        "dtype": dtype.name,
        "shards": shards,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    write_json(out / MANIFEST, manifest)
    return out


def cache_key(
    dataset: str, split: str, tokenizer: Tokenizer, tokenizer_name: str, root: str | None, image_size: int | None
) -> str:
    """Directory name of a cache: readable prefix + hash of everything that changes the codes."""
    desc = _describe(tokenizer)
    ident = {
        "format": FORMAT_VERSION,
        "dataset": dataset,
        "split": split,
        "root": str(Path(root).expanduser().resolve()) if root else None,
        "image_size": image_size,
        "tokenizer": tokenizer_name,
        "config": desc.get("config"),
        "checkpoint_sha256": desc.get("checkpoint_sha256"),
        "codebook_size": tokenizer.codebook_size,
    }
    digest = hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:16]
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in f"{dataset}-{split}-{tokenizer_name}")
    return f"{safe}-{digest}"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def ensure_token_cache(
    dataset: str,
    split: str,
    tokenizer: Tokenizer,
    tokenizer_name: str,
    *,
    root: str | None = None,
    image_size: int | None = None,
    cache_root: str | Path | None = None,
    batch_size: int = 256,
    progress: bool = True,
    num_workers: int = 0,
) -> Path:
    """A finished cache of ``dataset``/``split`` encoded by ``tokenizer``; built on first call.

    ``image_size`` defaults to the tokenizer's. The cache lives in
    ``<cache_root>/tokens/<key>`` (``cache_root`` defaults to :func:`default_cache_root`); a
    lock file beside it makes concurrent callers wait for one build. ``num_workers`` loader
    processes decode images for datasets read from files (image-folder).
    """
    from flowbench.build import build_dataset

    size = image_size or tokenizer.image_size
    base = Path(cache_root).expanduser() if cache_root is not None else default_cache_root()
    out = base / "tokens" / cache_key(dataset, split, tokenizer, tokenizer_name, root, size)
    if (out / MANIFEST).is_file():
        return out
    with _locked(out.with_name(out.name + ".lock")):
        if (out / MANIFEST).is_file():
            return out
        data = build_dataset(dataset, split, root=root, image_size=size)
        return build_token_cache(
            data,
            tokenizer,
            out,
            dataset_name=dataset,
            tokenizer_name=tokenizer_name,
            split=split,
            batch_size=batch_size,
            num_workers=num_workers,
            progress=progress,
        )


class TokenDataset(Dataset):
    """A finished token cache: ``ds[i] -> (indices LongTensor (h, w), label int)``.

    Args:
        path: the cache directory.
        expect: a tokenizer's ``describe()``; its name, checkpoint hash and codebook size must
            match the cache's, else :class:`DataError` names what differs.

    Attributes:
        manifest: the cache's ``manifest.json``.
        grid_shape: ``(h, w)``.
        codebook_size: ``K``.
        num_classes: number of classes of the dataset.
    """

    def __init__(self, path: str | Path, expect: dict[str, Any] | None = None) -> None:
        self.path = Path(path)
        manifest_file = self.path / MANIFEST
        if not manifest_file.is_file():
            what = "an unfinished token cache (rerun the build to resume)" if (self.path / BUILD).is_file() else ""
            raise DataError(f"{self.path} is not a token cache: no {MANIFEST}{'; it is ' + what if what else ''}")
        try:
            self.manifest: dict[str, Any] = json.loads(manifest_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DataError(f"{manifest_file} is not valid JSON ({exc})") from None
        if self.manifest.get("format") != FORMAT_VERSION:
            raise DataError(
                f"{manifest_file}: token cache format {self.manifest.get('format')!r}, this flowbench reads "
                f"{FORMAT_VERSION}; rebuild it"
            )
        self.grid_shape: tuple[int, int] = tuple(self.manifest["grid_shape"])  # type: ignore[assignment]
        self.codebook_size: int = int(self.manifest["codebook_size"])
        self.num_classes: int = int(self.manifest["num_classes"])
        if expect is not None:
            self.check(expect)
        self._indices: list[np.ndarray] = []
        self._labels: list[np.ndarray] = []
        h, w = self.grid_shape
        for shard in self.manifest["shards"]:
            n = int(shard["count"])
            self._indices.append(self._load(shard["indices"], (n, h, w)))
            self._labels.append(self._load(shard["labels"], (n,)))
        self._offsets = np.cumsum([0] + [len(a) for a in self._labels])
        if int(self._offsets[-1]) != int(self.manifest["count"]):
            raise DataError(
                f"{self.path}: shards hold {int(self._offsets[-1])} items, manifest says {self.manifest['count']}"
            )

    def _load(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        file = self.path / name
        try:
            arr = np.load(file, mmap_mode="r", allow_pickle=False)
        except FileNotFoundError:
            raise DataError(f"token cache file {file} is missing; rebuild the cache") from None
        except (OSError, ValueError) as exc:
            raise DataError(f"token cache file {file} is truncated or corrupt ({exc}); rebuild the cache") from None
        if arr.shape != shape:
            raise DataError(f"token cache file {file} has shape {arr.shape}, expected {shape}; rebuild the cache")
        return arr

    def check(self, expect: dict[str, Any]) -> None:
        """Raise :class:`DataError` if ``expect`` (a tokenizer ``describe()``) is not what built this cache."""
        m = self.manifest
        built = m.get("tokenizer_describe", {})
        pairs = {
            "tokenizer name": (built.get("name", m.get("tokenizer")), expect.get("name")),
            "checkpoint_sha256": (m.get("checkpoint_sha256"), expect.get("checkpoint_sha256")),
            "codebook_size": (m.get("codebook_size"), expect.get("codebook_size")),
        }
        diffs = [f"{k}: cache {a!r} vs tokenizer {b!r}" for k, (a, b) in pairs.items() if b is not None and a != b]
        if diffs:
            raise DataError(f"token cache {self.path} was built by another tokenizer ({'; '.join(diffs)})")

    def __len__(self) -> int:
        return int(self._offsets[-1])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for a token cache of {len(self)} items")
        shard = int(np.searchsorted(self._offsets, index, side="right")) - 1
        local = index - int(self._offsets[shard])
        codes = torch.from_numpy(np.asarray(self._indices[shard][local], dtype=np.int64))
        return codes, int(self._labels[shard][local])
