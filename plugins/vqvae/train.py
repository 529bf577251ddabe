"""Training a :class:`~flowbench.builtin.vqvae.model.VQVAE` on an image dataset.

Loss per batch: :math:`\\lVert \\hat x - x \\rVert^2` (mean over pixels) plus the quantiser's
commitment loss; the codebook follows its EMA update (see :mod:`flowbench.builtin.vqvae.quantizer`).
Adam with linear warm-up and cosine decay to ``lr * min_lr_ratio``. Batches are drawn uniformly
with replacement from a seeded generator.

The output directory holds ``model.safetensors`` + ``config.json`` (the tokenizer), and, while
training is unfinished, ``trainer_state.pt`` (step, optimiser, RNG): running the same command
again resumes from it. Every file is written atomically, so an interrupted run resumes from the
last save.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from flowbench.builtin.vqvae import checkpoint as ckpt
from flowbench.builtin.vqvae.model import VQVAE, VQVAEConfig
from torch import Tensor

from flowbench.errors import CheckpointError, ConfigError
from flowbench.interfaces import ImageDataset
from flowbench.io import append_jsonl, atomic_path
from flowbench.weights import load_strict

__all__ = ["TrainSettings", "TrainStep", "train_vqvae", "sample_batch"]

STATE = "trainer_state.pt"
LOG = "train_log.jsonl"


@dataclass
class TrainSettings:
    """Optimisation settings of ``flowbench tokenizer train``."""

    steps: int = 3000
    batch_size: int = 128
    lr: float = 2e-3
    warmup: int = 100
    min_lr_ratio: float = 0.05
    seed: int = 0
    save_every: int = 250
    log_every: int = 25


@dataclass
class TrainStep:
    """What one logged step reports (written to ``train_log.jsonl``)."""

    step: int
    loss: float
    mse: float
    psnr: float
    perplexity: float
    restarted: int
    lr: float
    seconds: float


def sample_batch(dataset: ImageDataset, index: Tensor) -> Tensor:
    """Images ``dataset[i]`` for ``i`` in ``index`` as one ``(B, C, H, W)`` tensor."""
    batch = getattr(dataset, "batch", None)
    if callable(batch):
        return batch(index.numpy())[0]
    return torch.stack([dataset[int(i)][0] for i in index])


def _lr_at(step: int, s: TrainSettings) -> float:
    if step < s.warmup:
        return s.lr * (step + 1) / s.warmup
    progress = (step - s.warmup) / max(1, s.steps - s.warmup)
    return s.lr * (s.min_lr_ratio + (1 - s.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def _save(model: VQVAE, opt: torch.optim.Optimizer, gen: torch.Generator, step: int, out: Path, meta: dict) -> None:
    ckpt.save(model, out, {**meta, "step": step})
    with atomic_path(out / STATE) as tmp:
        state = {"step": step, "optimizer": opt.state_dict(), "generator": gen.get_state()}
        torch.save({**state, "torch_rng": torch.get_rng_state()}, tmp)


def train_vqvae(
    dataset: ImageDataset,
    out_dir: str | Path,
    model_cfg: VQVAEConfig,
    settings: TrainSettings,
    meta: dict[str, Any] | None = None,
    on_step: Callable[[int, TrainStep | None], None] | None = None,
) -> Path:
    """Train (or resume) into ``out_dir``; returns the directory. ``on_step(step, logged)`` reports progress."""
    out = Path(out_dir)
    if settings.steps < 1 or settings.batch_size < 1:
        raise ConfigError("tokenizer training needs steps >= 1 and batch_size >= 1")
    if dataset.image_size != model_cfg.image_size or dataset.channels != model_cfg.image_channels:
        raise ConfigError(
            f"dataset images are {dataset.channels}x{dataset.image_size}x{dataset.image_size} but the vqvae expects "
            f"{model_cfg.image_channels}x{model_cfg.image_size}x{model_cfg.image_size}; set image_size/image_channels"
        )
    torch.manual_seed(settings.seed)
    model = VQVAE(model_cfg)
    opt = torch.optim.Adam(model.parameters(), lr=settings.lr)
    gen = torch.Generator().manual_seed(settings.seed)
    start = 0
    meta = {**(meta or {}), "train": asdict(settings)}
    if (out / STATE).is_file():
        weights, config = ckpt.resolve(out)
        saved_cfg, _ = ckpt.read_config(config)
        if saved_cfg != model_cfg:
            raise CheckpointError(
                f"{out} holds a vqvae with a different architecture; pass the same options or a new --out"
            )
        load_strict(model, ckpt.load_state(weights), weights)
        state = torch.load(out / STATE, weights_only=True)
        opt.load_state_dict(state["optimizer"])
        gen.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        start = int(state["step"])
    elif (out / ckpt.WEIGHTS).is_file():
        raise CheckpointError(f"{out} already holds a finished vqvae; choose another --out or delete it")
    out.mkdir(parents=True, exist_ok=True)
    model.train()
    t0 = time.perf_counter()
    for step in range(start, settings.steps):
        lr = _lr_at(step, settings)
        for group in opt.param_groups:
            group["lr"] = lr
        index = torch.randint(0, len(dataset), (settings.batch_size,), generator=gen)
        x = sample_batch(dataset, index)
        recon, q = model(x)
        mse = F.mse_loss(recon, x)
        loss = mse + q.commitment_loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        logged = None
        if (step + 1) % settings.log_every == 0 or step + 1 == settings.steps:
            # images span [-1, 1] (peak-to-peak 2): PSNR = 10 log10(2^2 / mse)
            logged = TrainStep(
                step=step + 1,
                loss=float(loss.detach()),
                mse=float(mse.detach()),
                psnr=10 * math.log10(4.0 / max(float(mse.detach()), 1e-12)),
                perplexity=float(q.perplexity),
                restarted=q.restarted,
                lr=lr,
                seconds=time.perf_counter() - t0,
            )
            append_jsonl(out / LOG, asdict(logged))
        if (step + 1) % settings.save_every == 0 and step + 1 < settings.steps:
            _save(model, opt, gen, step + 1, out, meta)
        if on_step is not None:
            on_step(step + 1, logged)
    ckpt.save(model, out, {**meta, "step": settings.steps})
    (out / STATE).unlink(missing_ok=True)
    return out
