"""Evaluate a trained run: generate samples with its EMA weights, score them against the reference.

:class:`RunEvaluator` is shared by ``flowbench eval`` and the ``fid`` evaluator the training engine
calls: it resolves the feature extractor once (explicit name, else the dataset's default, else
``inception-v3``), gets the reference features from the cache, then for each call generates
``num_samples`` images (balanced class labels for class-conditional runs), extracts their features
and logits, and returns an :class:`~flowbench.metrics.result.EvalResult`.

:func:`score_images` is the image-level part (no run needed): FID/KID/PR/score of uint8 or float
images against reference features, plus class accuracy when labels are given.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from flowbench.config import RunConfig, SampleConfig
from flowbench.devices import resolve_device
from flowbench.errors import ConfigError
from flowbench.metrics.accuracy import ClassAccuracy, class_accuracy
from flowbench.metrics.extractor import FidelityExtractor, to_fidelity_uint8
from flowbench.metrics.fidelity import FidelityScores, compute_scores
from flowbench.metrics.reference import ReferenceFeatures, ReferenceSpec, reference_features
from flowbench.metrics.result import EvalResult, hardware_string
from flowbench.weights import file_sha256

__all__ = [
    "FALLBACK_EXTRACTOR",
    "EvalSettings",
    "ImageScores",
    "default_extractor_name",
    "build_extractor",
    "score_images",
    "RunEvaluator",
]

#: The extractor used when neither the settings nor the dataset name one.
FALLBACK_EXTRACTOR = "inception-v3"


@dataclass
class EvalSettings:
    """How to evaluate: the sampling settings (one :class:`~flowbench.config.SampleConfig`) and the
    ``[eval]`` ones (defaults: the run's, see :meth:`from_config`)."""

    sample: SampleConfig = field(default_factory=SampleConfig)
    num_samples: int = 1000
    seed: int = 0
    batch_size: int = 250
    feature_extractor: str | None = None
    weights_path: str | None = None
    reference_split: str = "test"
    num_reference: int | None = None
    kid_subsets: int = 100
    prc_neighborhood: int = 3

    @classmethod
    def from_config(cls, config: RunConfig, sample: SampleConfig | None = None, **overrides: Any) -> EvalSettings:
        """Settings from a run's config: ``sample`` (default: the config's ``[sample]``), and the
        ``[eval]`` table, where ``config.eval.options`` and then ``overrides`` (non-None) win."""
        e = config.eval
        values: dict[str, Any] = {
            "num_samples": e.num_samples,
            "batch_size": e.batch_size,
            "feature_extractor": e.feature_extractor,
            "reference_split": e.reference_split,
        }
        allowed = sorted(set(cls.__dataclass_fields__) - {"sample"})
        for source in (e.options, overrides):
            for key, value in source.items():
                if key not in allowed:
                    hint = f" (sampling settings are the run's [sample]: sample.{key})" if key in _SAMPLE_KEYS else ""
                    raise ConfigError(f"unknown evaluation option {key!r}{hint}; options: {', '.join(allowed)}")
                if value is not None:
                    values[key] = value
        settings = cls(sample=config.sample if sample is None else sample, **values)
        settings.validate()
        return settings

    def validate(self) -> None:
        for key in ("num_samples", "batch_size", "kid_subsets", "prc_neighborhood"):
            if int(getattr(self, key)) < 1:
                raise ConfigError(f"{key.replace('_', ' ')} must be >= 1, got {getattr(self, key)}")
        if self.sample.steps < 1:
            raise ConfigError(f"steps must be >= 1, got {self.sample.steps}")
        if self.num_samples <= self.prc_neighborhood:
            raise ConfigError(f"need more than {self.prc_neighborhood} samples for precision/recall")
        if self.sample.temperature <= 0:
            raise ConfigError(f"temperature must be > 0, got {self.sample.temperature}")


_SAMPLE_KEYS = {f.name for f in fields(SampleConfig)}


def default_extractor_name(dataset: str) -> str:
    """The feature extractor for ``dataset``: a ``default_feature_extractor`` attribute of the
    dataset's factory, else an extractor declaring the dataset in ``default_for_datasets``, else
    :data:`FALLBACK_EXTRACTOR`."""
    from flowbench.plugins import registry

    entry = registry("dataset").get(dataset)
    declared = getattr(entry.factory, "default_feature_extractor", None)
    if declared:
        return str(declared)
    for fe in registry("feature_extractor"):
        if entry.name in getattr(fe.factory, "default_for_datasets", ()):
            return fe.name
    return FALLBACK_EXTRACTOR


def build_extractor(name: str, weights_path: str | None = None) -> FidelityExtractor:
    """Build a registered feature extractor (``weights_path`` passed when given)."""
    from flowbench.build import build_feature_extractor

    options = {"weights_path": weights_path} if weights_path else {}
    extractor = build_feature_extractor(name, **options)
    if not isinstance(extractor, FidelityExtractor):
        raise ConfigError(
            f"feature extractor {name!r} is not backed by torch-fidelity (a flowbench.metrics.FidelityExtractor); "
            "metrics need one"
        )
    return extractor


@dataclass
class ImageScores:
    scores: FidelityScores
    accuracy: ClassAccuracy | None


def _layers(extractor: FidelityExtractor, with_labels: bool) -> list[str]:
    layers = [extractor.feature_layer]
    if extractor.score_layer:
        layers.append(extractor.score_layer)
    if with_labels and extractor.logits_layer:
        layers.append(extractor.logits_layer)
    return list(dict.fromkeys(layers))


def score_images(
    images: Tensor,
    reference: ReferenceFeatures,
    extractor: FidelityExtractor,
    *,
    labels: Tensor | None = None,
    num_classes: int | None = None,
    batch_size: int = 256,
    device: str | torch.device | None = None,
    seed: int = 2020,
    kid_subsets: int = 100,
    prc_neighborhood: int = 3,
) -> ImageScores:
    """Metrics of ``images`` (float in ``[-1, 1]`` or uint8, ``(N, C, H, W)``) against ``reference``.

    Class accuracy is computed when ``labels`` are given and the extractor classifies
    ``num_classes`` classes.
    """
    images = to_fidelity_uint8(images)
    classify = (
        labels is not None
        and extractor.logits_layer is not None
        and (num_classes is None or extractor.num_classes == num_classes)
    )
    feats = extractor.extract(images, _layers(extractor, classify), batch_size=batch_size, device=device)
    scores = compute_scores(
        feats[extractor.feature_layer],
        reference.features,
        reference_stats=reference.stats,
        generated_logits=feats.get(extractor.score_layer) if extractor.score_layer else None,
        score_name=extractor.score_name,
        kid_subsets=kid_subsets,
        prc_neighborhood=prc_neighborhood,
        seed=seed,
    )
    accuracy = None
    if classify:
        assert labels is not None and extractor.logits_layer is not None
        accuracy = class_accuracy(feats[extractor.logits_layer], labels, extractor.num_classes)
    return ImageScores(scores=scores, accuracy=accuracy)


def _sha_or_none(path: str | None) -> str | None:
    if path and Path(path).is_file():
        return file_sha256(path)
    return None


class RunEvaluator:
    """Generate-and-score for runs trained with ``config`` (see module doc).

    Args:
        config: the run's config (dataset, reference split, sample settings).
        settings: evaluation settings.
        cache_dir: reference-feature cache (default ``$FLOWBENCH_CACHE/refstats``).
    """

    def __init__(self, config: RunConfig, settings: EvalSettings, cache_dir: str | Path | None = None) -> None:
        settings.validate()
        if settings.sample.sampler:
            from flowbench.plugins import registry

            registry("sampler").get(settings.sample.sampler)  # an unknown name fails before any work
        self.config = config
        self.settings = settings
        self.cache_dir = cache_dir
        name = settings.feature_extractor or default_extractor_name(config.data.dataset)
        self.extractor = build_extractor(name, settings.weights_path)
        self.reference: ReferenceFeatures | None = None

    def prepare(self, device: str | torch.device | None = None) -> ReferenceFeatures:
        """Load the extractor and the reference features (cached on disk and in memory)."""
        dev = resolve_device(device)
        if self.reference is None:
            d = self.config.data
            spec = ReferenceSpec(
                dataset=d.dataset,
                split=self.settings.reference_split,
                root=d.root,
                image_size=d.image_size,
                num_images=self.settings.num_reference,
            )
            self.reference = reference_features(
                spec, self.extractor, batch_size=self.settings.batch_size, device=dev, cache_dir=self.cache_dir
            )
        return self.reference

    def __call__(self, run: Any) -> EvalResult:
        """Evaluate ``run`` (a :class:`flowbench.engine.sampling.LoadedRun`)."""
        from flowbench.engine.sampling import generate

        s = self.settings
        t0 = time.perf_counter()
        reference = self.prepare(run.device)
        t_gen = time.perf_counter()
        gen = generate(run, s.num_samples, s.sample, seed=s.seed, batch_size=s.batch_size)
        t_metric = time.perf_counter()
        conditional = run.num_classes > 0
        result = score_images(
            gen.images,
            reference,
            self.extractor,
            labels=gen.labels if conditional else None,
            num_classes=run.num_classes,
            batch_size=s.batch_size,
            device=run.device,
            kid_subsets=s.kid_subsets,
            prc_neighborhood=s.prc_neighborhood,
        )
        t_end = time.perf_counter()
        return self._result(run, gen, reference, result, (t_metric - t_gen, t_end - t_metric, t_end - t0))

    def _result(
        self, run: Any, gen: Any, reference: ReferenceFeatures, result: ImageScores, times: tuple[float, ...]
    ) -> EvalResult:
        import torch_fidelity

        import flowbench

        cfg, s, sc, acc = run.config, self.settings, result.scores, result.accuracy
        env = run.environment or {}
        describe = getattr(run.tokenizer, "describe", None)
        tok = describe() if callable(describe) else {}
        fe = self.extractor
        return EvalResult(
            fid=sc.fid,
            kid_mean=sc.kid_mean,
            kid_std=sc.kid_std,
            precision=sc.precision,
            recall=sc.recall,
            f_score=sc.f_score,
            score_name=sc.score_name,
            score_mean=sc.score_mean,
            score_std=sc.score_std,
            class_accuracy=acc.accuracy if acc else None,
            class_balanced_accuracy=acc.balanced_accuracy if acc else None,
            reference_class_accuracy=reference.class_accuracy,
            kid_subsets=sc.kid_subsets,
            kid_subset_size=sc.kid_subset_size,
            prc_neighborhood=sc.prc_neighborhood,
            prc_reference_size=sc.prc_reference_size,
            run_dir=str(run.run_dir),
            step=int(run.step),
            objective=cfg.objective.name,
            backbone=cfg.backbone.name,
            tokenizer=cfg.tokenizer.name,
            tokenizer_checkpoint=tok.get("checkpoint") or cfg.tokenizer_checkpoint,
            tokenizer_checkpoint_sha256=tok.get("checkpoint_sha256") or _sha_or_none(cfg.tokenizer_checkpoint),
            dataset=reference.key["dataset"],
            image_size=int(gen.images.shape[-1]),
            channels=int(gen.images.shape[1]),
            num_classes=int(run.num_classes),
            effective_batch=int(env.get("global_batch", cfg.train.batch_size)),
            numeric_precision=env.get("precision"),
            world_size=env.get("world_size"),
            sampler=gen.sampler,
            nfe=int(gen.nfe),
            steps=s.sample.steps,
            guidance=s.sample.guidance,
            temperature=s.sample.temperature,
            num_samples=s.num_samples,
            seed=s.seed,
            sample_precision=str(getattr(run, "precision", "fp32")),
            reference_dataset=reference.key["dataset"],
            reference_split=reference.key["split"],
            reference_images=reference.num_images,
            feature_extractor=fe.name,
            feature_layer=fe.feature_layer,
            feature_dim=int(fe.feature_dim),
            feature_extractor_weights_sha256=fe.weights_sha256,
            device=str(run.device),
            hardware=hardware_string(run.device),
            flowbench_version=flowbench.__version__,
            torch_version=torch.__version__,
            torch_fidelity_version=torch_fidelity.__version__,
            sample_wall_s=round(times[0], 3),
            metric_wall_s=round(times[1], 3),
            eval_wall_s=round(times[2], 3),
            objective_options=dict(cfg.objective.options),
            backbone_options=dict(cfg.backbone.options),
            tokenizer_options=dict(cfg.tokenizer.options),
        )
