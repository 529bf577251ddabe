"""The on-disk layout of a flowbench VQ-VAE: a directory with ``model.safetensors`` + ``config.json``.

``config.json`` holds ``{"model": <VQVAEConfig fields>, ...provenance}``; the weights are the
:class:`~flowbench.builtin.vqvae.model.VQVAE` state dict (encoder, decoder, quantiser buffers).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from flowbench.builtin.vqvae.model import VQVAE, VQVAEConfig
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from flowbench.errors import CheckpointError
from flowbench.io import atomic_path, write_json

__all__ = ["WEIGHTS", "CONFIG", "SHIPPED_DIR", "resolve", "read_config", "save", "load_state"]

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
SHIPPED_DIR = Path(__file__).parent / "weights"


def resolve(path: str | Path) -> tuple[Path, Path]:
    """``(weights file, config file)`` of a checkpoint given as a directory or a weights file."""
    p = Path(path).expanduser()
    weights = p / WEIGHTS if p.is_dir() else p
    config = weights.parent / CONFIG
    if not weights.is_file():
        raise CheckpointError(f"vqvae checkpoint not found: {weights} (expected a directory with {WEIGHTS} + {CONFIG})")
    if not config.is_file():
        raise CheckpointError(f"vqvae checkpoint {weights} has no {CONFIG} beside it (the architecture)")
    return weights, config


def read_config(config: Path) -> tuple[VQVAEConfig, dict[str, Any]]:
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
        return VQVAEConfig.from_dict(data["model"]), data
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{config} is not a vqvae config ({type(exc).__name__}: {exc})") from None


def save(model: VQVAE, out_dir: Path, extra: dict[str, Any] | None = None) -> Path:
    """Write weights then config, each atomically; returns the weights path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    with atomic_path(out_dir / WEIGHTS) as tmp:
        save_file(state, str(tmp), metadata={"format": "pt", "flowbench": "vqvae"})
    write_json(out_dir / CONFIG, {"model": model.cfg.to_dict(), **(extra or {})})
    return out_dir / WEIGHTS


def load_state(weights: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{weights} is not a readable safetensors file ({exc})") from None
