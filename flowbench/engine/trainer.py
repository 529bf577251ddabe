"""The training loop: DeepSpeed steps, EMA, logging, checkpoints, samples, evaluation, signals.

One optimizer step reads ``grad_accum`` micro-batches on every rank::

    for each micro-batch:  loss = objective.loss(engine, codes, labels, generator)
                           engine.backward(loss); engine.step()   # steps at the boundary
    ema.update(engine.module)

Losses stay on the device between log points (no per-step host sync); at each log, checkpoint,
sample or eval step they are averaged over ranks in one all-reduce, checked for non-finite values
(training stops naming the first bad step, before anything is saved) and written to
``metrics.jsonl`` by rank 0, one line every ``train.log_every`` steps and at the last step:

* ``step``; ``loss`` and its parts (e.g. ``ce``, ``z_loss``): this step's values, averaged over
  micro-batches and ranks;
* ``grad_norm``: the global gradient norm before clipping; ``lr``: the learning rate of this step;
  ``epoch`` of the data order;
* ``samples_per_s``: global samples per second over the steps since the previous line (checkpoints,
  sample grids and evaluations excluded); ``wall_s``: seconds since the run started (summed over
  resumed sessions). SIGINT/SIGTERM set a flag that every rank agrees on at the next such
point; the run then saves a checkpoint and stops.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from flowbench.config import RunConfig
from flowbench.engine import checkpoint as ckpt
from flowbench.engine.data import TokenBatches
from flowbench.engine.distributed import DistInfo
from flowbench.engine.ema import EMA
from flowbench.engine.metrics_log import RunLogs
from flowbench.engine.progress import Progress
from flowbench.engine.rng import capture_rng
from flowbench.engine.rundir import sample_grid_path
from flowbench.engine.sampling import LoadedRun, generate
from flowbench.errors import FlowbenchError
from flowbench.interfaces import Objective

__all__ = ["NonFiniteLossError", "TrainingInterrupted", "Trainer", "LoopResult"]


def eval_summary(record: dict[str, Any], evaluator: Any) -> str:
    """One short line of an evaluation: the evaluator's ``summary_keys`` (else every number), numbers
    to 4 significant digits; the full record is in ``evals.jsonl``."""
    keys = getattr(evaluator, "summary_keys", None)
    if keys is None:
        keys = [k for k, v in record.items() if k != "step" and isinstance(v, (int, float)) and not isinstance(v, bool)]
    parts = []
    for k in keys:
        if k in record:
            v = record[k]
            parts.append(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}")
    return ", ".join(parts) + " (all fields: evals.jsonl)"


class NonFiniteLossError(FlowbenchError):
    """The loss became NaN or infinite; the run stopped without saving the broken state."""


class TrainingInterrupted(Exception):
    """SIGINT/SIGTERM: a checkpoint was saved at ``step``; resume with ``--resume run_dir``."""

    def __init__(self, signum: int, step: int, run_dir: Path) -> None:
        self.signum = signum
        self.step = step
        self.run_dir = run_dir
        name = signal.Signals(signum).name
        super().__init__(
            f"{name} received: saved a checkpoint at step {step} in {run_dir}; continue with "
            f"`flowbench run --resume {run_dir}`"
        )


@dataclass
class LoopResult:
    steps: int
    final_loss: float
    samples_per_s: float
    wall_s: float


class _SignalFlag:
    """Records SIGINT/SIGTERM instead of dying mid-step (main thread only)."""

    def __init__(self) -> None:
        self.signum = 0
        self._old: dict[int, Any] = {}

    def __enter__(self) -> _SignalFlag:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum:  # a second signal: stop now
            raise KeyboardInterrupt
        self.signum = signum

    def __exit__(self, *exc: Any) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


class Trainer:
    """Runs steps ``start_step+1 .. cfg.train.steps`` of a prepared run (see :func:`flowbench.engine.train`)."""

    def __init__(
        self,
        *,
        cfg: RunConfig,
        dist: DistInfo,
        engine: Any,
        objective: Objective,
        batches: TokenBatches,
        generator: torch.Generator,
        ema: EMA,
        run_dir: Path,
        logs: RunLogs,
        start_step: int,
        view: LoadedRun | None,
        evaluator: Callable[[int, Any], dict[str, Any]] | None,
        metadata: dict[str, str],
        manual_clip: float | None,
        keep_checkpoints: int,
        wall_offset: float = 0.0,
    ) -> None:
        self.cfg = cfg
        self.dist = dist
        self.engine = engine
        self.objective = objective
        self.batches = batches
        self.generator = generator
        self.ema = ema
        self.run_dir = run_dir
        self.step = start_step
        self.view = view
        self.evaluator = evaluator
        self.metadata = metadata
        self.manual_clip = manual_clip
        self._params = [p for p in engine.module.parameters() if p.requires_grad]
        self.keep = keep_checkpoints
        self.wall_offset = wall_offset
        self.logs = logs
        self._pending: list[tuple[int, Tensor]] = []  # (step, loss) not yet checked
        self._last_parts: dict[str, Tensor] = {}
        self._grad_norm: Any = None
        self._last_saved: int | None = start_step if start_step > 0 else None

    # ---------------------------------------------------------------- helpers
    def _due(self, every: int) -> bool:
        return every > 0 and self.step % every == 0

    def _micro_step(self) -> tuple[Tensor, dict[str, Tensor]]:
        codes, labels = self.batches.next()
        out = self.objective.loss(self.engine, codes, labels, generator=self.generator)
        self.engine.backward(out.loss)
        if self.manual_clip is not None and self.engine.is_gradient_accumulation_boundary():
            # gradients are averaged over ranks by now (ZeRO 0 all-reduces at the boundary)
            self._grad_norm = torch.nn.utils.clip_grad_norm_(self._params, self.manual_clip or math.inf)
        self.engine.step()
        return out.loss.detach(), {k: v.detach() for k, v in out.parts.items()}

    def _reduce(self, rows: Tensor) -> Tensor:
        if self.dist.world_size > 1:
            torch.distributed.all_reduce(rows)
            rows /= self.dist.world_size
        return rows

    def _flush(self, signum: int) -> tuple[dict[str, float], bool]:
        """All-reduce pending losses (and the stop flag); raise on a non-finite loss.

        Returns the averaged loss and parts of the current step, and whether any rank was signalled.
        """
        steps = [s for s, _ in self._pending]
        names = sorted(self._last_parts)
        losses = torch.stack([loss.float() for _, loss in self._pending])
        tail = [self._last_parts[n].float().reshape(()) for n in names]
        flag = torch.tensor(float(signum > 0), device=losses.device)
        packed = torch.cat([losses, torch.stack(tail) if tail else losses[:0], flag.reshape(1)])
        packed = self._reduce(packed).cpu()
        self._pending.clear()
        losses_h = packed[: len(steps)]
        bad = (~torch.isfinite(losses_h)).nonzero()
        if len(bad):
            first = steps[int(bad[0])]
            value = float(losses_h[int(bad[0])])
            kept = (
                f"the last good checkpoint (step {self._last_saved}) is kept in {self.run_dir}"
                if self._last_saved is not None
                else "no checkpoint was saved before it"
            )
            raise NonFiniteLossError(
                f"the loss became {value} at step {first}; training stopped and {kept}. Lower train.lr "
                f"(now {self.cfg.train.lr:g}) or check the data"
            )
        values = {"loss": float(losses_h[-1])}
        for i, n in enumerate(names):
            values[n] = float(packed[len(steps) + i])
        stop = bool(packed[-1] > 0)
        return values, stop

    def _current_grad_norm(self) -> float | None:
        """The last step's gradient norm; a non-finite one stops the run before its state is saved
        (the loss of that step was finite, but the update it made was not)."""
        norm = self._grad_norm if self.manual_clip is not None else self.engine.get_global_grad_norm()
        if norm is None:
            return None
        value = float(norm)
        if not math.isfinite(value):
            raise NonFiniteLossError(
                f"the gradient norm became {value} at step {self.step}; training stopped and "
                + (
                    f"the last good checkpoint (step {self._last_saved}) is kept in {self.run_dir}"
                    if self._last_saved is not None
                    else "no checkpoint was saved before it"
                )
                + f". Lower train.lr (now {self.cfg.train.lr:g}) or check the data"
            )
        return value

    def _save(self) -> None:
        self.logs.sync()
        client_state = {
            "step": self.step,
            "data": self.batches.order.state_dict(),
            "ema_updates": self.ema.num_updates,
        }
        ema_state = self.ema.state_dict() if self.ema.model is not None else None
        meta = {**self.metadata, "step": str(self.step), "ema_updates": str(self.ema.num_updates)}
        ckpt.save(
            self.engine,
            self.run_dir,
            self.step,
            client_state,
            {"rng": capture_rng(self.generator), "weights_fingerprint": ckpt.fingerprint(self.engine.module)},
            self.dist.rank,
            ema_state,
            meta,
            self.keep,
        )
        self._last_saved = self.step

    def _view(self) -> LoadedRun:
        assert self.view is not None
        self.view.step = self.step
        return self.view

    def _sample_grid(self) -> None:
        s = self.cfg.sample
        from flowbench.images import save_image_grid

        gen = generate(self._view(), s.num, s, seed=self.cfg.train.seed, batch_size=min(s.num, 256))
        save_image_grid(gen.images, sample_grid_path(self.run_dir, self.step))

    def _evaluate(self) -> dict[str, Any]:
        assert self.evaluator is not None
        metrics = self.evaluator(self.step, self._view())
        record = {"step": self.step, **dict(metrics)}
        self.logs.evals.append(record)
        return record

    def _optimizer_step(self) -> None:
        """One optimizer step (``grad_accum`` micro-batches) and the EMA update; the step's mean loss
        and parts stay on the device until the next flush."""
        accum = self.cfg.train.grad_accum
        loss_sum: Tensor | None = None
        parts_sum: dict[str, Tensor] = {}
        for _ in range(accum):
            loss, parts = self._micro_step()
            loss_sum = loss if loss_sum is None else loss_sum + loss
            for k, v in parts.items():
                parts_sum[k] = v if k not in parts_sum else parts_sum[k] + v
        assert loss_sum is not None
        self.step += 1
        self.ema.update(self.engine.module)
        self._pending.append((self.step, loss_sum / accum))
        self._last_parts = {k: v / accum for k, v in parts_sum.items()}

    def _log(self, values: dict[str, float], grad_norm: float | None, lr: float, rate: float, wall: float) -> None:
        """One ``metrics.jsonl`` line (see the module docstring); ``wall``: seconds of this session."""
        record = {
            "step": self.step,
            **values,
            "grad_norm": None if grad_norm is None else float(grad_norm),
            "lr": lr,
            "samples_per_s": rate,
            "epoch": self.batches.order.epoch,
            "wall_s": self.wall_offset + wall,
        }
        self.logs.metrics.append(record)

    # ---------------------------------------------------------------- loop
    def fit(self, progress: Progress) -> LoopResult:
        cfg = self.cfg.train
        total = cfg.steps
        t_start = time.perf_counter()
        train_time = 0.0
        window_time, window_steps = 0.0, 0
        last: dict[str, float] = {}
        rate = 0.0
        start = self.step
        lr = float(self.engine.get_lr()[0]) if self.engine.get_lr() else cfg.lr
        with _SignalFlag() as sig:
            while self.step < total:
                t0 = time.perf_counter()
                log_now = self.step + 1 == total or (self.step + 1) % cfg.log_every == 0
                if log_now:  # the rate this step uses (a warm-up or a user's DeepSpeed scheduler changes it)
                    lrs = self.engine.get_lr()
                    lr = float(lrs[0]) if lrs else lr
                self._optimizer_step()
                save_now = self._due(cfg.checkpoint_every) or self.step == total
                # the same on every rank (all of them flush together); only rank 0 samples
                sample_now = cfg.sample_every > 0 and (self._due(cfg.sample_every) or self.step == total)
                eval_now = self.cfg.eval.every > 0 and (self._due(self.cfg.eval.every) or self.step == total)
                flush = log_now or save_now or sample_now or eval_now
                if self.dist.world_size == 1 and sig.signum:
                    flush = True
                if not flush:
                    dt = time.perf_counter() - t0
                    train_time += dt
                    window_time += dt
                    window_steps += 1
                    progress.update(self.step)
                    continue
                values, stop = self._flush(sig.signum)
                grad_norm = self._current_grad_norm()
                dt = time.perf_counter() - t0  # includes the host sync of the flush
                train_time += dt
                window_time += dt
                window_steps += 1
                last = values
                if log_now:
                    rate = window_steps * cfg.batch_size / window_time if window_time > 0 else 0.0
                    self._log(values, grad_norm, lr, rate, time.perf_counter() - t_start)
                    progress.update(self.step, values["loss"], rate)
                    window_time, window_steps = 0.0, 0
                else:
                    progress.update(self.step)
                # sample and evaluate before saving: a run killed in between redoes them on resume
                if self.view is not None and sample_now and not stop:
                    self._sample_grid()
                if self.dist.is_main and eval_now and not stop:
                    rec = self._evaluate()
                    progress.message(f"eval at step {self.step}: {eval_summary(rec, self.evaluator)}")
                if save_now or stop:
                    self._save()
                if stop:
                    raise TrainingInterrupted(sig.signum or signal.SIGTERM, self.step, self.run_dir)
        wall = time.perf_counter() - t_start
        done = self.step - start
        return LoopResult(
            steps=self.step,
            final_loss=float(last.get("loss", math.nan)),
            samples_per_s=done * cfg.batch_size / train_time if train_time > 0 else 0.0,
            wall_s=wall,
        )
