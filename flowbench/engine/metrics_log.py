"""Append-only JSON-lines logs of a run (``metrics.jsonl``, ``evals.jsonl``).

Each line is one record with a ``step``. On resume from checkpoint ``N`` the lines with
``step > N`` (written after the checkpoint by the run that died) are dropped before appending, so
a killed and resumed run has every step exactly once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flowbench.io import append_jsonl, read_jsonl, write_text

__all__ = ["JsonlLog"]


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
            append_jsonl(self.path, record)

    def records(self) -> list[dict[str, Any]]:
        return read_jsonl(self.path)
