"""Collect a benchmark's results into one pandas table.

One row per cell x evaluation step x (temperature, guidance): the periodic evaluations the engine
wrote during training (``evals.jsonl``, ``source = "train"``) and the sweeps of the final EMA weights
(``sweeps.jsonl``, ``source = "sweep"``). Every row carries its provenance (:data:`PROVENANCE`), taken
from the evaluation row itself when the evaluator recorded it, else from the cell's ``config.toml``
and ``environment.json``, so a row read alone says how its numbers were made.

Column names: ``numeric_precision`` is the arithmetic format of training (``fp32``/``bf16``);
``precision`` and ``recall`` are the improved precision/recall metrics.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

import pandas as pd

from flowbench import __version__
from flowbench.bench.layout import BENCH_JSON, DONE, FAILED, SWEEPS, TRAINED, cell_dirs
from flowbench.config import RunConfig, load_config
from flowbench.engine import rundir
from flowbench.errors import DataError, FlowbenchError
from flowbench.io import read_jsonl

__all__ = ["PROVENANCE", "METRICS", "collect", "read_bench", "cell_status"]

#: Provenance columns, in table order.
PROVENANCE: tuple[str, ...] = (
    "bench",
    "profile",
    "cell",
    "objective",
    "objective_name",
    "seed",
    "source",
    "step",
    "train_steps",
    "backbone",
    "tokenizer",
    "tokenizer_checkpoint",
    "dataset",
    "reference_split",
    "effective_batch",
    "world_size",
    "numeric_precision",
    "lr",
    "ema_decay",
    "sampler",
    "sample_steps",
    "nfe",
    "guidance",
    "temperature",
    "default_guidance",
    "default_temperature",
    "num_samples",
    "feature_extractor",
    "evaluator",
    "hardware",
    "flowbench_version",
    "torch_version",
)

#: Metric columns the report knows about (others are kept as they come).
METRICS: tuple[str, ...] = (
    "fid",
    "kid_mean",
    "kid_std",
    "precision",
    "recall",
    "class_accuracy",
    "eval_wall_s",
    "s_per_step",
    "train_wall_s",
)

# Evaluator keys (``EvalResult.flat()``) renamed to the table's columns: the evaluator's ``objective``
# is the registry name (the table's ``objective`` is the benchmark label), its ``steps`` are sampler
# steps and its ``seed`` the sampling seed (the table's ``seed`` is the training seed).
_ALIASES = {
    "objective": "objective_name",
    "steps": "sample_steps",
    "seed": "sample_seed",
    "train_batch_size": "effective_batch",
    "train_precision": "numeric_precision",
}


def read_bench(results_dir: str | Path) -> dict[str, Any]:
    """``bench.json`` of a results directory ({} if absent)."""
    p = Path(results_dir) / BENCH_JSON
    if not p.is_file():
        return {}
    return json.loads(p.read_text(encoding="utf-8"))


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return {}


def cell_status(cell_dir: str | Path) -> str:
    """``"done"``, ``"trained"`` (sweeps pending), ``"failed"`` (last attempt raised), ``"started"``
    or ``"pending"``."""
    d = Path(cell_dir)
    if (d / DONE).is_file():
        return "done"
    if (d / FAILED).is_file():
        return "failed"
    if (d / TRAINED).is_file():
        return "trained"
    if (d / rundir.METRICS).is_file() or (d / rundir.CONFIG).is_file():
        return "started"
    return "pending"


def _hardware(env: dict[str, Any]) -> str:
    for key in ("hardware", "device_name", "gpu", "cpu"):
        val = env.get(key)
        if isinstance(val, str) and val:
            return val
    dev = env.get("device")
    if isinstance(dev, dict):
        return str(dev.get("name") or dev.get("type") or "")
    return str(dev or "")


def _s_per_step(metrics: list[dict[str, Any]], batch: int) -> float | None:
    """Median training seconds per optimiser step from ``metrics.jsonl`` throughput."""
    per_step = []
    for row in metrics:
        sps = row.get("samples_per_s", row.get("samples/s"))
        if isinstance(sps, (int, float)) and sps > 0:
            per_step.append(batch / sps)
    return statistics.median(per_step) if per_step else None


def _cell_provenance(cell_dir: Path, bench: dict[str, Any]) -> dict[str, Any]:
    try:
        cfg: RunConfig = load_config(cell_dir / rundir.CONFIG)
    except FlowbenchError as exc:
        raise DataError(f"cell {cell_dir.name!r}: unreadable config.toml: {exc}") from None
    env = _read_json(cell_dir / rundir.ENVIRONMENT)
    meta = next((c for c in bench.get("cells", []) if c.get("name") == cell_dir.name), {})
    trained = _read_json(cell_dir / TRAINED)
    world = int(env.get("world_size", 1) or 1)
    precision = env.get("precision") or cfg.train.precision
    effective = env.get("effective_batch") or cfg.train.batch_size * cfg.train.grad_accum * world
    metrics = read_jsonl(cell_dir / rundir.METRICS)
    return {
        "bench": bench.get("name", ""),
        "profile": bench.get("profile") or "",
        "cell": cell_dir.name,
        "objective": meta.get("label", cfg.objective.name),
        "objective_name": cfg.objective.name,
        "seed": cfg.train.seed,
        "train_steps": cfg.train.steps,
        "backbone": cfg.backbone.name,
        "tokenizer": cfg.tokenizer.name,
        "tokenizer_checkpoint": cfg.tokenizer_checkpoint or "",
        "dataset": cfg.data.dataset,
        "reference_split": cfg.eval.reference_split,
        "effective_batch": int(effective),
        "world_size": world,
        "numeric_precision": precision,
        "lr": cfg.train.lr,
        "ema_decay": cfg.train.ema_decay,
        "sampler": cfg.sample.sampler or "",
        "sample_steps": cfg.sample.steps,
        "guidance": cfg.sample.guidance,
        "temperature": cfg.sample.temperature,
        "default_guidance": cfg.sample.guidance,
        "default_temperature": cfg.sample.temperature,
        "num_samples": cfg.eval.num_samples,
        "feature_extractor": cfg.eval.feature_extractor or "",
        "evaluator": cfg.eval.evaluator,
        "hardware": _hardware(env),
        "flowbench_version": env.get("flowbench_version", env.get("flowbench", __version__)),
        "torch_version": env.get("torch_version", env.get("torch", "")),
        "s_per_step": _s_per_step(metrics, cfg.train.batch_size * cfg.train.grad_accum),
        "train_wall_s": trained.get("wall_s"),
        "status": cell_status(cell_dir),
    }


def _flatten(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, dict):
            for k, v in _flatten(value).items():
                out[f"{key}.{k}"] = v
        elif isinstance(value, (list, tuple)):
            out[key] = json.dumps(value)
        else:
            out[_ALIASES.get(key, key)] = value
    return out


def collect(results_dir: str | Path) -> pd.DataFrame:
    """The results table of a benchmark directory (see the module docstring).

    Raises:
        DataError: the directory holds no cell with an evaluation.
    """
    root = Path(results_dir)
    if not root.is_dir():
        raise DataError(f"results directory {str(root)!r} does not exist")
    bench = read_bench(root)
    rows: list[dict[str, Any]] = []
    for cell_dir in cell_dirs(root):
        if not (cell_dir / rundir.CONFIG).is_file():
            continue
        base = _cell_provenance(cell_dir, bench)
        for source, name in (("train", rundir.EVALS), ("sweep", SWEEPS)):
            for record in read_jsonl(cell_dir / name):
                row = {**base, "source": source}
                row.update({k: v for k, v in _flatten(record).items() if v is not None})
                rows.append(row)
    if not rows:
        raise DataError(
            f"no evaluations found under {str(root)!r} (expected cells/<cell>/evals.jsonl); "
            "run `flowbench bench` first, or point at its --out directory"
        )
    df = pd.DataFrame(rows)
    for col in PROVENANCE:
        if col not in df.columns:
            df[col] = None
    first = list(PROVENANCE) + [c for c in METRICS if c in df.columns]
    df = df[first + [c for c in df.columns if c not in first]]
    df["step"] = df["step"].astype(int)
    order = ["objective", "seed", "source", "step", "temperature", "guidance"]
    return df.sort_values(order, kind="stable").reset_index(drop=True)
