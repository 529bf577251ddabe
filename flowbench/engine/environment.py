"""What a run ran on: versions, hardware, code revision (``environment.json``).

Published numbers are hard to reproduce when the hardware, precision or effective batch size is
missing; every run records them next to its metrics.
"""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

__all__ = ["collect_environment", "cpu_model", "git_commit"]


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), or the platform's processor string."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_commit(path: str | Path) -> dict[str, Any] | None:
    """Commit and dirtiness of the git checkout holding ``path``, or None outside one."""
    try:
        cwd = Path(path).resolve()
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        return {"commit": head, "dirty": bool(dirty)}
    except (OSError, subprocess.SubprocessError):
        return None


def collect_environment(world_size: int, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """A JSON-friendly record of the software and hardware of this process (rank 0)."""
    import deepspeed

    import flowbench

    env: dict[str, Any] = {
        "flowbench": flowbench.__version__,
        "torch": torch.__version__,
        "deepspeed": deepspeed.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "hostname": socket.gethostname(),
        "world_size": world_size,
        "cpu": {"model": cpu_model(), "cores": os.cpu_count(), "torch_threads": torch.get_num_threads()},
    }
    if torch.cuda.is_available():
        env["gpu"] = {
            "name": torch.cuda.get_device_name(0),
            "count": torch.cuda.device_count(),
            "cuda": torch.version.cuda,
            "memory_gib": round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1),
        }
    else:
        env["gpu"] = None
    env["git"] = git_commit(Path(flowbench.__file__).parent)
    if extra:
        env.update(extra)
    return env
