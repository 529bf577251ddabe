"""``train(config)``: build a run's components, hand them to DeepSpeed, and train.

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
from flowbench.engine.environment import collect_environment
from flowbench.engine.metrics_log import JsonlLog
from flowbench.engine.progress import Progress
from flowbench.engine.rng import restore_rng, seed_everything
from flowbench.engine.rundir import check_new_run_dir, default_run_dir, write_config, write_environment
from flowbench.engine.sampling import LoadedRun
from flowbench.engine.token_data import load_token_set
from flowbench.engine.trainer import Trainer
from flowbench.errors import CheckpointError, ConfigError, FlowbenchError
from flowbench.io import atomic_path
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


def _save_grid(images: Tensor, path: Path) -> None:
    try:
        from flowbench.images import save_image_grid
    except ImportError:  # pragma: no cover - the images module ships with flowbench
        import torchvision

        with atomic_path(path) as tmp:
            torchvision.utils.save_image((images + 1) / 2, str(tmp), format="png")
        return
    save_image_grid(images, path)


def _resolve_run_dir(cfg: RunConfig, out: str | Path | None, resume: Path | None, dist: DistInfo) -> Path:
    if resume is not None:
        if not (resume / "config.toml").is_file():
            raise CheckpointError(f"--resume {str(resume)!r} is not a flowbench run directory (no config.toml)")
        if ckpt.latest_step(resume) is None:
            raise CheckpointError(f"--resume {str(resume)!r} has no complete checkpoint yet; start it again instead")
        return resume
    chosen = out or cfg.out
    path = Path(chosen) if chosen else default_run_dir(cfg)
    path = Path(broadcast_object(str(path)))  # one timestamp for all ranks
    check_new_run_dir(path)
    return path


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
    resume_dir = Path(resume) if resume is not None else None
    check_names(cfg)
    dist = init_process_group()
    on_gpu = dist.device.type == "cuda"
    plan: DeepSpeedPlan = plan_deepspeed(cfg, dist.world_size, on_gpu)
    cfg = plan.run_config or cfg  # the batch the user's DeepSpeed JSON decided
    run_dir = _resolve_run_dir(cfg, out, resume_dir, dist)

    # ---- build and validate every component (nothing written yet)
    seed_everything(cfg.train.seed)
    tokenizer = build_tokenizer(cfg.tokenizer, cfg.tokenizer_checkpoint).to(dist.device).eval()
    objective = build_objective(cfg.objective, tokenizer.codebook()).to(dist.device)
    sampler = None
    if cfg.train.sample_every > 0 or cfg.eval.every > 0:  # built (and checked against the objective) once
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

    generator = torch.Generator(dist.device).manual_seed(cfg.train.seed * 1_000_003 + 7919 * dist.rank + 1)
    seed_everything(cfg.train.seed + dist.rank)

    # ---- the run directory
    start_step = 0
    wall_offset = 0.0
    metrics = JsonlLog(run_dir / "metrics.jsonl", enabled=dist.is_main)
    evals = JsonlLog(run_dir / "evals.jsonl", enabled=dist.is_main)
    if resume_dir is not None:
        step = ckpt.latest_step(run_dir)
        assert step is not None
        path, client_state = engine.load_checkpoint(str(run_dir / "checkpoints"), tag=ckpt.tag_of(step))
        if path is None or client_state is None:
            raise CheckpointError(f"could not load checkpoint step {step} of {str(run_dir)!r}")
        order.load_state_dict(client_state["data"])
        rank_state = ckpt.load_rank_state(run_dir, step, dist.rank)
        if rank_state is None:
            raise CheckpointError(
                f"checkpoint step {step} of {str(run_dir)!r} has no RNG state for rank {dist.rank}; "
                f"resume with the same number of processes"
            )
        restore_rng(rank_state["rng"], generator)
        _, ema_state, _ = ckpt.read_ema(run_dir, step) if dist.is_main else (None, {}, {})
        ema.load_state_dict(ema_state, int(client_state["ema_updates"]))
        start_step = int(client_state["step"])
        if start_step >= cfg.train.steps:
            raise ConfigError(
                f"{run_dir} is already at step {start_step} of train.steps={cfg.train.steps}; "
                f"pass --steps N with N > {start_step} to train further"
            )
        metrics.truncate_after(start_step)
        evals.truncate_after(start_step)
        kept = metrics.records() if dist.is_main else []
        wall_offset = float(kept[-1].get("wall_s", 0.0)) if kept else 0.0
        if dist.is_main:
            write_config(run_dir, cfg)  # e.g. more train.steps: a later --resume continues from this
            write_plan(plan, run_dir)
    elif dist.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_config(run_dir, cfg)
        write_plan(plan, run_dir)
    barrier()
    environment = None
    if dist.is_main:
        environment = collect_environment(
            dist.world_size,
            extra={
                "precision": plan.precision,
                "zero_stage": plan.zero_stage,
                "micro_batch": plan.micro_batch,
                "grad_accum": plan.grad_accum,
                "global_batch": cfg.train.batch_size,
                "backend": dist.backend,
                "device": str(dist.device),
                "tokens": {"path": str(tokens.path), **tokens.describe},
                "resumed_from": start_step if resume_dir is not None else None,
            },
        )
        # a resumed session may run elsewhere: keep the first session's record and add this one's
        name = "environment.json" if resume_dir is None else f"environment-resume-step{start_step}.json"
        write_environment(run_dir, environment, name)

    view = None
    if dist.is_main:
        view = LoadedRun(
            run_dir=run_dir,
            config=cfg,
            step=start_step,
            tokenizer=tokenizer,
            objective=objective,
            model=ema.model,
            sampler_name=cfg.sample.sampler_for(objective),
            grid_shape=tuple(spec.grid_shape),
            num_classes=spec.num_classes,
            device=dist.device,
            environment=environment or {},
            precision=plan.precision,
            sampler=sampler,
        )
    trainer = Trainer(
        cfg=cfg,
        dist=dist,
        engine=engine,
        objective=objective,
        batches=TokenBatches(tokens.codes, tokens.labels, order, dist.device),
        generator=generator,
        ema=ema,
        run_dir=run_dir,
        start_step=start_step,
        view=view,
        evaluator=evaluator,
        metadata=ckpt.spec_metadata(spec, {"precision": plan.precision}),
        manual_clip=plan.manual_clip,
        keep_checkpoints=cfg.train.keep_checkpoints,
        save_grid=_save_grid,
        wall_offset=wall_offset,
    )
    progress = Progress(cfg.train.steps, start_step, enabled=dist.is_main)
    if dist.is_main:
        what = "resuming" if resume_dir is not None else "training"
        progress.message(
            f"{what} {cfg.objective.name} on {cfg.backbone.name} ({sum(p.numel() for p in params) / 1e6:.2f}M params), "
            f"{dist.world_size} process(es) on {dist.device.type}, {plan.precision}, ZeRO {plan.zero_stage}, "
            f"batch {cfg.train.batch_size} = {plan.micro_batch} x {plan.grad_accum} x {dist.world_size}; "
            f"run dir {run_dir}"
        )
    try:
        result = trainer.fit(progress)
    finally:
        progress.close()
    return TrainResult(run_dir, result.steps, result.final_loss, result.samples_per_s, result.wall_s)
