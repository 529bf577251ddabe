"""Where a benchmark keeps its files (shared by the runner, the collector and the report).

::

    RESULTS_DIR/
      bench.json              the validated benchmark (spec, profile, matrix, report settings)
      bench.toml              a copy of the benchmark file as run
      cells/<label>-seed<k>/  one run directory per cell, written by the training engine, plus:
        trained.json          training finished (the engine's TrainResult), written atomically
        sweeps.jsonl          temperature / guidance evaluations of the final EMA weights
        done.json             the cell is finished (training and sweeps), written atomically
        failed.json           the error of a cell that failed (removed when it finishes)
      report/                 ``flowbench report`` output (default)
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["BENCH_JSON", "BENCH_TOML", "CELLS", "TRAINED", "SWEEPS", "DONE", "FAILED", "REPORT", "cell_dirs"]

BENCH_JSON = "bench.json"
BENCH_TOML = "bench.toml"
CELLS = "cells"
TRAINED = "trained.json"
SWEEPS = "sweeps.jsonl"
DONE = "done.json"
FAILED = "failed.json"
REPORT = "report"


def cell_dirs(results_dir: str | Path) -> list[Path]:
    """Run directories of the cells under ``results_dir``, sorted by name."""
    root = Path(results_dir) / CELLS
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir())
