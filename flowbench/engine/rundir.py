"""The run directory: the names of its files, its default name, its ``config.toml`` and its
environment record.

Layout (every name is defined here once; the rest of flowbench uses these constants)::

    config.toml                      CONFIG       the resolved run config
    deepspeed_config.json            DEEPSPEED_CONFIG  the merged config DeepSpeed got
    environment.json                 ENVIRONMENT  what the run ran on (a resumed session adds
    environment-resume-step{N}.json               its own: environment_file(N))
    metrics.jsonl                    METRICS      training log (flowbench.engine.metrics_log)
    evals.jsonl                      EVALS        periodic evaluations
    checkpoints/step{N}/, latest     CHECKPOINTS  DeepSpeed checkpoints (flowbench.engine.checkpoint)
    ema/step{N}.safetensors, latest  EMA          EMA weights; LATEST names the marker files
    samples/step{N}.png              SAMPLES      sample grids (sample_grid_path)
    eval/*.json                      EVAL         ``flowbench eval`` results

A new run goes to ``--out DIR`` (or ``out`` in the config), else
``runs/<objective>-<backbone>-<YYYYmmdd-HHMMSS>`` with ``/`` in names replaced by ``_``.
Nothing is created until every component has been built and validated, so a bad input leaves no
trace on disk.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from flowbench.config import RunConfig, load_config, to_dict
from flowbench.errors import CheckpointError, ConfigError
from flowbench.io import write_json, write_text

__all__ = [
    "CONFIG",
    "DEEPSPEED_CONFIG",
    "ENVIRONMENT",
    "METRICS",
    "EVALS",
    "CHECKPOINTS",
    "EMA",
    "LATEST",
    "SAMPLES",
    "EVAL",
    "environment_file",
    "record_environment",
    "read_environment",
    "default_run_dir",
    "check_new_run_dir",
    "write_config",
    "read_run_config",
    "to_toml",
    "sample_grid_path",
    "last_sample_grid",
]

CONFIG = "config.toml"
DEEPSPEED_CONFIG = "deepspeed_config.json"
ENVIRONMENT = "environment.json"
METRICS = "metrics.jsonl"
EVALS = "evals.jsonl"
CHECKPOINTS = "checkpoints"
EMA = "ema"
LATEST = "latest"
SAMPLES = "samples"
EVAL = "eval"

_SAFE = re.compile(r"[^A-Za-z0-9._+-]+")


def _sanitise(name: str) -> str:
    return _SAFE.sub("_", name.replace("/", "_")).strip("_") or "x"


def default_run_dir(cfg: RunConfig, root: str | Path = "runs") -> Path:
    """``runs/<objective>-<backbone>-<timestamp>``."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path(root) / f"{_sanitise(cfg.objective.name)}-{_sanitise(cfg.backbone.name)}-{stamp}"


def check_new_run_dir(path: Path) -> None:
    """Refuse to start a new run over an existing one (use ``--resume`` for that)."""
    if (path / CONFIG).exists() or (path / CHECKPOINTS).exists():
        raise ConfigError(
            f"run directory {str(path)!r} already holds a run; continue it with --resume {path} or choose another --out"
        )
    if path.exists() and not path.is_dir():
        raise ConfigError(f"--out {str(path)!r} is a file, not a directory")


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        if not v:
            return "{}"
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def _toml_key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k)


def to_toml(data: dict[str, Any]) -> str:
    """TOML text for nested dicts of strings, numbers, booleans and lists (None dropped)."""
    lines: list[str] = []
    tables: list[tuple[str, dict[str, Any]]] = []
    for k, v in data.items():
        if v is None:
            continue
        if isinstance(v, dict):
            tables.append((k, v))
        else:
            lines.append(f"{_toml_key(k)} = {_toml_value(v)}")

    def emit(prefix: str, table: dict[str, Any]) -> None:
        lines.append("")
        lines.append(f"[{prefix}]")
        sub = []
        for k, v in table.items():
            if v is None:
                continue
            if isinstance(v, dict) and v:
                sub.append((f"{prefix}.{_toml_key(k)}", v))
            else:
                lines.append(f"{_toml_key(k)} = {_toml_value(v)}")
        for name, t in sub:
            emit(name, t)

    for k, v in tables:
        emit(_toml_key(k), v)
    return "\n".join(lines).lstrip("\n") + "\n"


def write_config(run_dir: Path, cfg: RunConfig) -> None:
    write_text(run_dir / CONFIG, to_toml(to_dict(cfg)))


def environment_file(resumed_from: int | None = None) -> str:
    """``environment.json`` for a new run; a resumed session (which may run elsewhere) keeps the first
    session's record and writes ``environment-resume-step{N}.json``."""
    return ENVIRONMENT if resumed_from is None else f"environment-resume-step{resumed_from}.json"


def record_environment(
    run_dir: Path, world_size: int, facts: dict[str, Any], resumed_from: int | None = None
) -> dict[str, Any]:
    """Collect this process's software and hardware (:func:`~flowbench.engine.environment.collect_environment`)
    with the run's ``facts`` and ``resumed_from``, write it (:func:`environment_file`) and return it."""
    from flowbench.engine.environment import collect_environment

    environment = collect_environment(world_size, extra={**facts, "resumed_from": resumed_from})
    write_json(Path(run_dir) / environment_file(resumed_from), environment)
    return environment


def read_environment(run_dir: str | Path) -> dict[str, Any]:
    """The run's ``environment.json`` (``{}`` if absent)."""
    path = Path(run_dir) / ENVIRONMENT
    return json.loads(path.read_text()) if path.is_file() else {}


def read_run_config(
    run_dir: str | Path, overrides: Sequence[str] = (), values: dict[str, Any] | None = None
) -> RunConfig:
    """The resolved config saved in ``run_dir`` (with optional ``--set`` overrides, then ``values`` by
    dotted key: see :func:`~flowbench.config.load_config`)."""
    path = Path(run_dir) / CONFIG
    if not path.is_file():
        raise CheckpointError(f"{str(run_dir)!r} is not a flowbench run directory (no config.toml)")
    return load_config(path, overrides, values=values)


def sample_grid_path(run_dir: str | Path, step: int) -> Path:
    """Where the trainer writes the sample grid of ``step``: ``samples/step{N}.png``."""
    return Path(run_dir) / SAMPLES / f"step{step}.png"


def last_sample_grid(run_dir: str | Path) -> tuple[int, Path] | None:
    """``(step, path)`` of the latest grid written at :func:`sample_grid_path`, or None."""
    grids = []
    for p in (Path(run_dir) / SAMPLES).glob("step*.png"):
        m = re.fullmatch(r"step(\d+)\.png", p.name)
        if m:
            grids.append((int(m.group(1)), p))
    return max(grids) if grids else None
