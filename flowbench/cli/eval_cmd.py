"""``flowbench eval RUN_DIR``: sample a trained run with its EMA weights and compute FID/KID/PR/accuracy.

Example::

    flowbench eval runs/my-run --num-samples 1000 --steps 50 --cfg 1.0 --seed 0 --out eval.json

Settings not given on the command line come from the run's config (``[sample]``, ``[eval]``). The
result (metrics and full provenance, :class:`flowbench.metrics.EvalResult`) is printed as a table and
written atomically as JSON to ``--out`` (default ``RUN_DIR/eval/step<S>-<sampler>-<K>steps-cfg<W>-
t<T>-n<N>-seed<X>-<extractor>.json``).
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from flowbench.metrics.result import EvalResult

__all__ = ["eval_command", "render_table", "default_out"]


def _fmt(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def render_table(result: EvalResult) -> Table:
    """The metrics, then the key provenance, as a rich table."""
    table = Table(title=f"flowbench eval: {result.run_dir} (step {result.step})", show_header=True)
    table.add_column("metric")
    table.add_column("value", justify="right")
    rows = [
        ("FID", result.fid),
        ("KID", f"{result.kid_mean:.4g} ± {result.kid_std:.3g}"),
        ("precision", result.precision),
        ("recall", result.recall),
    ]
    if result.score_name:
        rows.append((result.score_name.replace("_", " "), f"{result.score_mean:.4g} ± {result.score_std:.3g}"))
    if result.class_accuracy is not None:
        rows.append(("class accuracy", result.class_accuracy))
        rows.append(("  classifier on reference", result.reference_class_accuracy))
    for name, value in rows:
        table.add_row(name, _fmt(value))
    table.add_section()
    info = [
        ("objective / backbone", f"{result.objective} / {result.backbone}"),
        ("sampler", f"{result.sampler}, {result.steps} steps, NFE {result.nfe}"),
        ("guidance / temperature", f"{result.guidance:g} / {result.temperature:g}"),
        ("samples / seed", f"{result.num_samples} / {result.seed}"),
        (
            "reference",
            f"{result.reference_dataset} {result.reference_split} ({result.reference_images} images)",
        ),
        (
            "features",
            f"{result.feature_extractor} ({result.feature_layer}, {result.feature_dim}-d, "
            f"sha256 {result.feature_extractor_weights_sha256[:12]})",
        ),
        ("hardware", result.hardware),
        ("wall time", f"{result.eval_wall_s:.1f} s (sampling {result.sample_wall_s:.1f} s)"),
    ]
    for name, value in info:
        table.add_row(name, value, style="dim")
    return table


def default_out(result: EvalResult) -> Path:
    name = (
        f"step{result.step}-{result.sampler}-{result.steps}steps-cfg{result.guidance:g}-t{result.temperature:g}-"
        f"n{result.num_samples}-seed{result.seed}-{result.feature_extractor}.json"
    )
    from flowbench.engine.rundir import EVAL

    return Path(result.run_dir) / EVAL / name


@click.command("eval")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--checkpoint", type=click.IntRange(min=0), default=None, help="Training step (default: latest).")
@click.option("--num-samples", type=click.IntRange(min=4), default=None, help="Samples to generate [eval.num_samples].")
@click.option("--sampler", default=None, help="Sampler name [sample.sampler, else the objective's default].")
@click.option("--steps", type=click.IntRange(min=1), default=None, help="Sampling steps [sample.steps].")
@click.option("--cfg", "guidance", type=float, default=None, help="Classifier-free guidance scale [sample.guidance].")
@click.option("--temperature", type=click.FloatRange(min=0, min_open=True), default=None, help="[sample.temperature].")
@click.option("--seed", type=int, default=None, help="Sampling seed [eval.options.seed, else 0].")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Sampling batch [eval.batch_size].")
@click.option("--feature-extractor", default=None, help="Registered extractor [eval.feature_extractor / dataset's].")
@click.option(
    "--fid-weights",
    type=click.Path(path_type=Path),
    default=None,
    help="Local weights file of the feature extractor (e.g. torch-fidelity's Inception weights offline).",
)
@click.option("--reference-split", default=None, help="Split of real images compared with [eval.reference_split].")
@click.option("--num-reference", type=click.IntRange(min=2), default=None, help="First N reference images [all].")
@click.option("--device", default=None, help="cpu, cuda, cuda:1 ... [cuda if available].")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None, help="JSON file to write.")
def eval_command(
    run_dir: Path,
    checkpoint: int | None,
    num_samples: int | None,
    sampler: str | None,
    steps: int | None,
    guidance: float | None,
    temperature: float | None,
    seed: int | None,
    batch_size: int | None,
    feature_extractor: str | None,
    fid_weights: Path | None,
    reference_split: str | None,
    num_reference: int | None,
    device: str | None,
    out: Path | None,
) -> None:
    """Generate samples from RUN_DIR's EMA weights and compute FID, KID, precision/recall and class accuracy."""
    from flowbench.config import replace_given
    from flowbench.engine.rundir import read_run_config
    from flowbench.engine.sampling import load_run
    from flowbench.errors import ConfigError
    from flowbench.metrics.evaluate import EvalSettings, RunEvaluator

    if not run_dir.is_dir():
        raise ConfigError(f"run directory {str(run_dir)!r} does not exist")
    if fid_weights is not None and not fid_weights.is_file():
        raise ConfigError(f"--fid-weights {str(fid_weights)!r} is not a file")
    if device is not None:
        import torch

        try:
            dev = torch.device(device)
        except RuntimeError:
            raise ConfigError(f"--device {device!r} is not a device (cpu, cuda, cuda:1, ...)") from None
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ConfigError(f"--device {device!r}: no CUDA device is available here; use --device cpu")
    config = read_run_config(run_dir)
    sample = replace_given(config.sample, sampler=sampler, steps=steps, guidance=guidance, temperature=temperature)
    settings = EvalSettings.from_config(
        config,
        sample,
        num_samples=num_samples,
        seed=seed,
        batch_size=batch_size,
        feature_extractor=feature_extractor,
        weights_path=str(fid_weights) if fid_weights else None,
        reference_split=reference_split,
        num_reference=num_reference,
    )
    console = Console(stderr=True)
    evaluator = RunEvaluator(config, settings)  # validates the extractor before loading anything big
    run = load_run(run_dir, checkpoint, device)
    with console.status("reference features (cached after the first time)"):
        evaluator.prepare(run.device)
    with console.status(f"sampling {settings.num_samples} images and scoring them on {run.device}"):
        result = evaluator(run)
    path = result.write(out or default_out(result))
    Console().print(render_table(result))
    click.echo(f"wrote {path}")


command = eval_command
