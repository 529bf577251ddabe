"""Installing plugin packages for a test without the network and without touching the venv.

``pip install --no-deps --no-build-isolation --no-index --target SITE PKG`` builds the package with
the venv's setuptools and writes it, with its ``*.dist-info/entry_points.txt``, into ``SITE``.
Subprocesses run with ``PYTHONPATH=SITE``, so ``importlib.metadata`` (and so flowbench's plugin
manager) finds the entry point exactly as for a ``pip install``; the venv is left as it was.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "flowbench-x0-rectified"


def install_into(package: Path, site: Path, scratch: Path) -> Path:
    """Copy ``package`` to ``scratch`` (builds leave files behind) and install it into ``site``."""
    copy = scratch / package.name
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--disable-pip-version-check",
            "--target",
            str(site),
            str(copy),
        ],  # fmt: skip
        capture_output=True,
        text=True,
        env={**os.environ, "PIP_NO_INDEX": "1"},
    )
    assert done.returncode == 0, f"pip install {package.name} failed:\n{done.stdout}\n{done.stderr}"
    return copy


def env_with(site: Path, **extra: str) -> dict[str, str]:
    """The environment of a subprocess that sees the packages in ``site``."""
    path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1", **extra}


def flowbench(*args: str, env: dict[str, str], cwd: Path | None = None, timeout: int = 600):
    """Run the ``flowbench`` console script of this interpreter's environment in a subprocess."""
    script = Path(sys.executable).parent / "flowbench"
    cmd = [str(script)] if script.exists() else [sys.executable, "-c", "from flowbench.cli import main; main()"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)


def run_pytest(paths: list[Path], env: dict[str, str], cwd: Path, timeout: int = 600):
    """Run pytest on ``paths`` in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *map(str, paths)],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=timeout,
    )
