"""Training progress on the terminal: a rich bar on a TTY, plain periodic lines otherwise.

The bar shows step, loss, samples/s and the ETA; when the output is a file or a pipe (CI, nohup,
``| tee``) the same facts are printed as one line every ``train.log_every`` steps.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["Progress"]


def _fmt_eta(seconds: float) -> str:
    seconds = max(0, int(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class Progress:
    """Reports steps ``start+1 .. total``; a no-op when ``enabled`` is False (ranks > 0)."""

    def __init__(self, total: int, start: int = 0, enabled: bool = True, stream: TextIO | None = None) -> None:
        self.total = total
        self.start = start
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.tty = enabled and self.stream.isatty()
        self._bar = None
        self._task = None
        self._t0 = time.perf_counter()
        if self.tty:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(
                TextColumn("[bold]train"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]}"),
                TextColumn("{task.fields[rate]} samples/s"),
                TimeRemainingColumn(),
                console=Console(file=self.stream),
                transient=False,
            )
            self._task = self._bar.add_task("train", total=total, completed=start, loss="-", rate="-")
            self._bar.start()

    def update(self, step: int, loss: float | None = None, samples_per_s: float | None = None) -> None:
        """Step ``step`` is done; ``loss``/``samples_per_s`` when just measured (log steps)."""
        if not self.enabled:
            return
        if self._bar is not None:
            fields = {}
            if loss is not None:
                fields["loss"] = f"{loss:.4f}"
            if samples_per_s is not None:
                fields["rate"] = f"{samples_per_s:.1f}"
            self._bar.update(self._task, completed=step, **fields)
        elif loss is not None:
            done = step - self.start
            elapsed = time.perf_counter() - self._t0
            eta = elapsed / done * (self.total - step) if done else 0.0
            rate = f"{samples_per_s:.1f}" if samples_per_s is not None else "-"
            print(
                f"step {step}/{self.total}  loss {loss:.4f}  {rate} samples/s  eta {_fmt_eta(eta)}",
                file=self.stream,
                flush=True,
            )

    def message(self, text: str) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.console.print(text)
        else:
            print(text, file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
