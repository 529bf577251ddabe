"""``train(config)``: build a run's components, hand them to DeepSpeed, and train.

:func:`train` reads top to bottom, one step a line: check the config, start the process group,
build every component, start DeepSpeed, resume or create the run directory, record the
environment, and hand the loop to :class:`~flowbench.engine.trainer.Trainer`.

Order matters for users: every component (tokenizer, objective, backbone, sampler, evaluator,
DeepSpeed config, token data) is built and validated *before* the run directory is created, so a
bad name or value fails with one line and leaves nothing on disk.

Randomness: the backbone is initialised from ``train.seed`` on every rank (DeepSpeed also broadcasts
rank 0's weights); training then draws from ``seed + rank`` (torch, numpy, python) and from the
objective's generator seeded per rank, all saved in every checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from flowbench.build import build_backbone, build_objective, build_sampler, build_tokenizer, create
from flowbench.config import RunConfig
from flowbench.engine import checkpoint as ckpt
from flowbench.engine.data import ShardedOrder, TokenBatches
from flowbench.engine.distributed import DistInfo, barrier, broadcast_object, init_process_group
from flowbench.engine.ds_config import DeepSpeedPlan, plan_deepspeed, write_plan
from flowbench.engine.ema import EMA
from flowbench.engine.metrics_log import RunLogs
from flowbench.engine.progress import Progress
from flowbench.engine.rng import seed_everything
from flowbench.engine.rundir import check_new_run_dir, default_run_dir, record_environment, write_config
from flowbench.engine.sampling import LoadedRun
from flowbench.engine.token_data import TokenSet, load_token_set
from flowbench.engine.trainer import Trainer
from flowbench.errors import ConfigError, FlowbenchError
from flowbench.interfaces import Backbone, BackboneSpec, Objective, Sampler, Tokenizer
from flowbench.plugins import registry

__all__ = ["TrainResult", "train", "check_names", "make_optimizer", "make_scheduler"]


@dataclass
class TrainResult:
    """What :func:`train` returns (on every rank).

    Attributes:
        run_dir: the run directory.
        steps: the last step trained.
        final_loss: the loss at the last step (averaged over ranks).
        samples_per_s: training throughput of this session (global samples per second, excluding
            checkpoints, sample grids and evaluations).
        wall_s: wall time of the training loop.
    """

    run_dir: Path
    steps: int
    final_loss: float
    samples_per_s: float
    wall_s: float


def _cast_hooks(module: nn.Module, dtype: torch.dtype) -> None:
    """Feed float inputs to ``module`` in ``dtype`` (bf16 weights) and return fp32 outputs, so
    objectives keep their maths (paths, targets, losses) in fp32 whatever the training precision.

    The backbone then sees bf16 states and times (times in ``[0, 1]`` to about 3 significant
    digits), as in DeepSpeed's bf16 training of DiT-style models; the EMA copy used for sampling is
    fp32."""

    def pre(_: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(a.to(dtype) if isinstance(a, Tensor) and a.is_floating_point() else a for a in args)

    def post(_: nn.Module, __: Any, out: Any) -> Any:
        return out.float() if isinstance(out, Tensor) and out.is_floating_point() else out

    module.register_forward_pre_hook(pre)
    module.register_forward_hook(post)


def make_optimizer(params: list[nn.Parameter], cfg: RunConfig) -> torch.optim.Optimizer:
    """AdamW with the run's settings: multi-tensor (``foreach``) on the CPU, ``fused`` on GPUs."""
    t = cfg.train
    on_gpu = bool(params) and params[0].is_cuda
    kind = {"fused": True} if on_gpu else {"foreach": True}
    return torch.optim.AdamW(params, lr=t.lr, betas=t.betas, weight_decay=t.weight_decay, **kind)


def make_scheduler(optimizer: torch.optim.Optimizer | None, cfg: RunConfig) -> Any:
    """The linear warm-up of ``train.warmup_steps`` (see :class:`~flowbench.config.TrainConfig`), or
    ``None``. DeepSpeed steps it once per optimizer step and saves its state in every checkpoint."""
    warmup = cfg.train.warmup_steps
    if warmup <= 0 or optimizer is None:
        return None
    # LambdaLR's factor for its k-th step() is f(k); DeepSpeed's first optimizer step runs at f(0).
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda k: min(1.0, (k + 1) / warmup))


def _on_main(dist: DistInfo, fn: Callable[[], Any]) -> Any:
    """Run ``fn`` on rank 0; a user error there is raised on every rank (no rank hangs)."""
    result, error = None, None
    if dist.is_main:
        try:
            result = fn()
        except FlowbenchError as exc:
            error = (type(exc), str(exc))
    error = broadcast_object(error)
    if error is not None:
        cls, msg = error
        raise cls(msg)
    return result


@dataclass
class _Components:
    """Everything a run is built from, made and checked before anything is written."""

    tokenizer: Tokenizer
    objective: Objective
    sampler: Sampler
    evaluator: Callable[[int, Any], dict[str, Any]] | None
    tokens: TokenSet
    spec: BackboneSpec
    backbone: Backbone
    order: ShardedOrder
    ema: EMA


def _build_components(
    cfg: RunConfig, dist: DistInfo, plan: DeepSpeedPlan, evaluator: Callable[[int, Any], dict[str, Any]] | None
) -> _Components:
    """Tokenizer, objective, sampler (checked against the objective once), evaluator (rank 0), token
    data, backbone (initialised from ``train.seed``), data order and EMA."""
    seed_everything(cfg.train.seed)
    tokenizer = build_tokenizer(cfg.tokenizer, cfg.tokenizer_checkpoint).to(dist.device).eval()
    objective = build_objective(cfg.objective, tokenizer.codebook()).to(dist.device)
    sampler = build_sampler(cfg.sample.sampler, objective, objective_name=cfg.objective.name)
    if evaluator is None and cfg.eval.every > 0:
        evaluator = _on_main(dist, lambda: create("evaluator", cfg.eval.evaluator, cfg, **cfg.eval.options))
    tokens = load_token_set(cfg, tokenizer, dist)
    spec = objective.backbone_spec(tuple(tokenizer.grid_shape), tokens.num_classes)
    torch.manual_seed(cfg.train.seed)
    backbone = build_backbone(cfg.backbone, spec).to(dist.device)
    order = ShardedOrder(len(tokens.codes), dist.world_size, dist.rank, plan.micro_batch, cfg.train.seed)
    ema = EMA(backbone, cfg.train.ema_decay, cfg.train.ema_warmup, zero3=plan.zero_stage == 3, keep=dist.is_main)
    if plan.precision == "bf16":
        _cast_hooks(backbone, torch.bfloat16)
    return _Components(tokenizer, objective, sampler, evaluator, tokens, spec, backbone, order, ema)


def _start_engine(backbone: nn.Module, cfg: RunConfig, plan: DeepSpeedPlan, dist: DistInfo) -> Any:
    """``deepspeed.initialize`` with the planned config (and the client AdamW/warm-up when planned)."""
    import deepspeed

    params = [p for p in backbone.parameters() if p.requires_grad]
    optimizer = make_optimizer(params, cfg) if plan.client_optimizer else None
    try:
        engine, _, _, _ = deepspeed.initialize(
            model=backbone,
            model_parameters=params,
            optimizer=optimizer,
            lr_scheduler=make_scheduler(optimizer, cfg) if plan.client_scheduler else None,
            config=plan.config,
        )
    except (AssertionError, ValueError) as exc:  # DeepSpeed's config checks
        if not plan.user_keys:
            raise
        raise ConfigError(f"DeepSpeed rejected the merged config ({cfg.train.deepspeed_config}): {exc}") from None
    engine.train()
    if dist.world_size == 1 and plan.zero_stage == 0:
        engine.enable_backward_allreduce = False  # nothing to average over; saves a pass over the gradients
    return engine


def _training_generator(cfg: RunConfig, dist: DistInfo) -> torch.Generator:
    """The objective's generator, seeded per rank; the global RNGs are reseeded with ``seed + rank``."""
    generator = torch.Generator(dist.device).manual_seed(cfg.train.seed * 1_000_003 + 7919 * dist.rank + 1)
    seed_everything(cfg.train.seed + dist.rank)
    return generator


def _resolve_run_dir(cfg: RunConfig, out: str | Path | None, resume: Path | None, dist: DistInfo) -> Path:
    if resume is not None:
        ckpt.check_resumable(resume)
        return resume
    chosen = out or cfg.out
    path = Path(chosen) if chosen else default_run_dir(cfg)
    path = Path(broadcast_object(str(path)))  # one timestamp for all ranks
    check_new_run_dir(path)
    return path


def _resume(
    run_dir: Path,
    cfg: RunConfig,
    engine: Any,
    parts: _Components,
    generator: torch.Generator,
    dist: DistInfo,
    logs: RunLogs,
) -> int:
    """Continue from the last checkpoint: restore it, refuse a run already at ``train.steps``, and drop
    what the killed session logged after it. Returns the checkpoint's step."""
    start = ckpt.resume(run_dir, engine, parts.order, parts.ema, generator, dist.rank)
    if start >= cfg.train.steps:
        raise ConfigError(
            f"{run_dir} is already at step {start} of train.steps={cfg.train.steps}; "
            f"pass --steps N with N > {start} to train further"
        )
    logs.truncate_after(start)
    return start


def _run_facts(cfg: RunConfig, plan: DeepSpeedPlan, dist: DistInfo, tokens: TokenSet) -> dict[str, Any]:
    """What this run adds to the environment record: precision, parallelism, batch split, tokens."""
    return {
        "precision": plan.precision,
        "zero_stage": plan.zero_stage,
        "micro_batch": plan.micro_batch,
        "grad_accum": plan.grad_accum,
        "global_batch": cfg.train.batch_size,
        "backend": dist.backend,
        "device": str(dist.device),
        "tokens": {"path": str(tokens.path), **tokens.describe},
    }


def _write_run_dir(
    run_dir: Path, cfg: RunConfig, plan: DeepSpeedPlan, dist: DistInfo, parts: _Components, resumed_from: int | None
) -> dict[str, Any]:
    """Rank 0 writes ``config.toml`` (on resume too: e.g. more ``train.steps``, which a later resume
    continues from), the merged DeepSpeed config and the environment record; returns the record (``{}``
    on other ranks)."""
    if dist.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_config(run_dir, cfg)
        write_plan(plan, run_dir)
    barrier()
    if not dist.is_main:
        return {}
    return record_environment(run_dir, dist.world_size, _run_facts(cfg, plan, dist, parts.tokens), resumed_from)


def _live_run(
    run_dir: Path, cfg: RunConfig, plan: DeepSpeedPlan, dist: DistInfo, parts: _Components, step: int, env: dict
) -> LoadedRun | None:
    """What evaluators and sample grids see on rank 0: the run with the live EMA weights."""
    if not dist.is_main:
        return None
    return LoadedRun.assemble(
        run_dir=run_dir,
        config=cfg,
        step=step,
        tokenizer=parts.tokenizer,
        objective=parts.objective,
        model=parts.ema.model,
        spec=parts.spec,
        device=dist.device,
        environment=env,
        precision=plan.precision,
        sampler=parts.sampler,
    )


def _started(
    cfg: RunConfig, plan: DeepSpeedPlan, dist: DistInfo, parts: _Components, run_dir: Path, resumed: bool
) -> str:
    """The line that opens the progress output."""
    params = sum(p.numel() for p in parts.backbone.parameters() if p.requires_grad)
    return (
        f"{'resuming' if resumed else 'training'} {cfg.objective.name} on {cfg.backbone.name} "
        f"({params / 1e6:.2f}M params), "
        f"{dist.world_size} process(es) on {dist.device.type}, {plan.precision}, ZeRO {plan.zero_stage}, "
        f"batch {cfg.train.batch_size} = {plan.micro_batch} x {plan.grad_accum} x {dist.world_size}; "
        f"run dir {run_dir}"
    )


def check_names(cfg: RunConfig) -> None:
    """Fail fast (before DeepSpeed starts) on a missing or unknown component name."""
    if not cfg.objective.name:
        names = ", ".join(registry("objective").names())
        raise ConfigError(f"no objective given; pass --objective NAME (choices: {names})")
    registry("objective").get(cfg.objective.name)
    registry("backbone").get(cfg.backbone.name)
    registry("tokenizer").get(cfg.tokenizer.name)
    if cfg.sample.sampler:
        registry("sampler").get(cfg.sample.sampler)
    if not cfg.data.tokens:
        registry("dataset").get(cfg.data.dataset)
    if cfg.eval.every > 0:
        registry("evaluator").get(cfg.eval.evaluator)


def train(
    config: RunConfig,
    out: str | Path | None = None,
    resume: str | Path | None = None,
    evaluator: Callable[[int, Any], dict[str, Any]] | None = None,
) -> TrainResult:
    """Train ``config`` with DeepSpeed (one process, or every rank of a ``torchrun``/``deepspeed`` job).

    Args:
        config: the run configuration (validated here).
        out: the run directory (default: ``config.out`` or ``runs/<objective>-<backbone>-<time>``).
        resume: a run directory to continue from its last checkpoint (``config`` should be the one
            saved there, possibly with more ``train.steps``).
        evaluator: called as ``evaluator(step, run)`` on rank 0 every ``eval.every`` steps; default:
            the registered evaluator ``config.eval.evaluator`` when ``eval.every > 0``.

    Returns:
        A :class:`TrainResult`.

    Raises:
        FlowbenchError: bad names or values (nothing written), a non-finite loss
            (:class:`~flowbench.engine.trainer.NonFiniteLossError`), an unusable checkpoint.
        TrainingInterrupted: SIGINT/SIGTERM; a checkpoint was saved first.
    """
    cfg = config.validate()
    check_names(cfg)
    dist = init_process_group()
    plan = plan_deepspeed(cfg, dist.world_size, dist.device.type == "cuda")
    cfg = plan.run_config or cfg  # the batch the user's DeepSpeed JSON decided
    resumed = resume is not None
    run_dir = _resolve_run_dir(cfg, out, Path(resume) if resumed else None, dist)
    parts = _build_components(cfg, dist, plan, evaluator)  # everything checked; nothing written yet
    engine = _start_engine(parts.backbone, cfg, plan, dist)
    generator = _training_generator(cfg, dist)

    logs = RunLogs.open(run_dir, enabled=dist.is_main)
    start_step = _resume(run_dir, cfg, engine, parts, generator, dist, logs) if resumed else 0
    environment = _write_run_dir(run_dir, cfg, plan, dist, parts, start_step if resumed else None)
    view = _live_run(run_dir, cfg, plan, dist, parts, start_step, environment)
    trainer = Trainer(
        cfg=cfg,
        dist=dist,
        engine=engine,
        objective=parts.objective,
        batches=TokenBatches(parts.tokens.codes, parts.tokens.labels, parts.order, dist.device),
        generator=generator,
        ema=parts.ema,
        run_dir=run_dir,
        logs=logs,
        start_step=start_step,
        view=view,
        evaluator=parts.evaluator,
        metadata=ckpt.spec_metadata(parts.spec, {"precision": plan.precision}),
        manual_clip=plan.manual_clip,
        keep_checkpoints=cfg.train.keep_checkpoints,
        wall_offset=logs.wall_offset() if resumed else 0.0,
    )
    progress = Progress(cfg.train.steps, start_step, enabled=dist.is_main)
    if dist.is_main:
        progress.message(_started(cfg, plan, dist, parts, run_dir, resumed))
    try:
        result = trainer.fit(progress)
    finally:
        progress.close()
    return TrainResult(run_dir, result.steps, result.final_loss, result.samples_per_s, result.wall_s)
