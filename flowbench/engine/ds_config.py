"""The DeepSpeed configuration of a run, generated from its :class:`~flowbench.config.RunConfig`.

Batch sizes follow DeepSpeed's identity

.. math:: \\text{train\\_batch\\_size} = \\text{micro} \\times \\text{accum} \\times \\text{world},

where ``train.batch_size`` is the global (effective) batch of one optimizer step, as in the papers
(Purrception: 256), so the same config means the same optimisation on 1 or 64 processes.

Precision ``auto`` is bf16 on GPUs and fp32 on the CPU (bf16 is ~20x slower there). The ZeRO stage
defaults to 2 on GPUs and 0 on the CPU.

A user's DeepSpeed JSON (``flowbench run --deepspeed_config ds.json``, i.e. ``train.deepspeed_config``)
is merged over the generated one (theirs wins):

* ``"auto"`` values are filled from the run config, as Hugging Face's integration does
  (:data:`AUTO_FILLS`: batch sizes, ``gradient_clipping``, the optimizer's ``lr``/``betas``/``eps``/
  ``weight_decay``, the scheduler's warm-up and step counts, ``bf16``/``fp16.enabled``, the ZeRO stage;
  ZeRO bucket sizes set to ``"auto"`` are left to DeepSpeed's defaults). Any other ``"auto"`` is an error.
* Batch fields the JSON gives decide the batch; the missing ones are derived by the rule above, as
  DeepSpeed derives them (with ``train.grad_accum`` / ``train.batch_size`` where two are missing).
  ``train.batch_size`` and ``train.grad_accum`` then take the derived values, so ``config.toml``,
  ``metrics.jsonl`` and ``environment.json`` describe the batch DeepSpeed used. Only a real
  contradiction fails: the JSON's three fields disagreeing with the rule, a non-default
  ``train.batch_size`` / ``train.grad_accum`` that differs from the JSON's, or a batch that does not
  divide; the one line names both values.

The merged config is written to ``deepspeed_config.json`` in the run directory.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowbench.config import RunConfig, TrainConfig
from flowbench.errors import ConfigError

__all__ = [
    "DeepSpeedPlan",
    "plan_deepspeed",
    "merge_user_config",
    "fill_auto",
    "resolve_batch",
    "write_plan",
    "AUTO_FILLS",
]

_BATCH_KEYS = ("train_batch_size", "train_micro_batch_size_per_gpu", "gradient_accumulation_steps")


@dataclass
class DeepSpeedPlan:
    """The resolved engine settings.

    Attributes:
        config: the dict passed to ``deepspeed.initialize``.
        micro_batch: samples per process per forward pass.
        grad_accum: micro-batches per optimizer step.
        world_size: processes.
        precision: ``"fp32"`` or ``"bf16"``.
        zero_stage: the ZeRO stage in effect.
        client_optimizer: whether flowbench passes its AdamW (False when the user's JSON names an
            ``optimizer``).
        client_scheduler: whether flowbench passes its warm-up schedule (False when the user's JSON
            names a ``scheduler``).
        user_keys: top-level keys that came from the user's JSON.
        manual_clip: for ZeRO 0 in fp32, the clipping norm that flowbench applies itself with
            torch's fused ``clip_grad_norm_`` (DeepSpeed's own clipping on that path is a Python loop
            over parameters, and it does not report the norm); ``None`` when DeepSpeed clips.
        run_config: the run config with the batch this plan uses (see :func:`plan_deepspeed`).
    """

    config: dict[str, Any]
    micro_batch: int
    grad_accum: int
    world_size: int
    precision: str
    zero_stage: int
    client_optimizer: bool = True
    client_scheduler: bool = True
    user_keys: list[str] = field(default_factory=list)
    manual_clip: float | None = None
    run_config: RunConfig | None = None


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _read_user_config(path: str) -> dict[str, Any]:
    p = Path(path).expanduser()
    if not p.is_file():
        raise ConfigError(f"--deepspeed_config {path!r} does not exist; give the path of a DeepSpeed JSON file")
    try:
        data = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--deepspeed_config {path!r} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"--deepspeed_config {path!r} must hold a JSON object")
    return data


#: ``"auto"`` keys filled from the run config (dotted paths into the DeepSpeed JSON) and where from.
AUTO_FILLS: dict[str, str] = {
    "train_batch_size": "train.batch_size",
    "train_micro_batch_size_per_gpu": "train.batch_size / (train.grad_accum x processes)",
    "gradient_accumulation_steps": "train.grad_accum",
    "gradient_clipping": "train.grad_clip",
    "optimizer.params.lr": "train.lr",
    "optimizer.params.betas": "train.betas",
    "optimizer.params.eps": "1e-8 (AdamW's)",
    "optimizer.params.weight_decay": "train.weight_decay",
    "scheduler.params.warmup_num_steps": "train.warmup_steps",
    "scheduler.params.warmup_max_lr": "train.lr",
    "scheduler.params.warmup_min_lr": "0",
    "scheduler.params.total_num_steps": "train.steps",
    "bf16.enabled": "train.precision",
    "fp16.enabled": "false (flowbench trains fp32 or bf16)",
    "zero_optimization.stage": "train.zero_stage",
}

#: ``"auto"`` keys removed, so that DeepSpeed uses its own default.
AUTO_DROPS = frozenset(
    {
        "zero_optimization.reduce_bucket_size",
        "zero_optimization.allgather_bucket_size",
        "zero_optimization.stage3_prefetch_bucket_size",
        "zero_optimization.stage3_param_persistence_threshold",
        "zero_optimization.stage3_max_live_parameters",
        "zero_optimization.stage3_max_reuse_distance",
        "zero_optimization.sub_group_size",
    }
)


def _auto_paths(data: Any, prefix: str = "") -> list[str]:
    if isinstance(data, dict):
        return [p for k, v in data.items() for p in _auto_paths(v, f"{prefix}{k}.")]
    return [prefix[:-1]] if isinstance(data, str) and data.lower() == "auto" else []


def _set_path(data: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        data = data[part]
    if value is _DROP:
        del data[last]
    else:
        data[last] = value


_DROP = object()


def fill_auto(theirs: dict[str, Any], values: dict[str, Any], source: str) -> dict[str, Any]:
    """``theirs`` with every ``"auto"`` replaced by ``values[path]`` (or dropped, :data:`AUTO_DROPS`).

    Raises:
        ConfigError: an ``"auto"`` that flowbench cannot fill (the line names it and what can be).
    """
    out = copy.deepcopy(theirs)
    for path in _auto_paths(out):
        if path in AUTO_DROPS:
            _set_path(out, path, _DROP)
        elif path in values:
            _set_path(out, path, values[path])
        else:
            raise ConfigError(
                f'{source} sets {path}="auto", which flowbench cannot fill; give a value '
                f'("auto" is filled for: {", ".join(sorted([*AUTO_FILLS, *AUTO_DROPS]))})'
            )
    return out


def _is_auto(value: Any) -> bool:
    return isinstance(value, str) and value.lower() == "auto"


@dataclass
class _Batch:
    batch: int
    micro: int
    accum: int


def resolve_batch(cfg: RunConfig, theirs: dict[str, Any], world: int, source: str) -> _Batch:
    """The batch of a run whose DeepSpeed JSON is ``theirs`` (see the module doc).

    The JSON's non-``"auto"`` batch fields are taken as given; a ``train.batch_size`` or
    ``train.grad_accum`` that differs from its default counts as given too; the rest follows from
    ``train_batch = micro x accum x world``.
    """
    defaults = TrainConfig()
    t = cfg.train
    names = {
        "train_batch_size": "batch",
        "train_micro_batch_size_per_gpu": "micro",
        "gradient_accumulation_steps": "accum",
    }
    given: dict[str, tuple[int, str]] = {}
    for key, short in names.items():
        value = theirs.get(key)
        if value is None or _is_auto(value):
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f'{source} sets {key}={value!r}; it must be a positive integer or "auto"')
        given[short] = (value, f"{key}={value} ({source})")
    ours = {
        "batch": (t.batch_size, defaults.batch_size, "train.batch_size", "train_batch_size"),
        "accum": (t.grad_accum, defaults.grad_accum, "train.grad_accum", "gradient_accumulation_steps"),
    }
    for short, (value, default, key, ds_key) in ours.items():
        if value == default and not _is_auto(theirs.get(ds_key)):
            continue
        if short in given and given[short][0] != value:
            raise ConfigError(
                f'{given[short][1]} contradicts {key}={value}; drop one of them (or set the JSON\'s value to "auto")'
            )
        given.setdefault(short, (value, f"{key}={value}"))

    def fail(what: str) -> ConfigError:
        return ConfigError(
            f"{what}; DeepSpeed needs train_batch_size = micro x gradient_accumulation_steps x {world} processes"
        )

    b, m, a = given.get("batch"), given.get("micro"), given.get("accum")
    if b and m and a:
        if b[0] != m[0] * a[0] * world:
            raise fail(f"{b[1]} contradicts {m[1]} x {a[1]} x {world} processes = {m[0] * a[0] * world}")
        return _Batch(b[0], m[0], a[0])
    if not b and not m and not a:
        b = (t.batch_size, f"train.batch_size={t.batch_size}")
    if m and a:
        return _Batch(m[0] * a[0] * world, m[0], a[0])
    if b and m:
        if b[0] % (m[0] * world):
            raise fail(f"{b[1]} is not a multiple of {m[1]} x {world} processes")
        return _Batch(b[0], m[0], b[0] // (m[0] * world))
    if m:  # micro alone: one micro-batch per step unless train.grad_accum says otherwise
        return _Batch(m[0] * t.grad_accum * world, m[0], t.grad_accum)
    accum = a[0] if a else t.grad_accum
    batch = b if b else (t.batch_size, f"train.batch_size={t.batch_size}")
    if batch[0] % (accum * world):
        raise fail(f"{batch[1]} is not divisible by gradient_accumulation_steps {accum} x {world} processes")
    return _Batch(batch[0], batch[0] // (accum * world), accum)


def merge_user_config(ours: dict[str, Any], theirs: dict[str, Any], source: str = "deepspeed config") -> dict[str, Any]:
    """``theirs`` deep-merged over ``ours``; batch sizes that disagree raise :class:`ConfigError`
    (``theirs`` has had its ``"auto"`` values filled and its batch resolved)."""
    for key in _BATCH_KEYS:
        if key in theirs and theirs[key] != ours[key]:
            raise ConfigError(f"{source} sets {key}={theirs[key]!r} but this run has {key}={ours[key]}")
    return _deep_merge(ours, theirs)


def plan_deepspeed(cfg: RunConfig, world_size: int, on_gpu: bool) -> DeepSpeedPlan:
    """Generate (and merge) the DeepSpeed config for ``cfg`` on ``world_size`` processes.

    ``plan.run_config`` is ``cfg`` with the batch the user's JSON decided (``cfg`` itself is not
    changed); train with that one.
    """
    t = cfg.train
    theirs: dict[str, Any] = {}
    source = ""
    if t.deepspeed_config:
        source = f"--deepspeed_config {t.deepspeed_config!r}"
        theirs = _read_user_config(t.deepspeed_config)
        batch = resolve_batch(cfg, theirs, world_size, Path(t.deepspeed_config).name)
        if (batch.batch, batch.accum) != (t.batch_size, t.grad_accum):
            t = dataclasses.replace(t, batch_size=batch.batch, grad_accum=batch.accum)
            cfg = dataclasses.replace(cfg, train=t)
    per_step = t.grad_accum * world_size
    if t.batch_size % per_step:
        raise ConfigError(
            f"train.batch_size={t.batch_size} is not divisible by grad_accum x processes = "
            f"{t.grad_accum} x {world_size}; choose a multiple of {per_step}"
        )
    micro = t.batch_size // per_step
    precision = t.precision if t.precision != "auto" else ("bf16" if on_gpu else "fp32")
    stage = t.zero_stage if t.zero_stage is not None else (2 if on_gpu else 0)
    config: dict[str, Any] = {
        "train_batch_size": t.batch_size,
        "train_micro_batch_size_per_gpu": micro,
        "gradient_accumulation_steps": t.grad_accum,
        "gradient_clipping": t.grad_clip,
        "zero_optimization": {"stage": stage},
        "bf16": {"enabled": precision == "bf16"},
        "zero_allow_untested_optimizer": True,
        "steps_per_print": 1 << 62,
        "wall_clock_breakdown": False,
    }
    user_keys: list[str] = []
    client_optimizer = True
    client_scheduler = True
    if t.deepspeed_config:
        auto_warmup = _is_auto(theirs.get("scheduler", {}).get("params", {}).get("warmup_num_steps"))
        values = {
            "train_batch_size": t.batch_size,
            "train_micro_batch_size_per_gpu": micro,
            "gradient_accumulation_steps": t.grad_accum,
            "gradient_clipping": t.grad_clip,
            "optimizer.params.lr": t.lr,
            "optimizer.params.betas": list(t.betas),
            "optimizer.params.eps": 1e-8,
            "optimizer.params.weight_decay": t.weight_decay,
            "scheduler.params.warmup_num_steps": t.warmup_steps,
            "scheduler.params.warmup_max_lr": t.lr,
            "scheduler.params.warmup_min_lr": 0.0,
            "scheduler.params.total_num_steps": t.steps,
            "bf16.enabled": precision == "bf16",
            "fp16.enabled": False,
            "zero_optimization.stage": stage,
        }
        theirs = fill_auto(theirs, values, source)
        config = merge_user_config(config, theirs, source=source)
        user_keys = sorted(theirs)
        client_optimizer = "optimizer" not in theirs
        client_scheduler = "scheduler" not in theirs
        if t.warmup_steps > 0 and not auto_warmup and ("scheduler" in theirs or not client_optimizer):
            raise ConfigError(
                f"train.warmup_steps={t.warmup_steps} and {source} "
                f"(which names its own {'scheduler' if 'scheduler' in theirs else 'optimizer'}) both set the "
                f'learning rate; drop one of them (or set the scheduler\'s warmup_num_steps to "auto")'
            )
        stage = int(config.get("zero_optimization", {}).get("stage", stage))
        if config.get("bf16", {}).get("enabled"):
            precision = "bf16"
        elif config.get("fp16", {}).get("enabled"):
            precision = "fp16"
        else:
            precision = "fp32"
    manual_clip = None
    if stage == 0 and precision == "fp32":
        manual_clip = float(config.get("gradient_clipping", 0.0))
        config["gradient_clipping"] = 0.0  # DeepSpeed's default is 1.0: say explicitly that it must not clip
    return DeepSpeedPlan(
        config=config,
        micro_batch=micro,
        grad_accum=t.grad_accum,
        world_size=world_size,
        precision=precision,
        zero_stage=stage,
        client_optimizer=client_optimizer,
        client_scheduler=client_scheduler,
        user_keys=user_keys,
        manual_clip=manual_clip,
        run_config=cfg,
    )


def write_plan(plan: DeepSpeedPlan, run_dir: str | Path) -> Path:
    """Write the merged DeepSpeed config as ``deepspeed_config.json`` in ``run_dir`` (atomically)."""
    from flowbench.engine.rundir import DEEPSPEED_CONFIG
    from flowbench.io import write_json

    path = Path(run_dir) / DEEPSPEED_CONFIG
    write_json(path, plan.config)
    return path
