"""Feature extractors computed by torch-fidelity.

A :class:`FidelityExtractor` is a flowbench :class:`~flowbench.interfaces.FeatureExtractor` whose
features come from an extractor in torch-fidelity's registry (its own ``inception-v3-compat``, or one
a plugin registered with :func:`register_fidelity_extractor`). Features are extracted exactly as
:func:`torch_fidelity.calculate_metrics` extracts them (same module, same batching), so metrics
computed from them match torch-fidelity's.

Inputs are uint8 images ``(B, 3, H, W)`` (grey images replicated to 3 channels), as torch-fidelity
expects; :func:`to_fidelity_uint8` makes them from flowbench's float images in ``[-1, 1]``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor
from torch.utils.data import Dataset

from flowbench.devices import resolve_device
from flowbench.errors import CheckpointError, ConfigError
from flowbench.images import to_uint8
from flowbench.interfaces import FeatureExtractor
from flowbench.weights import file_sha256

__all__ = [
    "FidelityExtractor",
    "register_fidelity_extractor",
    "to_fidelity_uint8",
    "UInt8Images",
]


def register_fidelity_extractor(name: str, cls: type) -> None:
    """Register ``cls`` (a ``torch_fidelity.FeatureExtractorBase`` subclass) in torch-fidelity's
    registry as ``name``; registering the same class again is a no-op (plugins may load twice)."""
    import torch_fidelity
    from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

    existing = FEATURE_EXTRACTORS_REGISTRY.get(name)
    if existing is cls or (
        existing is not None and existing.__module__ == cls.__module__ and existing.__qualname__ == cls.__qualname__
    ):
        FEATURE_EXTRACTORS_REGISTRY[name] = cls
        return
    torch_fidelity.register_feature_extractor(name, cls)


def to_fidelity_uint8(images: Tensor) -> Tensor:
    """Images as torch-fidelity wants them: uint8 ``(N, 3, H, W)``.

    Float images are read as values in ``[-1, 1]`` and mapped by :func:`flowbench.images.to_uint8`
    (``round((x + 1) * 127.5)``, clamped), the inverse of the datasets' ``p / 127.5 - 1``, so a
    dataset image comes back as its original bytes; one-channel images are replicated to three
    channels.
    """
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ConfigError(f"expected images of shape (N, 1 or 3, H, W), got {tuple(images.shape)}")
    if images.dtype != torch.uint8:
        images = to_uint8(images)
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    return images.contiguous()


class UInt8Images(Dataset):
    """A dataset of uint8 ``(3, H, W)`` images for torch-fidelity, from a uint8/float tensor or from a
    flowbench :class:`~flowbench.interfaces.ImageDataset` (converted one item at a time)."""

    def __init__(self, source: Tensor | Dataset, limit: int | None = None) -> None:
        self.source = source
        n = len(source)
        self.length = n if limit is None else min(n, limit)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> Tensor:
        item = self.source[index]
        if isinstance(item, (tuple, list)):
            item = item[0]
        return to_fidelity_uint8(item.unsqueeze(0))[0]


class FidelityExtractor(FeatureExtractor):
    """A feature extractor backed by torch-fidelity's registry entry :attr:`fidelity_name`.

    Class attributes (set by subclasses):
        fidelity_name: name in torch-fidelity's feature-extractor registry.
        feature_layer: the layer used for FID, KID and precision/recall.
        score_layer, score_name: the logits layer for an Inception-Score-style score
            ``exp(E_x KL(p(y|x) || p(y)))`` and the name it is reported under (None: no score).
        logits_layer, num_classes: classification logits used for class accuracy (None: it does
            not classify the generated data's classes).
        input_size: the image side the extractor requires (None: any, it resizes).
        default_for_datasets: dataset names for which this extractor is the default.

    Args:
        weights_path: the weights file (hashed into every metric row and cache key).
    """

    fidelity_name: ClassVar[str]
    feature_layer: ClassVar[str]
    score_layer: ClassVar[str | None] = None
    score_name: ClassVar[str | None] = None
    logits_layer: ClassVar[str | None] = None
    num_classes: int | None = None
    input_size: int | None = None
    default_for_datasets: ClassVar[tuple[str, ...]] = ()

    def __init__(self, weights_path: str | Path) -> None:
        super().__init__()
        self.weights_path = Path(weights_path)
        self._fidelity_cache: dict[tuple[tuple[str, ...], str], Any] = {}

    @property
    def weights_sha256(self) -> str:
        return file_sha256(self.weights_path)

    def fidelity_options(self) -> dict[str, Any]:
        """Keyword arguments torch-fidelity passes to the extractor's constructor."""
        return {"feature_extractor_weights_path": str(self.weights_path)}

    def check_images(self, height: int, width: int) -> None:
        """Raise :class:`ConfigError` if the extractor cannot read images of this size."""
        if self.input_size is not None and (height, width) != (self.input_size, self.input_size):
            raise ConfigError(
                f"feature extractor {self.name!r} reads {self.input_size}x{self.input_size} images (as the "
                f"tokenizer decodes them), got {height}x{width}; choose another with --feature-extractor "
                "(e.g. inception-v3)"
            )

    def fidelity_module(self, layers: Sequence[str], device: torch.device) -> Any:
        """The torch-fidelity module producing ``layers``, built as ``calculate_metrics`` builds it."""
        from torch_fidelity.utils import create_feature_extractor

        key = (tuple(layers), str(device))
        if key not in self._fidelity_cache:
            try:
                module = create_feature_extractor(
                    self.fidelity_name,
                    list(layers),
                    cuda=device.type == "cuda",
                    verbose=False,
                    **self.fidelity_options(),
                )
            except Exception as exc:  # a bad weights file: one line, not a traceback
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise CheckpointError(
                    f"cannot load the weights of feature extractor {self.name!r} from {self.weights_path}: {first}"
                ) from None
            self._fidelity_cache[key] = module
        return self._fidelity_cache[key]

    def extract(
        self,
        images: Tensor | Dataset,
        layers: Sequence[str] | None = None,
        *,
        batch_size: int = 256,
        device: str | torch.device | None = None,
    ) -> dict[str, Tensor]:
        """Features ``{layer: (N, F) float tensor}`` of uint8 images or a :class:`UInt8Images` dataset."""
        from torch_fidelity.utils import get_featuresdict_from_dataset

        layers = list(dict.fromkeys(layers or [self.feature_layer]))
        # one module computing every layer the metrics use, whatever subset is asked for
        computed = list(dict.fromkeys([*self.metric_layers(), *layers]))
        dev = resolve_device(device)
        data = images if isinstance(images, Dataset) else UInt8Images(images)
        if len(data) == 0:
            raise ConfigError("no images to extract features from")
        first = data[0]
        self.check_images(int(first.shape[-2]), int(first.shape[-1]))
        module = self.fidelity_module(computed, dev)
        out = get_featuresdict_from_dataset(
            data, module, batch_size, dev.type == "cuda", save_cpu_ram=True, verbose=False
        )
        return {k: out[k].float() for k in layers}

    def metric_layers(self) -> list[str]:
        """The layers metrics use: features, then score and classification logits if any."""
        layers = [self.feature_layer, self.score_layer, self.logits_layer]
        return list(dict.fromkeys(layer for layer in layers if layer))

    def features(self, images: Tensor) -> Tensor:
        return self.extract(images)[self.feature_layer]

    def classify(self, images: Tensor | Dataset, **kwargs: Any) -> Tensor:
        """Class logits ``(N, num_classes)``; only for extractors with a :attr:`logits_layer`."""
        if self.logits_layer is None:
            raise ConfigError(f"feature extractor {self.name!r} does not classify images")
        return self.extract(images, [self.logits_layer], **kwargs)[self.logits_layer]

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "fidelity_name": self.fidelity_name,
            "feature_layer": self.feature_layer,
            "feature_dim": self.feature_dim,
            "weights_path": os.fspath(self.weights_path),
            "weights_sha256": self.weights_sha256,
        }
