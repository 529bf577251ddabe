"""Typed run configuration: dataclasses, TOML files and ``--set key=value`` overrides.

A :class:`RunConfig` is built from defaults, then a TOML file, then ``--set`` overrides, and is
validated up front: an unknown key names the allowed keys (and the closest one), a bad value names
the expected type or the allowed values. The resolved config is saved next to a run's results.

Example TOML::

    objective = { name = "vfm", options = { z_loss_weight = 1e-5 } }
    backbone = { name = "dit-xl/2" }

    [train]
    steps = 400000
    batch_size = 256
    lr = 1e-4

Overrides use dotted keys: ``--set train.lr=3e-4 --set objective.name=cfm
--set objective.options.time_sampling=logit-normal``. Values are parsed as TOML literals
(``3e-4``, ``true``, ``[0.9, 0.999]``), falling back to a plain string.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import tomllib
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from flowbench.errors import ConfigError

__all__ = [
    "ComponentConfig",
    "DataConfig",
    "TrainConfig",
    "SampleConfig",
    "EvalConfig",
    "RunConfig",
    "load_config",
    "apply_overrides",
    "parse_override",
    "set_value",
    "merge",
    "check_keys",
    "unknown_key",
    "replace_given",
    "sampler_name",
    "from_dict",
    "to_dict",
]

Precision = Literal["auto", "fp32", "bf16"]


@dataclass
class ComponentConfig:
    """A registered component by name, with options passed to its factory."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class DataConfig:
    """Where training codes come from: a dataset tokenized on the fly, or a token cache."""

    dataset: str = "fashion-mnist"
    split: str = "train"
    root: str | None = None
    image_size: int | None = None
    tokens: str | None = None
    num_workers: int = 0


@dataclass
class TrainConfig:
    """Optimisation settings.

    Paper (Purrception, ImageNet): AdamW lr 1e-4, betas 0.9/0.999, wd 0.01, clip 1.0, EMA 0.9999,
    global batch 256, bf16, ZeRO-2. The defaults here are sized for a laptop CPU (a bare
    ``flowbench run --objective NAME`` finishes in minutes): 600 steps of batch 32 at lr 3e-4.
    ``batch_size`` is the global batch of one optimizer step (micro x grad_accum x processes).
    ``warmup_steps``: the learning rate rises linearly over the first ``warmup_steps`` optimizer
    steps, ``lr_k = lr min(1, k / warmup_steps)`` for step ``k = 1, 2, ...``, then stays at ``lr``
    (no decay, as in the paper); 0 = no warm-up.
    """

    steps: int = 600
    batch_size: int = 32
    grad_accum: int = 1
    lr: float = 3e-4
    warmup_steps: int = 0
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    ema_decay: float = 0.9999
    ema_warmup: bool = True
    seed: int = 0
    precision: Precision = "auto"
    zero_stage: int | None = None
    deepspeed_config: str | None = None
    log_every: int = 10
    checkpoint_every: int = 300
    keep_checkpoints: int = 3
    sample_every: int = 300


@dataclass
class SampleConfig:
    """Sampling settings: one value that flows from the run's ``[sample]`` table to every sampler call.

    Sample grids, ``flowbench sample``, evaluation and the benchmark's sweeps all take one of these;
    a command-line flag or a sweep point changes a copy (``dataclasses.replace(cfg.sample, **given)``).

    Attributes:
        sampler: registry name of the sampler, or ``None`` for the objective's ``default_sampler``.
        steps: steps on the uniform time grid.
        guidance: classifier-free guidance scale (1 = the conditional model alone).
        temperature: where the objective applies it (``temperature_on``); ignored otherwise.
        num: samples in a training sample grid.
    """

    sampler: str | None = None
    steps: int = 50
    guidance: float = 1.0
    temperature: float = 1.0
    num: int = 64

    def sampler_for(self, objective: Any) -> str:
        """The sampler's name: ``sampler``, else the ``default_sampler`` of ``objective`` (an objective,
        or its class)."""
        return sampler_name(self.sampler, objective)

    def validate(self, prefix: str = "sample.") -> SampleConfig:
        """Check the values; returns ``self``."""
        _positive(f"{prefix}steps", self.steps)
        _positive(f"{prefix}num", self.num)
        _positive(f"{prefix}temperature", self.temperature)
        return self


@dataclass
class EvalConfig:
    """Periodic evaluation (0 = never) and its settings."""

    every: int = 0
    evaluator: str = "fid"
    num_samples: int = 1000
    feature_extractor: str | None = None
    reference_split: str = "test"
    batch_size: int = 250
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunConfig:
    """Everything a training run needs; saved as ``config.toml`` in the run directory."""

    objective: ComponentConfig = field(default_factory=lambda: ComponentConfig(""))
    backbone: ComponentConfig = field(default_factory=lambda: ComponentConfig("dit-micro/1"))
    tokenizer: ComponentConfig = field(default_factory=lambda: ComponentConfig("vqvae"))
    tokenizer_checkpoint: str | None = None
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    out: str | None = None

    def validate(self) -> RunConfig:
        """Check values that types alone cannot; returns ``self``."""
        for key in ("objective", "backbone", "tokenizer"):
            if not isinstance(getattr(self, key).options, dict):
                raise ConfigError(f"{key}.options must be a table")
        t = self.train
        _positive("train.steps", t.steps)
        _positive("train.batch_size", t.batch_size)
        _positive("train.grad_accum", t.grad_accum)
        _positive("train.lr", t.lr)
        _positive("train.log_every", t.log_every)
        _positive("train.checkpoint_every", t.checkpoint_every)
        _positive("train.keep_checkpoints", t.keep_checkpoints)
        self.sample.validate()
        _positive("eval.num_samples", self.eval.num_samples)
        if not 0.0 <= t.ema_decay < 1.0:
            raise ConfigError(f"train.ema_decay must be in [0, 1), got {t.ema_decay}")
        if t.grad_clip < 0 or t.weight_decay < 0:
            raise ConfigError("train.grad_clip and train.weight_decay must be >= 0")
        if not all(0.0 <= b < 1.0 for b in t.betas):
            raise ConfigError(f"train.betas must be two numbers in [0, 1), got {list(t.betas)}")
        if t.warmup_steps < 0:
            raise ConfigError(f"train.warmup_steps must be >= 0 (0 = no warm-up), got {t.warmup_steps}")
        if t.zero_stage is not None and t.zero_stage not in (0, 1, 2, 3):
            raise ConfigError(f"train.zero_stage must be 0, 1, 2 or 3, got {t.zero_stage}")
        if t.sample_every < 0 or self.eval.every < 0:
            raise ConfigError("train.sample_every and eval.every must be >= 0 (0 = never)")
        return self


def sampler_name(sampler: str | None, objective: Any) -> str:
    """``sampler``, else the ``default_sampler`` of ``objective`` (an objective or its class; ``""`` if
    it has none): the one place where a missing sampler name gets its default."""
    return sampler or str(getattr(objective, "default_sampler", "") or "")


def replace_given(obj: Any, **values: Any) -> Any:
    """``dataclasses.replace(obj, **values)`` with only the values that are not ``None``: command-line
    flags that were given (``replace_given(cfg.sample, steps=args.steps, ...)``)."""
    return dataclasses.replace(obj, **{k: v for k, v in values.items() if v is not None})


def _positive(key: str, value: float) -> None:
    if value <= 0:
        raise ConfigError(f"{key} must be > 0, got {value}")


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is tuple:
        return "a list of " + ", ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is dict or tp is dict:
        return "a table"
    if tp is type(None):
        return "none"
    return getattr(tp, "__name__", str(tp))


def _coerce(key: str, value: Any, tp: Any) -> Any:
    """Check ``value`` against the annotation ``tp``; return it in the annotated type."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin is Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            raise ConfigError(f"{key} must be {_type_name(tp)}, got {value!r}")
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None or (isinstance(value, str) and value.lower() == "none"):
            if type(None) in args:
                return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(key, value, arg)
            except ConfigError:
                continue
        raise ConfigError(f"{key} must be {_type_name(tp)}, got {value!r}")
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise ConfigError(f"{key} must be {_type_name(tp)}, got {value!r}")
        return tuple(_coerce(f"{key}[{i}]", v, a) for i, (v, a) in enumerate(zip(value, args)))
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key} must be a table, got {value!r}")
        return dict(value)
    if dataclasses.is_dataclass(tp):
        if isinstance(value, str) and tp is ComponentConfig:
            return ComponentConfig(value)
        if not isinstance(value, dict):
            raise ConfigError(f"{key} must be a table, got {value!r}")
        return from_dict(tp, value, prefix=f"{key}.")
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key} must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key} must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be a string, got {value!r}")
        return value
    return value


def unknown_key(prefix: str, key: str, allowed: Sequence[str], what: str = "config key") -> ConfigError:
    """The error for key ``prefix + key``: the closest allowed one, and all of them."""
    allowed = list(allowed)
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.5)
    hint = f"did you mean '{prefix}{close[0]}'? " if close else ""
    listed = ", ".join(prefix + a for a in allowed) or "(none)"
    return ConfigError(f"unknown {what} '{prefix}{key}'; {hint}allowed {what.split()[-1]}s: {listed}")


def check_keys(table: Any, allowed: Sequence[str], prefix: str = "", what: str = "config key") -> dict[str, Any]:
    """``table`` if it is a table whose keys are all ``allowed``; else one :class:`ConfigError`."""
    if not isinstance(table, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'the file'} must be a table")
    for key in table:
        if key not in allowed:
            raise unknown_key(prefix, key, allowed, what)
    return table


def from_dict(cls: type, data: dict[str, Any], prefix: str = "") -> Any:
    """Build dataclass ``cls`` from a (nested) dict, validating every key and value."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in names:
            raise unknown_key(prefix, key, names)
        kwargs[key] = _coerce(prefix + key, value, hints[key])
    return cls(**kwargs)


def to_dict(obj: Any) -> dict[str, Any]:
    """A dataclass as plain TOML/JSON-friendly data (tuples become lists, None is dropped)."""

    def clean(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items() if x is not None}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v

    return clean(dataclasses.asdict(obj))


def parse_override(item: str) -> tuple[list[str], Any]:
    """``"train.lr=3e-4"`` -> ``(["train", "lr"], 3e-4)``; values are TOML literals or strings."""
    if "=" not in item:
        raise ConfigError(f"--set expects key=value (e.g. train.lr=3e-4), got {item!r}")
    key, raw = item.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set expects a dotted key such as train.lr, got {key!r}")
    raw = raw.strip()
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key.split("."), value


def set_value(data: dict[str, Any], path: Sequence[str], value: Any) -> dict[str, Any]:
    """Set the dotted key ``path`` of a nested dict (in place, making tables on the way); returns it."""
    node = data
    for part in path[:-1]:
        child = node.get(part)
        if isinstance(child, str) and part in ("objective", "backbone", "tokenizer"):
            child = {"name": child}
        if child is None:
            child = {}
        if not isinstance(child, dict):
            raise ConfigError(f"--set {'.'.join(path)}: {part!r} is not a table")
        node[part] = child
        node = child
    node[path[-1]] = value
    return data


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply ``--set key=value`` items to a nested dict (in place) and return it."""
    for item in overrides:
        set_value(data, *parse_override(item))
    return data


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``extra`` merged over ``base``, table by table, as a new dict (neither input changes)."""
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_config(
    path: str | Path | None = None,
    overrides: Sequence[str] = (),
    base: dict[str, Any] | None = None,
    values: dict[str, Any] | None = None,
) -> RunConfig:
    """Defaults <- ``base`` <- TOML file ``path`` <- ``overrides`` (``--set`` items) <- ``values``
    (typed values by dotted key, e.g. command-line flags: ``{"train.steps": 100}``); validated.

    Raises:
        ConfigError: unreadable file, unknown key, or bad value (the message names it).
    """
    data: dict[str, Any] = to_dict(RunConfig())
    if base:
        data = merge(data, base)
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file {str(p)!r} does not exist")
        try:
            file_data = tomllib.loads(p.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {str(p)!r} is not valid TOML: {exc}") from None
        for key in ("objective", "backbone", "tokenizer"):
            if isinstance(file_data.get(key), str):
                file_data[key] = {"name": file_data[key], "options": {}}
        data = merge(data, file_data)
    for key in ("objective", "backbone", "tokenizer"):
        if isinstance(data.get(key), dict) and not (set(data[key]) <= {"name", "options"}):
            extra = sorted(set(data[key]) - {"name", "options"})
            raise unknown_key(f"{key}.", extra[0], ["name", "options"])
    apply_overrides(data, overrides)
    for key, value in (values or {}).items():
        set_value(data, key.split("."), value)
    return from_dict(RunConfig, data).validate()
