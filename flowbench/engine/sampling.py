"""Sampling from a run: load its EMA weights, draw code grids with a sampler, decode them.

:func:`load_run` rebuilds a trained run from its directory alone (``config.toml`` and
``ema/step{N}.safetensors``; no DeepSpeed); :func:`generate` draws samples from it. The training
engine hands evaluators the same :class:`LoadedRun` (with the live EMA weights), so an evaluator can
call :func:`generate` on it.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from flowbench.build import build_backbone, build_objective, build_sampler, build_tokenizer
from flowbench.config import RunConfig, SampleConfig
from flowbench.devices import resolve_device
from flowbench.engine.checkpoint import read_ema
from flowbench.engine.rundir import read_environment, read_run_config
from flowbench.errors import CheckpointError, ConfigError
from flowbench.interfaces import BackboneSpec, Objective, Sampler, Tokenizer, TrajectoryPoint

__all__ = ["LoadedRun", "Generated", "load_run", "generate", "balanced_labels"]


@dataclass
class LoadedRun:
    """A trained run, ready to sample.

    Attributes:
        run_dir: the run directory.
        config: its resolved :class:`RunConfig`.
        step: the training step of the weights.
        tokenizer: the run's tokenizer (eval mode, on ``device``).
        objective: the run's objective (on ``device``).
        model: the backbone with the EMA weights, in eval mode.
        sampler_name: the sampler of the run's ``[sample]`` settings (the config's, else the objective's
            default).
        sampler: that sampler, built (and checked against the objective) once; :meth:`sampler_for`
            builds another only for another name.
        grid_shape: ``(h, w)`` of the code grids.
        num_classes: number of real classes (label ``num_classes`` is the null class).
        device: where everything lives.
        environment: ``environment.json`` of the run ({} if absent).
        precision: ``"fp32"`` or ``"bf16"`` (bf16 autocast while sampling on GPUs).
    """

    run_dir: Path
    config: RunConfig
    step: int
    tokenizer: Tokenizer
    objective: Objective
    model: nn.Module
    sampler_name: str
    grid_shape: tuple[int, int]
    num_classes: int
    device: torch.device
    environment: dict[str, Any] = field(default_factory=dict)
    precision: str = "fp32"
    sampler: Sampler | None = None

    @classmethod
    def assemble(
        cls,
        run_dir: Path,
        config: RunConfig,
        step: int,
        tokenizer: Tokenizer,
        objective: Objective,
        model: nn.Module,
        spec: BackboneSpec,
        device: torch.device,
        environment: dict[str, Any],
        precision: str,
        sampler: Sampler,
    ) -> LoadedRun:
        """The one place a :class:`LoadedRun` is put together (by :func:`load_run` from a run directory,
        and by the training engine around its live EMA model); ``sampler`` is the one built for
        ``config.sample`` (:func:`~flowbench.build.build_sampler`)."""
        return cls(
            run_dir=run_dir,
            config=config,
            step=step,
            tokenizer=tokenizer,
            objective=objective,
            model=model,
            sampler_name=config.sample.sampler_for(objective),
            grid_shape=tuple(spec.grid_shape),
            num_classes=spec.num_classes,
            device=device,
            environment=environment,
            precision=precision,
            sampler=sampler,
        )

    def sampler_for(self, sample: SampleConfig) -> tuple[str, Sampler]:
        """``(name, sampler)`` for ``sample``: the run's own sampler when ``sample`` names it (or none),
        else the named one, built and checked against the objective here.

        Raises:
            IncompatibleError: the sampler does not integrate the objective's kind of state.
        """
        name = sample.sampler_for(self.objective)
        if name == self.sampler_name and self.sampler is not None:
            return name, self.sampler
        return name, build_sampler(name, self.objective, objective_name=self.config.objective.name)


@dataclass
class Generated:
    """Samples drawn by :func:`generate`.

    Attributes:
        indices: ``(N, h, w)`` int64 code grids (CPU).
        images: ``(N, C, H, W)`` float images in ``[-1, 1]`` (CPU).
        labels: ``(N,)`` int64 class labels used (CPU).
        nfe: network evaluations per sample.
        sampler: the sampler's registry name.
        trajectory: posterior entropy ``(N, h, w)`` at each recorded time (categorical objectives).
    """

    indices: Tensor
    images: Tensor
    labels: Tensor
    nfe: int
    sampler: str
    trajectory: list[TrajectoryPoint] = field(default_factory=list)


def load_run(run_dir: str | Path, checkpoint: int | None = None, device: str | torch.device | None = None) -> LoadedRun:
    """Rebuild a run from its directory with the EMA weights of step ``checkpoint`` (default: latest).

    Raises:
        CheckpointError: not a run directory, or no EMA copy for that step.
    """
    run_dir = Path(run_dir)
    cfg = read_run_config(run_dir)
    step, state, meta = read_ema(run_dir, checkpoint)
    if "spec" not in meta:
        raise CheckpointError(f"EMA checkpoint of step {step} in {str(run_dir)!r} lacks its backbone spec")
    spec_data = json.loads(meta["spec"])
    spec = BackboneSpec(**{**spec_data, "grid_shape": tuple(spec_data["grid_shape"])})
    dev = resolve_device(device)
    with torch.random.fork_rng(devices=[]):
        # as in training: a tokenizer without weights (pretrained=false) is initialised from the seed
        torch.manual_seed(cfg.train.seed)
        tokenizer = build_tokenizer(cfg.tokenizer, cfg.tokenizer_checkpoint).to(dev).eval()
    objective = build_objective(cfg.objective, tokenizer.codebook()).to(dev)
    model = build_backbone(cfg.backbone, spec)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(
            f"EMA weights of step {step} do not fit backbone {cfg.backbone.name!r}: {str(exc).splitlines()[0]}"
        ) from None
    model = model.to(dev).eval().requires_grad_(False)
    sampler = build_sampler(cfg.sample.sampler, objective, objective_name=cfg.objective.name)
    precision = json.loads(meta.get("precision", '"fp32"'))
    return LoadedRun.assemble(
        run_dir, cfg, step, tokenizer, objective, model, spec, dev, read_environment(run_dir), precision, sampler
    )


def balanced_labels(num: int, num_classes: int) -> Tensor:
    """``0, 1, ..., C-1, 0, 1, ...``: every class equally often (to within one)."""
    return torch.arange(num, dtype=torch.int64) % num_classes


def _autocast(run: LoadedRun) -> contextlib.AbstractContextManager:
    if run.device.type == "cuda" and run.precision == "bf16":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _labels(run: LoadedRun, num: int, labels: Sequence[int] | Tensor | None) -> Tensor:
    """``(num,)`` int64 labels: :func:`balanced_labels`, or the given ones checked."""
    if labels is None:
        return balanced_labels(num, run.num_classes)
    y = torch.as_tensor(labels, dtype=torch.int64).flatten()
    if len(y) != num:
        raise ConfigError(f"got {len(y)} labels for {num} samples")
    if y.min() < 0 or y.max() > run.num_classes:
        raise ConfigError(f"labels must be in [0, {run.num_classes}] ({run.num_classes} = unconditional)")
    return y


def _collect_entropies(trajectory: list[TrajectoryPoint], into: dict[float, list[Tensor]]) -> None:
    """Append a batch's entropy snapshots (CPU) per time; requested times that round to the same grid
    step come once."""
    seen: set[float] = set()
    for point in trajectory:
        if point.entropy is not None and float(point.t) not in seen:
            seen.add(float(point.t))
            into.setdefault(float(point.t), []).append(point.entropy.float().cpu())


@torch.no_grad()
def generate(
    run: LoadedRun,
    num: int,
    sample: SampleConfig | None = None,
    *,
    seed: int = 0,
    batch_size: int = 256,
    labels: Sequence[int] | Tensor | None = None,
    record_times: Sequence[float] = (),
) -> Generated:
    """Draw ``num`` samples from ``run``'s EMA model with the settings ``sample`` (default: the run's
    ``[sample]``; its ``num`` is the grid size of training, not used here) and decode them.

    Deterministic: the same arguments give the same samples (one generator seeded with ``seed``
    draws every batch in turn). Labels default to :func:`balanced_labels`.

    Raises:
        IncompatibleError: the sampler does not integrate the objective's kind of state.
        ConfigError: bad ``num``, ``sample.steps``, ``batch_size`` or labels.
    """
    sample = run.config.sample if sample is None else sample
    steps, guidance, temperature = sample.steps, sample.guidance, sample.temperature
    if num < 1 or steps < 1 or batch_size < 1:
        raise ConfigError(f"num, steps and batch_size must be >= 1, got {num}, {steps}, {batch_size}")
    name, smp = run.sampler_for(sample)
    y = _labels(run, num, labels)
    was_training = run.model.training
    run.model.eval()
    gen = torch.Generator(run.device).manual_seed(seed)
    all_idx, all_img, traj = [], [], {}
    nfe = smp.nfe(steps)
    try:
        for start in range(0, num, batch_size):
            yb = y[start : start + batch_size].to(run.device)
            with _autocast(run):
                res = smp.sample(
                    run.model,
                    run.objective,
                    yb,
                    steps,
                    grid_shape=run.grid_shape,
                    guidance=guidance,
                    temperature=temperature,
                    generator=gen,
                    record_times=record_times,
                )
            nfe = res.nfe
            idx = res.indices.long()
            img = run.tokenizer.decode(idx).float().clamp(-1, 1)
            all_idx.append(idx.cpu())
            all_img.append(img.cpu())
            _collect_entropies(res.trajectory, traj)
    finally:
        run.model.train(was_training)
    return Generated(
        indices=torch.cat(all_idx),
        images=torch.cat(all_img),
        labels=y.clone(),
        nfe=nfe,
        sampler=name,
        trajectory=[TrajectoryPoint(t=t, entropy=torch.cat(v)) for t, v in sorted(traj.items())],
    )
