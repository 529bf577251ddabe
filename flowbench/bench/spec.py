"""Benchmark files: a TOML schema, its validation, and the matrix of cells it expands to.

A benchmark compares objectives under one shared budget. Its file has these tables::

    [bench]
    name = "fmnist-cpu"                 # default: the file's stem
    description = "..."
    objectives = ["a", "b"]             # labels; a label is the objective's registry name unless
                                        # [overrides.<label>] sets objective.name
    seeds = [0, 1, 2]
    temperatures = [0.8, 0.9, 1.0]      # optional: evaluated on each finished cell's final EMA
                                        # weights, for objectives whose temperature has an effect
    guidance = [1.0, 1.5]               # optional: likewise, classifier-free guidance scales

    [base]                              # a RunConfig in `flowbench run`'s own schema, shared by all
    backbone = "dit-micro/1"
    [base.train]
    steps = 2000
    [base.eval]
    every = 250                         # required: FID against iterations needs evaluations

    [overrides.b]                       # optional, per objective label, RunConfig schema
    sample = { sampler = "some-jump-sampler" }

    [report]                            # optional: what the report compares
    reference = "a"                     # speed-ups are reference vs every other objective
    target_fid = 20.0                   # default: per pair, the worse final FID of the two
    interval = "bootstrap"              # or "minmax"
    level = 0.95
    resamples = 2000
    notes = "..."                       # free text shown with the speed-ups (e.g. a published claim)

    [profiles.quick]                    # optional, selected with --quick (or --profile quick):
    bench = { seeds = [0] }             # tables merged over the ones above
    base = { train = { steps = 200 } }

Everything is checked up front (keys, values, component names and options, sampler/objective
pairing); a problem is one :class:`~flowbench.errors.ConfigError` naming the file and the key.
"""

from __future__ import annotations

import copy
import difflib
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowbench.build import _check_options
from flowbench.config import RunConfig, apply_overrides, load_config, to_dict
from flowbench.errors import ConfigError, FlowbenchError
from flowbench.plugins import registry

__all__ = ["ReportSettings", "Cell", "BenchSpec", "load_spec", "parse_spec"]

_TOP = ("bench", "base", "overrides", "report", "profiles")
_BENCH = ("name", "description", "objectives", "seeds", "temperatures", "guidance")
_REPORT = ("reference", "target_fid", "interval", "level", "resamples", "notes")
_COMPONENTS = ("objective", "backbone", "tokenizer")


@dataclass(frozen=True)
class ReportSettings:
    """What ``flowbench report`` compares (see the module docstring)."""

    reference: str | None = None
    target_fid: float | None = None
    interval: str = "bootstrap"
    level: float = 0.95
    resamples: int = 2000
    notes: str = ""


@dataclass(frozen=True)
class Cell:
    """One training run of the matrix: an objective label and a seed.

    Attributes:
        label: the objective's label in the benchmark.
        seed: the training seed (``train.seed``).
        config: the complete, validated run configuration.
        sweep: ``(temperature, guidance)`` pairs evaluated on the final EMA weights.
    """

    label: str
    seed: int
    config: RunConfig
    sweep: tuple[tuple[float, float], ...] = ()

    @property
    def name(self) -> str:
        """Directory name of the cell: ``<label>-seed<seed>`` with unsafe characters replaced."""
        return f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', self.label)}-seed{self.seed}"


@dataclass
class BenchSpec:
    """A validated benchmark: settings, matrix and report options."""

    name: str
    description: str
    path: str
    profile: str | None
    sets: list[str]
    objectives: list[str]
    seeds: list[int]
    temperatures: list[float]
    guidance: list[float]
    base: dict[str, Any]
    overrides: dict[str, dict[str, Any]]
    report: ReportSettings
    cells: list[Cell] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly description (written to the results directory as ``bench.json``)."""
        return {
            "name": self.name,
            "description": self.description,
            "path": self.path,
            "profile": self.profile,
            "sets": list(self.sets),
            "objectives": list(self.objectives),
            "seeds": list(self.seeds),
            "temperatures": list(self.temperatures),
            "guidance": list(self.guidance),
            "base": self.base,
            "overrides": self.overrides,
            "report": vars(self.report).copy(),
            "cells": [{"name": c.name, "label": c.label, "seed": c.seed, "sweep": c.sweep} for c in self.cells],
        }


def _err(where: str, message: str) -> ConfigError:
    return ConfigError(f"{where}: {message}")


def _check_keys(where: str, table: Any, allowed: tuple[str, ...] | list[str], prefix: str = "") -> dict[str, Any]:
    if not isinstance(table, dict):
        raise _err(where, f"{prefix.rstrip('.') or 'the file'} must be a table")
    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.5)
            hint = f"did you mean '{prefix}{close[0]}'? " if close else ""
            raise _err(
                where,
                f"unknown key '{prefix}{key}'; {hint}allowed: {', '.join(prefix + a for a in allowed) or '(none)'}",
            )
    return table


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _components_as_tables(where: str, data: dict[str, Any], prefix: str) -> dict[str, Any]:
    data = copy.deepcopy(data)
    for key in _COMPONENTS:
        if isinstance(data.get(key), str):
            data[key] = {"name": data[key]}
        if key in data:
            _check_keys(where, data[key], ("name", "options"), f"{prefix}{key}.")
    return data


def _number_list(where: str, key: str, value: Any, *, kind: type, positive: bool) -> list:
    if not isinstance(value, list) or not value:
        raise _err(where, f"{key} must be a non-empty list, got {value!r}")
    out = []
    for v in value:
        ok = isinstance(v, int) if kind is int else isinstance(v, (int, float))
        if isinstance(v, bool) or not ok or (positive and v <= 0):
            what = "integers" if kind is int else "numbers"
            raise _err(where, f"{key} must hold {'positive ' if positive else ''}{what}, got {v!r}")
        out.append(kind(v))
    if len(set(out)) != len(out):
        raise _err(where, f"{key} has duplicates: {value!r}")
    return out


def _entry_attr(kind: str, name: str, attr: str) -> Any:
    return getattr(registry(kind).get(name).factory, attr, None)


def _check_names(where: str, label: str, cfg: RunConfig) -> None:
    """Component names and options exist; the sampler integrates the objective's state."""
    ctx = f"objective {label!r}"
    try:
        for kind, comp in (("objective", cfg.objective), ("backbone", cfg.backbone), ("tokenizer", cfg.tokenizer)):
            entry = registry(kind).get(comp.name)
            _check_options(kind, entry.name, entry.factory, dict(comp.options))
        registry("dataset").get(cfg.data.dataset)
        registry("evaluator").get(cfg.eval.evaluator)
        if cfg.eval.feature_extractor:
            registry("feature_extractor").get(cfg.eval.feature_extractor)
        sampler = cfg.sample.sampler_for(registry("objective").get(cfg.objective.name).factory)
        if sampler:
            state = _entry_attr("sampler", sampler, "state_kind")
            wanted = _entry_attr("objective", cfg.objective.name, "state_kind")
            if isinstance(state, str) and isinstance(wanted, str) and state != wanted:
                raise _err(
                    where,
                    f"{ctx}: sampler {sampler!r} integrates {state} states but objective {cfg.objective.name!r} "
                    f"has {wanted} states; set [overrides.{label}] sample.sampler to a {wanted}-state sampler",
                )
    except ConfigError as exc:
        if str(exc).startswith(where):
            raise
        raise _err(where, f"{ctx}: {exc}") from None
    except FlowbenchError as exc:
        raise _err(where, f"{ctx}: {exc}") from None


def _uses_temperature(objective_name: str) -> bool:
    return _entry_attr("objective", objective_name, "temperature_on") is not None


def parse_spec(
    data: dict[str, Any], where: str = "<benchmark>", profile: str | None = None, sets: Sequence[str] = ()
) -> BenchSpec:
    """Validate a benchmark given as a dict (a parsed TOML file) and expand its matrix.

    ``sets`` are ``key=value`` overrides of ``[base]`` (``flowbench run``'s ``--set`` syntax, e.g.
    ``data.root=/data/imagenet``), applied after the profile."""
    _check_keys(where, data, _TOP)
    profiles = data.get("profiles", {})
    _check_keys(where, profiles, list(profiles), "profiles.")
    if profile is not None:
        if profile not in profiles:
            names = ", ".join(profiles) or "(none defined)"
            raise _err(where, f"no profile {profile!r}; profiles: {names}")
        chosen = profiles[profile]
        _check_keys(where, chosen, ("bench", "base", "overrides", "report"), f"profiles.{profile}.")
        data = _merge({k: v for k, v in data.items() if k != "profiles"}, chosen)
    bench = _check_keys(where, data.get("bench", {}), _BENCH, "bench.")
    if "objectives" not in bench:
        raise _err(where, "bench.objectives is required (a list of objective names)")
    objectives = bench["objectives"]
    if not isinstance(objectives, list) or not objectives or not all(isinstance(o, str) and o for o in objectives):
        raise _err(where, f"bench.objectives must be a non-empty list of names, got {objectives!r}")
    if len(set(objectives)) != len(objectives):
        raise _err(where, f"bench.objectives has duplicates: {objectives!r}")
    seeds = _number_list(where, "bench.seeds", bench.get("seeds", [0]), kind=int, positive=False)
    temperatures = _number_list(
        where, "bench.temperatures", bench.get("temperatures", [1.0]), kind=float, positive=True
    )
    guidance = _number_list(where, "bench.guidance", bench.get("guidance", [1.0]), kind=float, positive=True)
    for key in ("name", "description"):
        if key in bench and not isinstance(bench[key], str):
            raise _err(where, f"bench.{key} must be a string")
    default_name = Path(where).stem if where != "<benchmark>" else "bench"
    name = bench.get("name", default_name)
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise _err(where, f"bench.name must be letters, digits, '.', '_' or '-', got {name!r}")

    base = _components_as_tables(where, data.get("base", {}), "base.")
    if sets:
        try:
            base = _components_as_tables(where, apply_overrides(copy.deepcopy(base), list(sets)), "base.")
        except ConfigError as exc:
            raise _err(where, str(exc)) from None
    if "objective" in base:
        raise _err(
            where,
            "base.objective is not allowed: list objectives in bench.objectives, options per objective "
            "in [overrides.<objective>]",
        )
    base.pop("out", None)
    # overrides may name a listed label or any registered objective (so an objective can be dropped from
    # bench.objectives, or a profile can shorten the list, without deleting its settings)
    known = list(dict.fromkeys([*objectives, *registry("objective").names()]))
    overrides = _check_keys(where, data.get("overrides", {}), known, "overrides.")
    overrides = {k: _components_as_tables(where, v, f"overrides.{k}.") for k, v in overrides.items()}

    report_raw = _check_keys(where, data.get("report", {}), _REPORT, "report.")
    report = _report_settings(where, report_raw, objectives)

    try:
        defaults = to_dict(RunConfig())
    except FlowbenchError as exc:  # pragma: no cover - defaults are valid
        raise _err(where, str(exc)) from None
    per_objective: list[tuple[str, RunConfig, tuple[tuple[float, float], ...]]] = []
    for label in objectives:
        merged = _merge(base, overrides.get(label, {}))
        merged.setdefault("objective", {})
        merged["objective"].setdefault("name", label)
        try:
            cfg = load_config(base=_merge(defaults, merged))
        except ConfigError as exc:
            section = f"[overrides.{label}]" if label in overrides else "[base]"
            raise _err(where, f"{section}: {exc}") from None
        if cfg.eval.every <= 0:
            raise _err(where, "base.eval.every must be > 0: a benchmark evaluates FID against iterations")
        if cfg.eval.every > cfg.train.steps:
            raise _err(where, f"eval.every ({cfg.eval.every}) exceeds train.steps ({cfg.train.steps}): no evaluation")
        _check_names(where, label, cfg)
        temps = temperatures if _uses_temperature(cfg.objective.name) else [cfg.sample.temperature]
        per_objective.append((label, cfg, tuple((float(t), float(g)) for t in temps for g in guidance)))
    # Seed-major order: a benchmark stopped early still compares every objective on the seeds it finished.
    cells: list[Cell] = []
    for seed in seeds:
        for label, cfg, sweep in per_objective:
            seeded = load_config(base=_merge(to_dict(cfg), {"train": {"seed": seed}}))
            cells.append(Cell(label=label, seed=seed, config=seeded, sweep=sweep))
    return BenchSpec(
        name=name,
        description=bench.get("description", ""),
        path=where,
        profile=profile,
        sets=list(sets),
        objectives=list(objectives),
        seeds=seeds,
        temperatures=temperatures,
        guidance=guidance,
        base=base,
        overrides=overrides,
        report=report,
        cells=cells,
    )


def _report_settings(where: str, raw: dict[str, Any], objectives: list[str]) -> ReportSettings:
    ref = raw.get("reference")
    if ref is not None and ref not in objectives:
        raise _err(where, f"report.reference {ref!r} is not one of bench.objectives: {', '.join(objectives)}")
    target = raw.get("target_fid")
    if target is not None and (isinstance(target, bool) or not isinstance(target, (int, float)) or target <= 0):
        raise _err(where, f"report.target_fid must be a number > 0, got {target!r}")
    interval = raw.get("interval", "bootstrap")
    if interval not in ("bootstrap", "minmax"):
        raise _err(where, f"report.interval must be 'bootstrap' or 'minmax', got {interval!r}")
    level = raw.get("level", 0.95)
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
        raise _err(where, f"report.level must be a number in (0, 1), got {level!r}")
    resamples = raw.get("resamples", 2000)
    if isinstance(resamples, bool) or not isinstance(resamples, int) or resamples < 1:
        raise _err(where, f"report.resamples must be a positive integer, got {resamples!r}")
    notes = raw.get("notes", "")
    if not isinstance(notes, str):
        raise _err(where, f"report.notes must be a string, got {notes!r}")
    return ReportSettings(
        notes=notes,
        reference=ref,
        target_fid=float(target) if target is not None else None,
        interval=interval,
        level=float(level),
        resamples=resamples,
    )


def load_spec(path: str | Path, profile: str | None = None, sets: Sequence[str] = ()) -> BenchSpec:
    """Read, validate and expand the benchmark file ``path`` (optionally with a profile and
    ``--set`` overrides of ``[base]``)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"benchmark file {str(p)!r} does not exist")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    return parse_spec(data, where=str(p), profile=profile, sets=sets)
