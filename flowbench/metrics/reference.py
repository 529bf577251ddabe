"""Reference features: extracted once per (dataset, split, resolution, extractor + weights, count).

The reference side of FID/KID/PR is the same for every evaluation of a benchmark, and extracting it
is the slow part (10,000 Inception passes take most of an hour on a CPU). :func:`reference_features`
caches the features, their FID statistics and the extractor's accuracy on the split (when it
classifies) in ``$FLOWBENCH_CACHE/refstats/`` (default ``~/.cache/flowbench/refstats``) as an
``.npz`` file written atomically. The file name and its embedded key hold the dataset, split, image
size, channels, number of images, extractor name, feature layer and the SHA-256 of the extractor's
weights, so changing any of them (new weights included) misses the cache and recomputes; a corrupt
or mismatching file is recomputed too. Files are read with ``allow_pickle=False``.
"""

from __future__ import annotations

import json
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from flowbench.errors import ConfigError
from flowbench.interfaces import ImageDataset
from flowbench.io import atomic_path
from flowbench.metrics.extractor import FidelityExtractor, UInt8Images
from flowbench.metrics.fidelity import FidStatistics, fid_statistics

__all__ = [
    "ReferenceSpec",
    "ReferenceFeatures",
    "refstats_dir",
    "reference_features",
    "describe_reference",
    "FORMAT_VERSION",
]

#: Bumped when the cache layout or the extraction changes, to invalidate old files.
FORMAT_VERSION = 1


def refstats_dir() -> Path:
    """``$FLOWBENCH_CACHE/refstats`` (default ``~/.cache/flowbench/refstats``)."""
    return Path(os.environ.get("FLOWBENCH_CACHE") or "~/.cache/flowbench").expanduser() / "refstats"


@dataclass(frozen=True)
class ReferenceSpec:
    """Which real images the generated ones are compared with.

    Attributes:
        dataset: registered dataset name.
        split: the reference split (``test`` by default: not the images the model trained on).
        root, image_size, options: passed to the dataset factory.
        num_images: the first ``num_images`` images of the split (None: all).
    """

    dataset: str
    split: str = "test"
    root: str | None = None
    image_size: int | None = None
    num_images: int | None = None


@dataclass
class ReferenceFeatures:
    """Cached reference features and what they are."""

    features: Tensor
    stats: FidStatistics
    key: dict[str, Any]
    path: Path
    computed: bool
    class_accuracy: float | None = None

    @property
    def num_images(self) -> int:
        return len(self.features)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)


def _cache_key(spec: ReferenceSpec, name: str, dataset: ImageDataset, n: int, extractor: FidelityExtractor) -> dict:
    return {
        "format": FORMAT_VERSION,
        "dataset": name,
        "split": spec.split,
        "image_size": int(dataset.image_size),
        "channels": int(dataset.channels),
        "num_images": n,
        "extractor": extractor.name,
        "fidelity_name": extractor.fidelity_name,
        "feature_layer": extractor.feature_layer,
        "weights_sha256": extractor.weights_sha256,
    }


def _cache_path(directory: Path, key: dict[str, Any]) -> Path:
    stem = (
        f"{key['dataset']}-{key['split']}-{key['image_size']}px-{key['channels']}ch-n{key['num_images']}-"
        f"{key['extractor']}-{key['feature_layer']}-{key['weights_sha256'][:16]}-v{key['format']}"
    )
    return directory / f"{_safe(stem)}.npz"


def _load(path: Path, key: dict[str, Any]) -> ReferenceFeatures | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            stored = json.loads(str(data["key"]))
            if stored != key:
                return None
            acc = float(data["class_accuracy"]) if "class_accuracy" in data else None
            return ReferenceFeatures(
                features=torch.from_numpy(data["features"].copy()),
                stats=FidStatistics(mu=data["mu"].copy(), sigma=data["sigma"].copy()),
                key=stored,
                path=path,
                computed=False,
                class_accuracy=acc,
            )
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, json.JSONDecodeError):
        return None


def reference_features(
    spec: ReferenceSpec,
    extractor: FidelityExtractor,
    *,
    batch_size: int = 256,
    device: str | torch.device | None = None,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
) -> ReferenceFeatures:
    """Features of the reference images, from the cache or extracted (and cached)."""
    from flowbench.build import build_dataset
    from flowbench.plugins import registry

    name = registry("dataset").get(spec.dataset).name
    dataset = build_dataset(name, spec.split, root=spec.root, image_size=spec.image_size)
    total = len(dataset)
    if spec.num_images is not None and not 1 < spec.num_images <= total:
        raise ConfigError(
            f"number of reference images must be in 2..{total} (the {name} {spec.split} split), got {spec.num_images}"
        )
    n = total if spec.num_images is None else spec.num_images
    extractor.check_images(int(dataset.image_size), int(dataset.image_size))
    key = _cache_key(spec, name, dataset, n, extractor)
    path = _cache_path(Path(cache_dir) if cache_dir else refstats_dir(), key)
    if use_cache and path.is_file():
        cached = _load(path, key)
        if cached is not None:
            return cached

    classify = extractor.logits_layer is not None and extractor.num_classes == getattr(dataset, "num_classes", None)
    layers = [extractor.feature_layer] + ([extractor.logits_layer] if classify else [])
    out = extractor.extract(UInt8Images(dataset, limit=n), layers, batch_size=batch_size, device=device)
    features = out[extractor.feature_layer]
    stats = fid_statistics(features)
    arrays: dict[str, Any] = {
        "key": np.array(json.dumps(key, sort_keys=True)),
        "features": features.numpy(),
        "mu": stats.mu,
        "sigma": stats.sigma,
    }
    accuracy = None
    if classify:
        from flowbench.metrics.accuracy import class_accuracy

        labels = torch.tensor([int(dataset[i][1]) for i in range(n)])
        accuracy = class_accuracy(out[extractor.logits_layer], labels, extractor.num_classes).accuracy
        arrays["class_accuracy"] = np.array(accuracy)
    if use_cache:
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)
    return ReferenceFeatures(features=features, stats=stats, key=key, path=path, computed=True, class_accuracy=accuracy)


def describe_reference(ref: ReferenceFeatures) -> dict[str, Any]:
    """Provenance of a reference set (flat)."""
    return {
        "reference_dataset": ref.key["dataset"],
        "reference_split": ref.key["split"],
        "reference_images": ref.num_images,
        "reference_cache": str(ref.path),
        "reference_class_accuracy": ref.class_accuracy,
    }
