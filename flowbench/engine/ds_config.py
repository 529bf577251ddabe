"""The DeepSpeed configuration of a run, generated from its :class:`~flowbench.config.RunConfig`.

Batch sizes follow DeepSpeed's identity

.. math:: \\text{train\\_batch\\_size} = \\text{micro} \\times \\text{accum} \\times \\text{world},

where ``train.batch_size`` is the global (effective) batch of one optimizer step, as in the papers
(Purrception: 256), so the same config means the same optimisation on 1 or 64 processes.

Precision ``auto`` is bf16 on GPUs and fp32 on the CPU (bf16 is ~20x slower there). The ZeRO stage
defaults to 2 on GPUs and 0 on the CPU. A user's DeepSpeed JSON (``train.deepspeed_config``) is
merged over the generated one (theirs wins), except batch sizes that disagree with the run's, which
are reported as a :class:`~flowbench.errors.ConfigError`: the data loader must feed exactly the
micro-batch DeepSpeed expects.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowbench.config import RunConfig
from flowbench.errors import ConfigError

__all__ = ["DeepSpeedPlan", "plan_deepspeed", "merge_user_config"]

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
        user_keys: top-level keys that came from the user's JSON.
        manual_clip: for ZeRO 0 in fp32, the clipping norm that flowbench applies itself with
            torch's fused ``clip_grad_norm_`` (DeepSpeed's own clipping on that path is a Python loop
            over parameters, and it does not report the norm); ``None`` when DeepSpeed clips.
    """

    config: dict[str, Any]
    micro_batch: int
    grad_accum: int
    world_size: int
    precision: str
    zero_stage: int
    client_optimizer: bool = True
    user_keys: list[str] = field(default_factory=list)
    manual_clip: float | None = None


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
        raise ConfigError(f"train.deepspeed_config {path!r} does not exist; give the path of a DeepSpeed JSON file")
    try:
        data = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"train.deepspeed_config {path!r} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"train.deepspeed_config {path!r} must hold a JSON object")
    return data


def merge_user_config(ours: dict[str, Any], theirs: dict[str, Any], source: str = "deepspeed config") -> dict[str, Any]:
    """``theirs`` deep-merged over ``ours``; batch sizes that disagree raise :class:`ConfigError`."""
    for key in _BATCH_KEYS:
        if key in theirs and theirs[key] != ours[key]:
            mb, ga = ours["train_micro_batch_size_per_gpu"], ours["gradient_accumulation_steps"]
            world = ours["train_batch_size"] // (mb * ga)
            raise ConfigError(
                f"{source} sets {key}={theirs[key]!r} but this run has {key}={ours[key]} "
                f"(train.batch_size={ours['train_batch_size']} = micro {mb} x grad_accum {ga} x {world} processes); "
                f"remove {key} from the JSON or set train.batch_size / train.grad_accum to agree"
            )
    return _deep_merge(ours, theirs)


def plan_deepspeed(cfg: RunConfig, world_size: int, on_gpu: bool) -> DeepSpeedPlan:
    """Generate (and merge) the DeepSpeed config for ``cfg`` on ``world_size`` processes."""
    t = cfg.train
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
    if t.deepspeed_config:
        theirs = _read_user_config(t.deepspeed_config)
        config = merge_user_config(config, theirs, source=f"train.deepspeed_config {t.deepspeed_config!r}")
        user_keys = sorted(theirs)
        client_optimizer = "optimizer" not in theirs
        if t.warmup_steps > 0 and ("scheduler" in theirs or not client_optimizer):
            raise ConfigError(
                f"train.warmup_steps={t.warmup_steps} and train.deepspeed_config {t.deepspeed_config!r} "
                f"(which names its own {'scheduler' if 'scheduler' in theirs else 'optimizer'}) both set the "
                f"learning rate; drop one of them"
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
        user_keys=user_keys,
        manual_clip=manual_clip,
    )
