""":class:`EvalResult`: the metrics of one evaluation and everything needed to reproduce them.

Published FIDs are hard to compare when the reference split, the number of samples, the feature
extractor, the sampler, the precision or the hardware is missing, so every evaluation records them.
``flowbench eval`` writes one as JSON (``EvalResult.to_dict()``); the ``fid`` evaluator returns
``EvalResult.flat()`` (options tables left out) as a row of ``evals.jsonl``. The keys are documented
field by field below and in ``docs/metrics.md``.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowbench.io import write_json

__all__ = ["EvalResult", "hardware_string"]


def hardware_string(device: Any) -> str:
    """``"cuda: <GPU name>"`` or ``"cpu: <CPU model> (<n> cores)"``."""
    import os

    import torch

    from flowbench.engine.environment import cpu_model

    dev = torch.device(device)
    if dev.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(dev)}"
    return f"cpu: {cpu_model()} ({os.cpu_count()} cores)"


@dataclass
class EvalResult:
    """One evaluation of a trained run.

    Metrics:
        fid: Frechet distance of the feature Gaussians (lower is better).
        kid_mean, kid_std: kernel distance (unbiased MMD^2, cubic kernel) over ``kid_subsets``
            subsets of ``kid_subset_size`` (lower is better).
        precision, recall, f_score: k-NN manifold precision/recall (``prc_neighborhood`` = k) against
            ``prc_reference_size`` reference features.
        score_name, score_mean, score_std: ``"inception_score"`` (Inception logits) or
            ``"classifier_score"`` (the same formula on the dataset classifier's logits), or None.
        class_accuracy, class_balanced_accuracy: how often the classifier sees the conditioning
            class in a sample (None: unconditional run, or an extractor that does not classify).
        reference_class_accuracy: the classifier's accuracy on the reference images (the ceiling).

    Provenance:
        run_dir, step: the run and the training step of its EMA weights.
        objective, backbone, tokenizer (+ ``_options``), tokenizer_checkpoint (+ ``_sha256``).
        dataset, image_size, channels, num_classes: what was trained on (``num_classes`` 0 = unconditional).
        effective_batch: the effective (global) batch; numeric_precision, world_size: of training.
        sampler, nfe, steps, guidance, temperature, num_samples, seed, sample_precision: sampling.
        reference_dataset, reference_split, reference_images: the real images compared with.
        feature_extractor, feature_layer, feature_dim, feature_extractor_weights_sha256.
        device, hardware, flowbench_version, torch_version, torch_fidelity_version, created_at.
        sample_wall_s, metric_wall_s, eval_wall_s: seconds generating, scoring, in total.
    """

    fid: float
    kid_mean: float
    kid_std: float
    precision: float
    recall: float
    f_score: float
    score_name: str | None
    score_mean: float | None
    score_std: float | None
    class_accuracy: float | None
    class_balanced_accuracy: float | None
    reference_class_accuracy: float | None
    kid_subsets: int
    kid_subset_size: int
    prc_neighborhood: int
    prc_reference_size: int

    run_dir: str
    step: int
    objective: str
    backbone: str
    tokenizer: str
    tokenizer_checkpoint: str | None
    tokenizer_checkpoint_sha256: str | None
    dataset: str
    image_size: int
    channels: int
    num_classes: int
    effective_batch: int
    numeric_precision: str | None
    world_size: int | None

    sampler: str
    nfe: int
    steps: int
    guidance: float
    temperature: float
    num_samples: int
    seed: int
    sample_precision: str

    reference_dataset: str
    reference_split: str
    reference_images: int
    feature_extractor: str
    feature_layer: str
    feature_dim: int
    feature_extractor_weights_sha256: str

    device: str
    hardware: str
    flowbench_version: str
    torch_version: str
    torch_fidelity_version: str
    sample_wall_s: float
    metric_wall_s: float
    eval_wall_s: float
    created_at: str = field(default_factory=lambda: _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"))

    objective_options: dict[str, Any] = field(default_factory=dict)
    backbone_options: dict[str, Any] = field(default_factory=dict)
    tokenizer_options: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Every field (options as tables): the JSON written by ``flowbench eval``."""
        return dataclasses.asdict(self)

    def flat(self) -> dict[str, Any]:
        """Scalar fields only (the options tables are left out): one ``evals.jsonl`` row."""
        return {k: v for k, v in self.to_dict().items() if not isinstance(v, (dict, list))}

    def metrics(self) -> dict[str, Any]:
        """Just the metric values."""
        keys = (
            "fid",
            "kid_mean",
            "kid_std",
            "precision",
            "recall",
            "f_score",
            "score_mean",
            "score_std",
            "class_accuracy",
            "class_balanced_accuracy",
            "reference_class_accuracy",
        )
        return {k: getattr(self, k) for k in keys}

    def write(self, path: str | Path) -> Path:
        """Write :meth:`to_dict` as JSON, atomically."""
        path = Path(path)
        write_json(path, self.to_dict())
        return path

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvalResult:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})
