"""``flowbench bench CONFIG``: run a benchmark's matrix of objectives x seeds, resumably.

Examples::

    flowbench bench benchmarks/fmnist-cpu.toml --quick --out /tmp/q   # the quick profile
    flowbench bench benchmarks/fmnist-cpu.toml --dry-run              # list the cells, train nothing
    flowbench bench benchmarks/imagenet-dit-xl.toml --gpus 0,1,2,3    # one worker per GPU
    flowbench bench benchmarks/fmnist-cpu.toml --workers 2            # two one-thread CPU workers

Run the same command again to continue a stopped benchmark. See :mod:`flowbench.bench.runner`.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from flowbench.errors import ConfigError

__all__ = ["bench", "command"]


def _gpus(value: str | None) -> list[str]:
    if not value:
        return []
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items or not all(v.isdigit() for v in items) or len(set(items)) != len(items):
        raise ConfigError(f"--gpus expects distinct GPU indices such as 0,1,2, got {value!r}")
    return items


@click.command("bench")
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--quick", is_flag=True, help="Use the benchmark's [profiles.quick] (same as --profile quick).")
@click.option("--profile", default=None, help="Use the benchmark's [profiles.NAME] overrides.")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Results directory [<config folder>/results/<name>[-<profile>]].",
)
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a [base] setting, e.g. --set data.root=/data/imagenet (repeatable).",
)
@click.option(
    "--deepspeed_config",
    "--deepspeed-config",
    "deepspeed_config",
    type=click.Path(dir_okay=False),
    default=None,
    help="Your DeepSpeed JSON for every cell (same as --set train.deepspeed_config=PATH).",
)
@click.option("--gpus", default=None, help="Comma-separated GPU indices: one worker process per GPU.")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="CPU worker processes taking cells in parallel (threads split between them) [1: this process].",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="CPU threads per process (torch.set_num_threads) [torch's default].",
)
@click.option(
    "--local_rank", "--local-rank", "local_rank", type=int, default=None, hidden=True, help="Set by deepspeed."
)
@click.option("--dry-run", is_flag=True, help="Validate and list the cells; train nothing.")
@click.option("--worker", default=None, hidden=True, help="Internal: run as a worker of invocation ID.")
def bench(
    config: Path,
    quick: bool,
    profile: str | None,
    out: Path | None,
    sets: tuple[str, ...],
    deepspeed_config: str | None,
    gpus: str | None,
    workers: int | None,
    threads: int | None,
    local_rank: int | None,
    dry_run: bool,
    worker: str | None,
) -> None:
    """Train every cell of the benchmark CONFIG (objectives x seeds) and evaluate it.

    Results go to one run directory per cell; `flowbench report RESULTS_DIR` turns them into tables and
    figures. A stopped benchmark continues where it was when run again.
    """
    from flowbench.bench import runner
    from flowbench.bench.collect import cell_status
    from flowbench.bench.layout import CELLS
    from flowbench.bench.spec import load_spec

    if quick and profile and profile != "quick":
        raise ConfigError("--quick means --profile quick; give one of them")
    gpu_list = _gpus(gpus)
    if gpu_list and workers:
        raise ConfigError("give --gpus (one worker per GPU) or --workers (CPU processes), not both")
    if local_rank is not None:
        os.environ.setdefault("LOCAL_RANK", str(local_rank))
    launched = int(os.environ.get("WORLD_SIZE", "1") or 1) > 1
    if launched and (gpu_list or workers):
        raise ConfigError("under torchrun/deepspeed every rank trains each cell together; drop --gpus/--workers")
    log = click.echo if int(os.environ.get("RANK", "0") or 0) == 0 else (lambda _: None)
    if deepspeed_config:
        import json

        path = Path(deepspeed_config).expanduser().resolve()
        if not path.is_file():
            raise ConfigError(f"--deepspeed_config {deepspeed_config!r} does not exist; give a DeepSpeed JSON file")
        sets = (*sets, f"train.deepspeed_config={json.dumps(str(path))}")
    spec = load_spec(config, profile="quick" if quick else profile, sets=sets)
    results = out or runner.default_results_dir(spec)
    if threads:
        import torch

        torch.set_num_threads(threads)

    if worker:
        _run(lambda: runner.run_worker(spec, results, worker, log=click.echo))
        return

    if dry_run:
        for cell in spec.cells:
            runner._check_cell_config(results / CELLS / cell.name, cell)  # noqa: SLF001 - same package
        _print_plan(spec, results, cell_status)
        return

    runner.prepare_results_dir(spec, results)
    log(
        f"benchmark {spec.name}"
        + (f" (profile {spec.profile})" if spec.profile else "")
        + f": {len(spec.cells)} cells -> {results}"
    )
    if gpu_list or (workers or 1) > 1:
        if workers and not threads:
            threads = max(1, (os.cpu_count() or 1) // workers)  # split the cores between the workers
        extra = ["--threads", str(threads)] if threads else []
        failed = runner.run_workers(spec, results, gpu_list, workers or 0, log=click.echo, extra_args=extra)
        if failed:
            click.get_current_context().exit(1)
    else:
        _threads_hint(threads, launched, len(spec.cells), log)
        _run(lambda: runner.run_benchmark(spec, results, log=log))
    log(f"done; write the report with: flowbench report {results}")


def _threads_hint(threads: int | None, launched: bool, cells: int, log) -> None:  # noqa: ANN001
    import torch

    if threads or launched or cells < 2 or torch.cuda.is_available() or torch.get_num_threads() < 2:
        return
    n = torch.get_num_threads()
    log(
        f"hint: on the CPU, --workers {n} (one thread each, cells in parallel) is usually much faster for "
        f"small models than one process with {n} threads"
    )


def _run(fn) -> None:  # noqa: ANN001
    """Run cells; SIGINT/SIGTERM (a checkpoint was saved) exits 130, failed cells exit 1."""
    from flowbench.engine import TrainingInterrupted

    try:
        outcomes = fn()
    except TrainingInterrupted as exc:
        click.echo(
            f"interrupted at step {exc.step} of {exc.run_dir.name} (checkpoint saved); run the same command "
            "again to continue",
            err=True,
        )
        click.get_current_context().exit(130)
    bad = [o for o in outcomes if o.status == "failed"]
    if bad:
        click.echo(f"{len(bad)} cell(s) failed: {', '.join(o.cell for o in bad)}; rerun to retry them", err=True)
        click.get_current_context().exit(1)


def _print_plan(spec, results: Path, cell_status) -> None:  # noqa: ANN001
    from flowbench.bench.layout import CELLS

    click.echo(f"benchmark {spec.name}" + (f" (profile {spec.profile})" if spec.profile else "") + f" -> {results}")
    click.echo(
        f"{'cell':<28} {'objective':<16} {'seed':>4} {'steps':>7} {'batch':>6} {'evals':>5} "
        f"{'samples':>7} {'sampler':<10} {'temp/guid':>9}  status"
    )
    for cell in spec.cells:
        c = cell.config
        evals = len({*range(c.eval.every, c.train.steps + 1, c.eval.every), c.train.steps})
        click.echo(
            f"{cell.name:<28} {c.objective.name:<16} {cell.seed:>4} {c.train.steps:>7} {c.train.batch_size:>6} "
            f"{evals:>5} {c.eval.num_samples:>7} {_sampler(c):<10} {len(cell.sweep):>9}  "
            f"{cell_status(results / CELLS / cell.name)}"
        )


def _sampler(cfg) -> str:  # noqa: ANN001
    from flowbench.plugins import registry

    return cfg.sample.sampler_for(registry("objective").get(cfg.objective.name).factory) or "-"


command = bench
