"""``flowbench run``: train an objective on a backbone with DeepSpeed.

Examples::

    flowbench run --objective vfm                      # CPU default: dit-micro/1 on Fashion-MNIST, minutes
    flowbench run --objective cfm --backbone dit-xl --tokenizer llamagen --dataset image-folder \\
        --set data.root=/data/imagenet/train --batch-size 256 --steps 400000
    torchrun --nproc_per_node 8 $(which flowbench) run --config paper.toml
    flowbench run --resume runs/vfm-dit-micro_1-20260101-120000 --steps 4000   # continue (and extend)

Flags override ``--config`` and ``--set``; bad names or values print one line and exit 2 before
anything is written.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from flowbench.config import RunConfig, load_config
from flowbench.errors import ConfigError

__all__ = ["run", "build_run_config"]

_FIXED_ON_RESUME = ("objective", "backbone", "tokenizer")


#: Each flag and the config key it sets.
_FLAG_KEYS = {
    "objective": "objective.name",
    "backbone": "backbone.name",
    "tokenizer": "tokenizer.name",
    "tokenizer_checkpoint": "tokenizer_checkpoint",
    "dataset": "data.dataset",
    "tokens": "data.tokens",
    "steps": "train.steps",
    "batch_size": "train.batch_size",
    "lr": "train.lr",
    "seed": "train.seed",
    "deepspeed_config": "train.deepspeed_config",
}


def build_run_config(config_file: str | None, sets: tuple[str, ...], resume: str | None, **flags: object) -> RunConfig:
    """The run's config: defaults <- ``--config`` <- ``--set`` <- flags (or the resumed run's config).

    Flags are typed values (click parsed them), set by config key as they are."""
    values = {_FLAG_KEYS[name]: value for name, value in flags.items() if value is not None}
    if resume is None:
        return load_config(config_file, sets, values=values)
    if config_file is not None:
        raise ConfigError("--resume continues a run with its saved config.toml; use --set or flags to change it")
    from flowbench.engine.rundir import read_run_config

    saved = read_run_config(resume)
    cfg = read_run_config(resume, sets, values)
    for key in _FIXED_ON_RESUME:
        if getattr(cfg, key).name != getattr(saved, key).name:
            raise ConfigError(
                f"cannot change {key} on resume ({getattr(saved, key).name!r} -> {getattr(cfg, key).name!r}); "
                f"start a new run instead"
            )
    return cfg


@click.command("run")
@click.option("--objective", help="Objective to train (flowbench plugins lists them).")
@click.option("--backbone", help="Backbone network, e.g. dit-micro/1 (CPU default), dit-xl/2.")
@click.option("--tokenizer", help="VQ tokenizer (default: vqvae, the shipped Fashion-MNIST tokenizer).")
@click.option("--tokenizer-checkpoint", type=click.Path(), help="Local weights of the tokenizer.")
@click.option("--dataset", help="Dataset to tokenize and train on (default: fashion-mnist).")
@click.option("--tokens", type=click.Path(), help="Train on a token cache made by `flowbench tokenize`.")
@click.option("--steps", type=int, help="Optimizer steps in total.")
@click.option("--batch-size", type=int, help="Global batch per optimizer step (= micro x grad_accum x processes).")
@click.option("--lr", type=float, help="AdamW learning rate.")
@click.option("--seed", type=int, help="Seed of initialisation, data order and noise.")
@click.option("--config", "config_file", type=click.Path(), help="TOML run config (see docs).")
@click.option(
    "--deepspeed_config",
    "--deepspeed-config",
    "deepspeed_config",
    type=click.Path(),
    help='Your DeepSpeed JSON, merged over flowbench\'s ("auto" values filled from the run config).',
)
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override a config key; repeatable.")
@click.option("--out", type=click.Path(), help="Run directory (default runs/<objective>-<backbone>-<time>).")
@click.option("--resume", type=click.Path(), help="Continue the run in this directory from its last checkpoint.")
@click.option(
    "--local_rank", "--local-rank", "local_rank", type=int, hidden=True, help="Set by the deepspeed launcher."
)
def run(
    objective: str | None,
    backbone: str | None,
    tokenizer: str | None,
    tokenizer_checkpoint: str | None,
    dataset: str | None,
    tokens: str | None,
    steps: int | None,
    batch_size: int | None,
    lr: float | None,
    seed: int | None,
    config_file: str | None,
    deepspeed_config: str | None,
    sets: tuple[str, ...],
    out: str | None,
    resume: str | None,
    local_rank: int | None,
) -> None:
    """Train an objective with DeepSpeed (one process, or every rank under torchrun/deepspeed)."""
    import os

    if local_rank is not None:
        os.environ.setdefault("LOCAL_RANK", str(local_rank))
    cfg = build_run_config(
        config_file,
        sets,
        resume,
        objective=objective,
        backbone=backbone,
        tokenizer=tokenizer,
        tokenizer_checkpoint=tokenizer_checkpoint,
        dataset=dataset,
        tokens=tokens,
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        deepspeed_config=str(Path(deepspeed_config).expanduser().resolve()) if deepspeed_config else None,
    )
    if resume is not None and out is not None and Path(out).resolve() != Path(resume).resolve():
        raise ConfigError("--resume writes into the resumed run directory; drop --out")
    from flowbench.engine import TrainingInterrupted, train

    try:
        result = train(cfg, out=out, resume=resume)
    except TrainingInterrupted as exc:
        if int(os.environ.get("RANK", "0")) == 0:
            click.echo(str(exc), err=True)
        sys.exit(128 + int(exc.signum))
    except KeyboardInterrupt:  # before training started (or a second Ctrl-C): nothing new was saved
        click.echo("Interrupted; no checkpoint was written by this session", err=True)
        sys.exit(130)
    if int(os.environ.get("RANK", "0")) == 0:
        click.echo(
            f"done: {result.steps} steps, final loss {result.final_loss:.4f}, "
            f"{result.samples_per_s:.1f} samples/s, {result.wall_s:.0f} s; run dir {result.run_dir}"
        )
        from flowbench.engine.rundir import last_sample_grid

        last = last_sample_grid(result.run_dir)
        if last is not None:
            click.echo(f"sample grid (EMA weights, step {last[0]}): {last[1]}")


command = run
