"""The process group: one plain process, or many under ``torchrun`` / ``deepspeed``.

Launchers set ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``. A plain
``flowbench run`` has none of them; :func:`ensure_env` then fills in a world of one on the loopback
interface (a free port), so DeepSpeed never tries MPI discovery. The backend is NCCL on GPUs and
gloo on the CPU.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import torch

__all__ = [
    "DistInfo",
    "free_port",
    "ensure_env",
    "ensure_extensions_dir",
    "init_process_group",
    "barrier",
    "broadcast_object",
    "cache_dir",
]


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in the job."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    backend: str

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ensure_env() -> bool:
    """Fill the launcher variables for a single process when they are absent.

    Returns True when flowbench chose ``MASTER_PORT`` itself (so it may choose again if another
    process takes the port between the check and the bind)."""
    os.environ.setdefault("RANK", "0")
    os.environ.setdefault("WORLD_SIZE", "1")
    os.environ.setdefault("LOCAL_RANK", "0")
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    if "MASTER_PORT" not in os.environ:
        os.environ["MASTER_PORT"] = str(free_port())
        return True
    return False


def cache_dir() -> Path:
    """flowbench's cache: ``$FLOWBENCH_CACHE`` or ``~/.cache/flowbench``."""
    root = os.environ.get("FLOWBENCH_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "flowbench"


def ensure_extensions_dir() -> None:
    """Point ``TORCH_EXTENSIONS_DIR`` (DeepSpeed's compiled ops) at flowbench's cache if unset."""
    if not os.environ.get("TORCH_EXTENSIONS_DIR"):
        os.environ["TORCH_EXTENSIONS_DIR"] = str(cache_dir() / "torch_extensions")


def init_process_group() -> DistInfo:
    """Initialise ``torch.distributed`` through DeepSpeed (idempotent) and pick this rank's device."""
    own_port = ensure_env()
    ensure_extensions_dir()
    if not torch.cuda.is_available():
        os.environ.setdefault("DS_ACCELERATOR", "cpu")  # no "unable to detect a GPU" warning
    import deepspeed

    quiet_deepspeed()

    local_rank = int(os.environ["LOCAL_RANK"])
    if torch.cuda.is_available():
        backend = "nccl"
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    else:
        backend = "gloo"
        device = torch.device("cpu")
    # A world of one needs no agreed port: whether flowbench picked it or it was inherited (a child
    # of a process that ran in-process and still listens on it), a taken port is replaced.
    attempts = 5 if own_port or int(os.environ["WORLD_SIZE"]) == 1 else 1
    for attempt in range(attempts):
        if torch.distributed.is_initialized():
            break
        try:
            deepspeed.init_distributed(
                dist_backend=backend,
                auto_mpi_discovery=False,
                verbose=False,
                timeout=timedelta(minutes=_timeout_min()),
            )
        except torch.distributed.DistNetworkError:
            # The port was taken before the store bound it (another local run started at the same
            # moment, or a parent process holds the inherited one): pick another one.
            if attempt == attempts - 1:
                raise
            os.environ["MASTER_PORT"] = str(free_port())
    return DistInfo(
        rank=torch.distributed.get_rank(),
        world_size=torch.distributed.get_world_size(),
        local_rank=local_rank,
        device=device,
        backend=backend,
    )


def quiet_deepspeed() -> None:
    """DeepSpeed's INFO lines drown the progress bar; keep its warnings (``FLOWBENCH_DEBUG=1``: all)."""
    if os.environ.get("FLOWBENCH_DEBUG"):
        return
    from deepspeed.utils import logger

    logger.setLevel(logging.WARNING)
    if not torch.cuda.is_available():  # "No CUDA runtime is found" when DeepSpeed loads its CPU op
        logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)


def _timeout_min() -> int:
    """Collective timeout: rank 0 may evaluate (FID) while the others wait (``FLOWBENCH_DIST_TIMEOUT_MIN``)."""
    return int(os.environ.get("FLOWBENCH_DIST_TIMEOUT_MIN", "120"))


def barrier() -> None:
    if torch.distributed.is_initialized() and torch.distributed.get_world_size() > 1:
        torch.distributed.barrier()


def broadcast_object(obj: object, src: int = 0) -> object:
    """``obj`` from rank ``src`` on every rank."""
    if not torch.distributed.is_initialized() or torch.distributed.get_world_size() == 1:
        return obj
    box = [obj]
    torch.distributed.broadcast_object_list(box, src=src)
    return box[0]
