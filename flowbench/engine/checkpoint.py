"""Checkpoints of a run directory.

Layout::

    checkpoints/step{N}/...            DeepSpeed's files (model, optimizer shards, client_state)
    checkpoints/step{N}/rank{r}.pt     every rank's RNG states and a fingerprint of its weights
    checkpoints/latest                 the tag of the last complete checkpoint
    ema/step{N}.safetensors            the EMA weights (fp32) with the backbone spec in its metadata
    ema/latest                         the tag of the last EMA copy

Every rank calls :func:`save` (DeepSpeed writes each rank's optimizer shard). The ``latest`` markers
are written last, atomically, after a barrier: a run killed in the middle of a save resumes from the
previous complete checkpoint. Only the ``keep`` most recent checkpoints are kept.

Resuming: :func:`check_resumable` says whether a directory can be resumed (before anything is built),
:func:`resume` restores the last complete checkpoint into a freshly built run: DeepSpeed's engine
(weights, optimizer, scheduler), the data order, the EMA copy and this rank's RNG states.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from flowbench.engine.distributed import barrier
from flowbench.engine.rng import restore_rng
from flowbench.engine.rundir import CHECKPOINTS, CONFIG, EMA, LATEST
from flowbench.errors import CheckpointError
from flowbench.io import atomic_path, write_text

__all__ = [
    "tag_of",
    "step_of",
    "save",
    "latest_step",
    "load_rank_state",
    "fingerprint",
    "ema_path",
    "read_ema",
    "ema_steps",
    "prune",
    "check_resumable",
    "resume",
]

_TAG = re.compile(r"^step(\d+)$")


def tag_of(step: int) -> str:
    return f"step{step}"


def step_of(tag: str) -> int:
    m = _TAG.match(tag.strip())
    if not m:
        raise CheckpointError(f"not a checkpoint tag: {tag!r} (expected step<N>)")
    return int(m.group(1))


def ema_path(run_dir: Path, step: int) -> Path:
    return Path(run_dir) / EMA / f"{tag_of(step)}.safetensors"


def save(
    engine: Any,
    run_dir: Path,
    step: int,
    client_state: dict[str, Any],
    rank_state: dict[str, Any],
    rank: int,
    ema_state: dict[str, torch.Tensor] | None,
    metadata: dict[str, str],
    keep: int,
) -> None:
    """Save checkpoint ``step{step}`` (collective: every rank calls it)."""
    run_dir = Path(run_dir)
    ckpt_root = run_dir / CHECKPOINTS
    tag = tag_of(step)
    engine.save_checkpoint(str(ckpt_root), tag=tag, client_state=client_state, save_latest=False)
    with atomic_path(ckpt_root / tag / f"rank{rank}.pt") as tmp:
        torch.save(rank_state, tmp)
    if rank == 0 and ema_state is not None:
        tensors = {k: v.detach().contiguous().cpu() for k, v in ema_state.items()}
        with atomic_path(ema_path(run_dir, step)) as tmp:
            save_file(tensors, str(tmp), metadata=metadata)
    barrier()
    if rank == 0:
        if ema_state is not None:
            write_text(run_dir / EMA / LATEST, tag + "\n")
        write_text(ckpt_root / LATEST, tag + "\n")
        prune(run_dir, keep)
    barrier()


def latest_step(run_dir: Path) -> int | None:
    """Step of the last complete checkpoint, or None."""
    marker = Path(run_dir) / CHECKPOINTS / LATEST
    if not marker.is_file():
        return None
    return step_of(marker.read_text())


def load_rank_state(run_dir: Path, step: int, rank: int) -> dict[str, Any] | None:
    """What rank ``rank`` saved beside DeepSpeed's files: ``{"rng": ..., "weights_fingerprint": ...}``."""
    path = Path(run_dir) / CHECKPOINTS / tag_of(step) / f"rank{rank}.pt"
    if not path.is_file():
        return None
    return torch.load(path, map_location="cpu", weights_only=True)


def ema_steps(run_dir: Path) -> list[int]:
    """Steps with an EMA copy, ascending."""
    folder = Path(run_dir) / EMA
    steps = []
    for p in folder.glob("step*.safetensors") if folder.is_dir() else []:
        m = _TAG.match(p.name[: -len(".safetensors")])
        if m:
            steps.append(int(m.group(1)))
    return sorted(steps)


def read_ema(run_dir: Path, step: int | None = None) -> tuple[int, dict[str, torch.Tensor], dict[str, str]]:
    """``(step, state_dict, metadata)`` of the EMA copy at ``step`` (default: ``ema/latest``)."""
    run_dir = Path(run_dir)
    if step is None:
        marker = run_dir / EMA / LATEST
        if not marker.is_file():
            raise CheckpointError(f"{str(run_dir)!r} has no EMA checkpoint (ema/latest); has the run saved one yet?")
        step = step_of(marker.read_text())
    path = ema_path(run_dir, step)
    if not path.is_file():
        have = ", ".join(str(s) for s in ema_steps(run_dir)) or "none"
        raise CheckpointError(f"{str(run_dir)!r} has no EMA checkpoint for step {step}; steps saved: {have}")
    state = {}
    with safe_open(str(path), framework="pt") as fh:
        meta = dict(fh.metadata() or {})
        for key in fh.keys():
            state[key] = fh.get_tensor(key)
    return step, state, meta


def prune(run_dir: Path, keep: int) -> None:
    """Delete all but the ``keep`` most recent checkpoints (and their EMA copies)."""
    if keep <= 0:
        return
    run_dir = Path(run_dir)
    ckpt_root = run_dir / CHECKPOINTS
    latest = latest_step(run_dir)
    tags = []
    for p in ckpt_root.iterdir() if ckpt_root.is_dir() else []:
        m = _TAG.match(p.name)
        if p.is_dir() and m:
            tags.append(int(m.group(1)))
    complete = sorted(s for s in tags if latest is not None and s <= latest)
    for s in complete[:-keep]:
        shutil.rmtree(ckpt_root / tag_of(s), ignore_errors=True)
    for s in ema_steps(run_dir):
        if latest is not None and s <= latest and s not in complete[-keep:]:
            ema_path(run_dir, s).unlink(missing_ok=True)


def check_resumable(run_dir: Path) -> None:
    """Raise :class:`CheckpointError` unless ``run_dir`` holds a run with a complete checkpoint."""
    if not (Path(run_dir) / CONFIG).is_file():
        raise CheckpointError(f"--resume {str(run_dir)!r} is not a flowbench run directory (no {CONFIG})")
    if latest_step(run_dir) is None:
        raise CheckpointError(f"--resume {str(run_dir)!r} has no complete checkpoint yet; start it again instead")


def resume(run_dir: Path, engine: Any, order: Any, ema: Any, generator: torch.Generator, rank: int) -> int:
    """Restore the last complete checkpoint of ``run_dir`` into a built run; return its step.

    Restores DeepSpeed's ``engine`` (weights, optimizer, scheduler), the data ``order``, the ``ema``
    copy (read on rank 0, the one that keeps it) and this rank's RNG states, ``generator`` included.

    Raises:
        CheckpointError: the checkpoint cannot be loaded, or has no RNG state for ``rank`` (another
            number of processes).
    """
    step = latest_step(run_dir)
    assert step is not None, "check_resumable() first"
    path, client_state = engine.load_checkpoint(str(Path(run_dir) / CHECKPOINTS), tag=tag_of(step))
    if path is None or client_state is None:
        raise CheckpointError(f"could not load checkpoint step {step} of {str(run_dir)!r}")
    order.load_state_dict(client_state["data"])
    rank_state = load_rank_state(run_dir, step, rank)
    if rank_state is None:
        raise CheckpointError(
            f"checkpoint step {step} of {str(run_dir)!r} has no RNG state for rank {rank}; "
            f"resume with the same number of processes"
        )
    restore_rng(rank_state["rng"], generator)
    _, ema_state, _ = read_ema(run_dir, step) if rank == 0 else (None, {}, {})
    ema.load_state_dict(ema_state, int(client_state["ema_updates"]))
    return int(client_state["step"])


@torch.no_grad()
def fingerprint(module: torch.nn.Module) -> torch.Tensor:
    """``(P, 2)`` float64 sums and absolute sums of each parameter: equal on every rank of a
    data-parallel job whose replicas agree (cheap, unlike hashing the bytes)."""
    rows = [torch.stack([p.detach().double().sum(), p.detach().double().abs().sum()]) for p in module.parameters()]
    return torch.stack(rows).cpu() if rows else torch.zeros(0, 2, dtype=torch.float64)


def spec_metadata(spec: Any, extra: dict[str, Any]) -> dict[str, str]:
    """safetensors metadata (strings only): the backbone spec and run facts as JSON."""
    from dataclasses import asdict

    return {"spec": json.dumps(asdict(spec)), **{k: json.dumps(v) for k, v in extra.items()}}
