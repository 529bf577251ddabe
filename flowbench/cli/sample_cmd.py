"""``flowbench sample``: draw samples from a trained run (its EMA weights).

Example::

    flowbench sample runs/vfm-dit-micro_1-20260101-120000 --num 64 --steps 100 --temperature 0.9 \\
        --cfg 1.5 --out samples.png --uncertainty

writes ``samples.png`` (a grid), ``samples.npz`` (``indices``, ``images`` uint8 ``(N, C, H, W)``,
``labels``, and with ``--uncertainty`` ``entropy`` ``(T, N, h, w)`` at ``entropy_times``) and, for
objectives with a categorical posterior and ``--uncertainty``, ``samples-uncertainty.png``.
"""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from flowbench.errors import ConfigError

__all__ = ["sample"]


@click.command("sample")
@click.argument("run_dir", type=click.Path())
@click.option("--num", type=int, default=64, show_default=True, help="Number of samples.")
@click.option("--steps", type=int, default=None, help="Sampler steps (default: the run's sample.steps).")
@click.option("--sampler", default=None, help="Sampler name (default: the run's, else the objective's).")
@click.option("--temperature", type=float, default=None, help="Temperature (default: the run's).")
@click.option("--cfg", "guidance", type=float, default=None, help="Classifier-free guidance scale (1 = none).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the samples.")
@click.option("--label", "labels", type=int, multiple=True, help="Class label(s), cycled (default: balanced).")
@click.option("--batch-size", type=int, default=256, show_default=True, help="Samples per forward batch.")
@click.option("--checkpoint", type=int, default=None, help="Training step of the EMA weights (default: latest).")
@click.option("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available).")
@click.option("--uncertainty", is_flag=True, help="Also write posterior-entropy heat maps (categorical objectives).")
@click.option("--out", type=click.Path(), default=None, help="PNG grid path (default: RUN_DIR/samples/...).")
def sample(
    run_dir: str,
    num: int,
    steps: int | None,
    sampler: str | None,
    temperature: float | None,
    guidance: float | None,
    seed: int,
    labels: tuple[int, ...],
    batch_size: int,
    checkpoint: int | None,
    device: str | None,
    uncertainty: bool,
    out: str | None,
) -> None:
    """Sample a grid of images from RUN_DIR's EMA weights."""
    from flowbench.config import replace_given
    from flowbench.engine.rundir import SAMPLES
    from flowbench.engine.sampling import generate, load_run
    from flowbench.engine.uncertainty import DEFAULT_TIMES, save_entropy_maps
    from flowbench.images import save_image_grid, to_uint8
    from flowbench.io import atomic_path

    if num < 1:
        raise ConfigError(f"--num must be >= 1, got {num}")
    run = load_run(run_dir, checkpoint=checkpoint, device=device)
    settings = replace_given(
        run.config.sample, sampler=sampler, steps=steps, guidance=guidance, temperature=temperature
    )
    if uncertainty and not run.objective.categorical:
        raise ConfigError(
            f"objective {run.config.objective.name!r} has no categorical posterior over codes, so --uncertainty "
            "has no entropy to show; drop --uncertainty"
        )
    times = tuple(t for t in DEFAULT_TIMES if t < 1.0) if uncertainty else ()
    label_list = [labels[i % len(labels)] for i in range(num)] if labels else None
    # generate builds the sampler before any work: a pairing error is one line (exit 2)
    gen = generate(run, num, settings, seed=seed, batch_size=batch_size, labels=label_list, record_times=times)
    name, steps = gen.sampler, settings.steps
    png = Path(out) if out else run.run_dir / SAMPLES / f"sample-step{run.step}-{name}-{steps}steps-seed{seed}.png"
    if png.suffix.lower() != ".png":
        png = png.with_name(png.name + ".png")
    save_image_grid(gen.images, png)
    arrays = {"indices": gen.indices.numpy(), "images": to_uint8(gen.images).numpy(), "labels": gen.labels.numpy()}
    if gen.trajectory:
        arrays["entropy"] = np.stack([p.entropy.numpy() for p in gen.trajectory])
        arrays["entropy_times"] = np.array([p.t for p in gen.trajectory])
    npz = png.with_suffix(".npz")
    with atomic_path(npz) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
    click.echo(f"{num} samples ({gen.sampler}, {steps} steps, NFE {gen.nfe}) from step {run.step}: {png}, {npz}")
    if uncertainty:
        if not gen.trajectory:
            raise ConfigError(f"sampler {name!r} recorded no entropies; use the objective's default sampler")
        maps = save_entropy_maps(
            gen.trajectory, gen.images, png.with_name(png.stem + "-uncertainty.png"), run.objective.codebook_size
        )
        click.echo(f"entropy maps: {maps}")


command = sample
