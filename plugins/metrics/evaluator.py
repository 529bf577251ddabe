"""The ``fid`` evaluator: FID/KID/precision/recall/class accuracy every ``eval.every`` training steps.

``FidEvaluator(config, **options)`` is built by the training engine before the run starts (so a bad
extractor name or missing weights fails at once); each call ``evaluator(step, run)`` generates
``eval.num_samples`` samples with the ``[sample]`` settings and returns one flat ``evals.jsonl`` row:
the metrics and the scalar provenance of :class:`flowbench.metrics.EvalResult` (see
``docs/metrics.md``). Options (``eval.options``) are :class:`flowbench.metrics.EvalSettings` fields,
e.g. ``weights_path``, ``num_reference``, ``seed``, ``kid_subsets``.
"""

from __future__ import annotations

from typing import Any

from flowbench.config import RunConfig
from flowbench.metrics.evaluate import EvalSettings, RunEvaluator

__all__ = ["FidEvaluator"]


class FidEvaluator:
    """``(step, run) -> dict`` of metrics and provenance for the training engine."""

    #: What the engine's progress line shows of each evaluation.
    summary_keys: tuple[str, ...] = ("fid", "kid_mean", "precision", "recall", "class_accuracy", "temperature")

    def __init__(self, config: RunConfig, **options: Any) -> None:
        self.settings = EvalSettings.from_config(config, **options)
        self.evaluator = RunEvaluator(config, self.settings)

    def __call__(self, step: int, run: Any) -> dict[str, Any]:
        row = self.evaluator(run).flat()
        row["step"] = int(step)
        return row
