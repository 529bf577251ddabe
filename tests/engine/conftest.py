"""Engine tests: a tiny real token cache and tiny run configs (DeepSpeed on the CPU, one process).

The cache holds the first 256 Fashion-MNIST test images encoded by a randomly initialised vqvae
(the real tokenizer class; its weights do not matter for the engine). Runs use dit-micro/1 cut to
one block, batch 8, and a handful of steps.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from flowbench.config import RunConfig, load_config
from flowbench.interfaces import ImageDataset

REPO = Path(__file__).resolve().parents[2]
NUM_IMAGES = 256


class _Head(ImageDataset):
    """The first ``n`` items of a dataset."""

    def __init__(self, base: ImageDataset, n: int) -> None:
        self.base, self.n = base, n
        self.num_classes, self.image_size = base.num_classes, base.image_size
        self.channels, self.split = base.channels, base.split

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        return self.base[i]


@pytest.fixture(scope="session")
def token_cache(tmp_path_factory) -> Path:
    import torch

    from flowbench.build import build_dataset, build_tokenizer
    from flowbench.config import ComponentConfig
    from flowbench.tokens import build_token_cache

    torch.manual_seed(0)
    tok = build_tokenizer(ComponentConfig("vqvae", {"pretrained": False}))
    data = _Head(build_dataset("fashion-mnist", "test"), NUM_IMAGES)
    out = tmp_path_factory.mktemp("tokens") / "fmnist-test-256"
    return build_token_cache(data, tok, out, dataset_name="fashion-mnist", tokenizer_name="vqvae", progress=False)


def tiny_overrides(objective: str, tokens: Path, **extra: Any) -> list[str]:
    """``--set`` items of a tiny run."""
    items = {
        "objective.name": objective,
        "backbone.name": "dit-micro/1",
        "backbone.options.depth": 1,
        "backbone.options.width": 64,
        "tokenizer.name": "vqvae",
        "tokenizer.options.pretrained": False,
        "data.tokens": str(tokens),
        "train.steps": 6,
        "train.batch_size": 8,
        "train.log_every": 2,
        "train.checkpoint_every": 3,
        "train.sample_every": 6,
        "sample.num": 4,
        "sample.steps": 2,
        **extra,
    }
    out = []
    for key, value in items.items():
        if isinstance(value, str):
            value = '"' + value + '"'
        elif isinstance(value, bool):
            value = "true" if value else "false"
        out.append(f"{key}={value}")
    return out


def tiny_config(objective: str, tokens: Path, **extra: Any) -> RunConfig:
    return load_config(None, tiny_overrides(objective, tokens, **extra))


def cli_env() -> dict[str, str]:
    """Environment of a ``flowbench`` subprocess: one thread (deterministic and robust to load)."""
    env = dict(os.environ)
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    env["OMP_NUM_THREADS"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def flowbench_cmd() -> list[str]:
    """The installed ``flowbench`` console script of this interpreter's environment."""
    script = Path(sys.executable).parent / "flowbench"
    return [str(script)] if script.exists() else [sys.executable, "-c", "from flowbench.cli import main; main()"]


def run_cli(args: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*flowbench_cmd(), *args], cwd=cwd, env=cli_env(), capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="session")
def trained_runs(token_cache, tmp_path_factory):
    """``trained_runs(objective)`` -> run dir of a tiny in-process training run (made once each)."""
    from flowbench.engine import train

    made: dict[str, Any] = {}

    def get(objective: str):
        if objective not in made:
            out = tmp_path_factory.mktemp("runs") / objective
            made[objective] = (train(tiny_config(objective, token_cache), out=out), out)
        return made[objective]

    return get
