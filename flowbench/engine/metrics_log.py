"""Append-only JSON-lines logs of a run (``metrics.jsonl``, ``evals.jsonl``).

Each line is one record with a ``step``. On resume from checkpoint ``N`` the lines with
``step > N`` (written after the checkpoint by the run that died) are dropped before appending, so
a killed and resumed run has every step exactly once.

Lines are flushed to the OS as they are written (a killed process loses nothing) and forced to disk
(``fsync``) at every checkpoint, the point a resumed run goes back to; an fsync per line would cost
more than the step itself for small models.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowbench.engine.rundir import EVALS, METRICS
from flowbench.io import read_jsonl, write_text

__all__ = ["JsonlLog", "RunLogs"]


class JsonlLog:
    """A JSON-lines file written by one process (rank 0); other ranks get ``enabled=False``."""

    def __init__(self, path: str | Path, enabled: bool = True) -> None:
        self.path = Path(path)
        self.enabled = enabled

    def truncate_after(self, step: int) -> int:
        """Drop records with ``step > step`` (and a torn last line); returns how many were kept."""
        if not self.enabled or not self.path.exists():
            return 0
        kept = [r for r in read_jsonl(self.path) if int(r.get("step", 0)) <= step]
        write_text(self.path, "".join(json.dumps(r, sort_keys=True, default=str) + "\n" for r in kept))
        return len(kept)

    def append(self, record: dict[str, Any]) -> None:
        if self.enabled:
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(record, sort_keys=True, default=str) + "\n")

    def sync(self) -> None:
        """Force the lines written so far to disk."""
        if self.enabled and self.path.exists():
            with open(self.path, "rb+") as fh:
                os.fsync(fh.fileno())

    def records(self) -> list[dict[str, Any]]:
        return read_jsonl(self.path)


@dataclass
class RunLogs:
    """A run's two logs, opened once (by :func:`flowbench.engine.train`, handed to the trainer)."""

    metrics: JsonlLog
    evals: JsonlLog

    @classmethod
    def open(cls, run_dir: str | Path, enabled: bool = True) -> RunLogs:
        """``metrics.jsonl`` and ``evals.jsonl`` of ``run_dir`` (``enabled=False`` on ranks other than 0)."""
        return cls(JsonlLog(Path(run_dir) / METRICS, enabled), JsonlLog(Path(run_dir) / EVALS, enabled))

    def truncate_after(self, step: int) -> None:
        """Drop what a killed run wrote after checkpoint ``step`` (see the module docstring)."""
        self.metrics.truncate_after(step)
        self.evals.truncate_after(step)

    def sync(self) -> None:
        self.metrics.sync()
        self.evals.sync()

    def wall_offset(self) -> float:
        """Seconds trained by earlier sessions: the last ``wall_s`` in ``metrics.jsonl`` (0 if none)."""
        kept = self.metrics.records() if self.metrics.enabled else []
        return float(kept[-1].get("wall_s", 0.0)) if kept else 0.0
