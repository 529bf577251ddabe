"""Run a benchmark's cells: resumable, in one process, over several GPUs, or under a launcher.

Each cell (objective label x seed) is one training run in ``RESULTS_DIR/cells/<label>-seed<k>/``
(see :mod:`flowbench.bench.layout`). A cell is finished when its ``done.json`` exists (written
atomically after training and the temperature/guidance sweeps). Running the same benchmark again
continues where it stopped: finished cells are skipped, a cell with a checkpoint is resumed through
the engine's resume (``train(..., resume=cell_dir)``), a cell that died before its first checkpoint
starts over, and a cell whose training finished (``trained.json``) only runs its missing sweeps.

Three ways to run:

* **in-process** (default): cells one after another in this process.
* **one worker per GPU** (``--gpus 0,1,...``): one subprocess per GPU with
  ``CUDA_VISIBLE_DEVICES=<gpu>``; each takes the next unclaimed cell from the list (an atomic claim
  file per cell and invocation), trains it, sweeps it, and takes the next. Logs go to
  ``RESULTS_DIR/logs/worker-gpu<k>.log``.
* **CPU workers** (``--workers N``): the same with N CPU processes (GPUs hidden), e.g. two
  one-thread workers on a two-core machine, which beats one two-thread process for small models.
* **under torchrun / the deepspeed launcher** (``WORLD_SIZE > 1``): every rank walks the cells in
  the same order and trains each one together (data parallel, ZeRO); rank 0 writes the markers.
  Sweeps run on rank 0 after all training, so other ranks never wait on a long evaluation. The
  results directory must be on storage every node sees.

Sweeps evaluate the final EMA weights of a trained cell at each ``(temperature, guidance)`` of the
benchmark (no retraining) with the run's evaluator, built from the run's config with those sample
settings; the point already evaluated at the last training step is not repeated.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowbench import __version__
from flowbench.bench import layout
from flowbench.bench.collect import cell_status
from flowbench.bench.spec import BenchSpec, Cell
from flowbench.config import to_dict
from flowbench.engine.rundir import CONFIG, EVALS
from flowbench.errors import ConfigError, FlowbenchError
from flowbench.io import append_jsonl, read_jsonl, write_json, write_text

__all__ = [
    "CellOutcome",
    "CellMismatchError",
    "default_results_dir",
    "prepare_results_dir",
    "run_cell",
    "run_benchmark",
    "run_worker",
    "run_workers",
    "sweep_todo",
]

Log = Callable[[str], None]


class CellMismatchError(ConfigError):
    """A cell directory holds a run made with other settings than the benchmark now gives."""


@dataclass
class CellOutcome:
    """What happened to one cell in this invocation.

    Attributes:
        cell: the cell's directory name.
        status: ``"skipped"`` (already done), ``"done"``, ``"trained"`` (sweeps left to rank 0),
            ``"failed"`` or ``"claimed"`` (another worker has it).
        wall_s: seconds spent on it here.
        message: the error of a failed cell.
    """

    cell: str
    status: str
    wall_s: float = 0.0
    message: str = ""


def default_results_dir(spec: BenchSpec) -> Path:
    """``<benchmark file's folder>/results/<name>[-<profile>]``."""
    folder = Path(spec.path).parent if spec.path != "<benchmark>" else Path(".")
    return folder / "results" / (spec.name + (f"-{spec.profile}" if spec.profile else ""))


def _config_dict(cfg: Any) -> dict[str, Any]:
    data = to_dict(cfg)
    data.pop("out", None)
    return data


def _first_difference(a: Any, b: Any, prefix: str = "") -> str | None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            diff = _first_difference(a.get(key), b.get(key), f"{prefix}{key}.")
            if diff:
                return diff
        return None
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        a, b = list(a), list(b)
    return None if a == b else f"{prefix.rstrip('.')} = {a!r} there, {b!r} now"


def _check_cell_config(cell_dir: Path, cell: Cell) -> None:
    if not (cell_dir / CONFIG).is_file():
        return
    from flowbench.engine.rundir import read_run_config

    diff = _first_difference(_config_dict(read_run_config(cell_dir)), _config_dict(cell.config))
    if diff:
        raise CellMismatchError(
            f"cell {cell.name!r} in {str(cell_dir.parent.parent)!r} was run with other settings ({diff}); "
            "use another --out for a changed benchmark"
        )


def prepare_results_dir(spec: BenchSpec, out: Path) -> Path:
    """Create ``out``, check finished cells match the benchmark, write ``bench.json``/``bench.toml``."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {str(out)!r} is a file, not a directory")
    for cell in spec.cells:
        _check_cell_config(out / layout.CELLS / cell.name, cell)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / layout.BENCH_JSON, {**spec.to_dict(), "flowbench_version": __version__})
    if spec.path != "<benchmark>" and Path(spec.path).is_file():
        write_text(out / layout.BENCH_TOML, Path(spec.path).read_text(encoding="utf-8"))
    return out


def _close(a: float, b: float) -> bool:
    return abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(a)))


def sweep_todo(cell: Cell, cell_dir: Path) -> list[tuple[float, float]]:
    """Sweep points not yet evaluated at the cell's last step (training evals count)."""
    last = cell.config.train.steps
    cfg = cell.config.sample
    seen = []
    for name in (EVALS, layout.SWEEPS):
        for r in read_jsonl(cell_dir / name):
            if int(r.get("step", -1)) == last:
                seen.append((float(r.get("temperature", cfg.temperature)), float(r.get("guidance", cfg.guidance))))
    return [p for p in cell.sweep if not any(_close(p[0], s[0]) and _close(p[1], s[1]) for s in seen)]


def _run_sweeps(cell: Cell, cell_dir: Path, log: Log) -> None:
    todo = sweep_todo(cell, cell_dir)
    if not todo:
        return
    from flowbench.build import create
    from flowbench.engine import load_run

    run = load_run(cell_dir)
    for temperature, guidance in todo:
        sample = dataclasses.replace(run.config.sample, temperature=temperature, guidance=guidance)
        cfg = dataclasses.replace(run.config, sample=sample)
        evaluator = create("evaluator", cfg.eval.evaluator, cfg, **cfg.eval.options)
        view = dataclasses.replace(run, config=cfg)
        t0 = time.perf_counter()
        row = dict(evaluator(run.step, view))
        row.update(step=run.step, temperature=temperature, guidance=guidance)
        append_jsonl(cell_dir / layout.SWEEPS, row)
        log(
            f"  sweep {cell.name} temperature={temperature:g} guidance={guidance:g}: "
            f"fid={row.get('fid', float('nan')):.4g} ({time.perf_counter() - t0:.0f}s)"
        )


def _train(cell: Cell, cell_dir: Path, log: Log) -> dict[str, Any]:
    from flowbench.engine import train
    from flowbench.engine.checkpoint import latest_step
    from flowbench.engine.distributed import broadcast_object, init_process_group

    dist = init_process_group()
    _check_cell_config(cell_dir, cell)
    resume = broadcast_object(latest_step(cell_dir) if dist.is_main else None)
    if resume is None and dist.is_main and cell_dir.exists():
        shutil.rmtree(cell_dir)  # died before its first checkpoint: nothing to continue from
    if dist.is_main:
        log(f"resuming {cell.name} from step {resume}" if resume is not None else f"training {cell.name}")
    result = train(cell.config, out=cell_dir, resume=cell_dir if resume is not None else None)
    record = {
        "cell": cell.name,
        "label": cell.label,
        "seed": cell.seed,
        "steps": result.steps,
        "final_loss": result.final_loss,
        "samples_per_s": result.samples_per_s,
        "wall_s": result.wall_s,
        "resumed_from": resume,
    }
    if dist.is_main:
        write_json(cell_dir / layout.TRAINED, record)
    return record


def _finish(cell: Cell, cell_dir: Path, log: Log) -> None:
    _run_sweeps(cell, cell_dir, log)
    trained = _read_json(cell_dir / layout.TRAINED)
    write_json(cell_dir / layout.DONE, {**trained, "sweep": [list(p) for p in cell.sweep], "finished": _now()})
    (cell_dir / layout.FAILED).unlink(missing_ok=True)


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def run_cell(cell: Cell, results_dir: Path, log: Log = print, *, sweeps: bool = True) -> CellOutcome:
    """Train (or resume) one cell, then sweep it and mark it done (``sweeps=False``: leave the
    sweeps and ``done.json`` for later). A user error inside the cell (e.g. a diverged loss) is
    recorded in ``failed.json`` and returned, so the other cells still run."""
    from flowbench.engine import TrainingInterrupted

    cell_dir = results_dir / layout.CELLS / cell.name
    if (cell_dir / layout.DONE).is_file():
        return CellOutcome(cell.name, "skipped")
    t0 = time.perf_counter()
    try:
        if not (cell_dir / layout.TRAINED).is_file():
            _train(cell, cell_dir, log)
        if not sweeps:
            return CellOutcome(cell.name, "trained", time.perf_counter() - t0)
        _finish(cell, cell_dir, log)
    except (TrainingInterrupted, CellMismatchError):
        raise
    except FlowbenchError as exc:
        cell_dir.mkdir(parents=True, exist_ok=True)
        write_json(cell_dir / layout.FAILED, {"cell": cell.name, "error": f"{type(exc).__name__}: {exc}"})
        log(f"FAILED {cell.name}: {exc}")
        return CellOutcome(cell.name, "failed", time.perf_counter() - t0, str(exc))
    return CellOutcome(cell.name, "done", time.perf_counter() - t0)


def _world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1") or 1)


def run_benchmark(spec: BenchSpec, results_dir: Path, log: Log = print) -> list[CellOutcome]:
    """Run every unfinished cell in this process (or on every rank of a launcher job)."""
    if _world_size() == 1:
        outcomes = []
        for i, cell in enumerate(spec.cells, 1):
            outcome = run_cell(cell, results_dir, log)
            outcomes.append(outcome)
            log(f"[{i}/{len(spec.cells)}] {cell.name}: {outcome.status} ({outcome.wall_s:.0f}s)")
        return outcomes
    from flowbench.engine.distributed import barrier, init_process_group

    dist = init_process_group()
    outcomes = [run_cell(cell, results_dir, log if dist.is_main else _quiet, sweeps=False) for cell in spec.cells]
    barrier()
    if not dist.is_main:
        return outcomes
    return [run_cell(cell, results_dir, log) if o.status != "failed" else o for cell, o in zip(spec.cells, outcomes)]


def _quiet(_: str) -> None:
    pass


def _claim(results_dir: Path, run_id: str, cell: Cell) -> bool:
    """Atomically claim ``cell`` for this worker within invocation ``run_id``."""
    path = results_dir / "claims" / run_id / cell.name
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as fh:
        fh.write(f"{os.getpid()} {os.environ.get('CUDA_VISIBLE_DEVICES', '')}\n")
    return True


def run_worker(spec: BenchSpec, results_dir: Path, run_id: str, log: Log = print) -> list[CellOutcome]:
    """One GPU worker: take unclaimed, unfinished cells in list order until none is left."""
    outcomes = []
    for cell in spec.cells:
        if cell_status(results_dir / layout.CELLS / cell.name) == "done":
            continue
        if not _claim(results_dir, run_id, cell):
            continue
        outcome = run_cell(cell, results_dir, log)
        outcomes.append(outcome)
        log(f"{cell.name}: {outcome.status} ({outcome.wall_s:.0f}s)")
    return outcomes


_MAIN = "from flowbench.cli.main import main; main()"
_LAUNCHER_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "GROUP_RANK")


def run_workers(
    spec: BenchSpec,
    results_dir: Path,
    gpus: list[str] | None = None,
    cpu_workers: int = 0,
    log: Log = print,
    poll_s: float = 5.0,
    extra_args: list[str] | None = None,
) -> int:
    """Spread the cells over worker subprocesses: one per GPU in ``gpus`` (``CUDA_VISIBLE_DEVICES``
    set to it) or ``cpu_workers`` CPU processes (GPUs hidden). Each worker re-reads the benchmark
    copied into ``results_dir`` and takes unclaimed cells in list order. Returns the number of workers
    that failed."""
    run_id = uuid.uuid4().hex[:12]
    logs = results_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    bench_file = results_dir / layout.BENCH_TOML
    slots = [(f"gpu{g}", g) for g in gpus or []] + [(f"cpu{i}", "") for i in range(cpu_workers)]
    procs = []
    for name, visible in slots:
        env = {k: v for k, v in os.environ.items() if k not in _LAUNCHER_VARS}
        env["CUDA_VISIBLE_DEVICES"] = visible
        cmd = [sys.executable, "-c", _MAIN, "bench", str(bench_file), "--out", str(results_dir)]
        cmd += ["--worker", run_id] + (["--profile", spec.profile] if spec.profile else [])
        cmd += [arg for item in spec.sets for arg in ("--set", item)] + list(extra_args or [])
        fh = open(logs / f"worker-{name}.log", "a", encoding="utf-8")  # noqa: SIM115 - closed below
        procs.append((name, subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT), fh))
        log(f"worker {name}: pid {procs[-1][1].pid}, log {fh.name}")
    reported: set[str] = set()
    try:
        while True:
            for cell in spec.cells:
                if cell.name not in reported and cell_status(results_dir / layout.CELLS / cell.name) == "done":
                    reported.add(cell.name)
                    log(f"[{len(reported)}/{len(spec.cells)}] {cell.name} done")
            if all(p.poll() is not None for _, p, _ in procs):
                break
            time.sleep(poll_s)
    except KeyboardInterrupt:
        for _, p, _ in procs:
            p.terminate()  # workers checkpoint on SIGTERM
        for _, p, _ in procs:
            p.wait()
        raise
    finally:
        for _, _, fh in procs:
            fh.close()
    failed = [(n, p.returncode) for n, p, _ in procs if p.returncode != 0]
    for name, rc in failed:
        log(f"worker {name} exited with {rc}; see {logs / f'worker-{name}.log'}")
    shutil.rmtree(results_dir / "claims" / run_id, ignore_errors=True)
    return len(failed)
