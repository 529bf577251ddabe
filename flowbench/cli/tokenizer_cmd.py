"""``flowbench tokenizer``: train a tokenizer, and measure how well any tokenizer reconstructs.

``flowbench tokenizer eval`` works for every registered tokenizer. Over a dataset split it reports

* PSNR: mean over images of :math:`10 \\log_{10}(255^2 / \\mathrm{MSE})`, the MSE taken between the
  uint8 original and the uint8 reconstruction (as images are saved);
* codebook usage: the percentage of the ``K`` codes that occur at least once;
* perplexity: :math:`\\exp(-\\sum_k p_k \\log p_k)` of the code frequencies :math:`p_k`
  (``K`` when every code is equally frequent);

and writes a PNG grid: rows of originals, each above the row of its reconstructions.

``flowbench tokenizer train`` trains a tokenizer whose factory offers ``train_tokenizer`` (the
built-in ``vqvae`` does); it resumes when run again with the same ``--out``.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import click
import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from flowbench.build import build_dataset, create
from flowbench.config import parse_override
from flowbench.errors import ConfigError
from flowbench.images import interleave_rows, save_image_grid, to_uint8
from flowbench.interfaces import ImageDataset, Tokenizer
from flowbench.plugins import registry

__all__ = ["command", "ReconstructionReport", "evaluate_reconstruction", "parse_options"]


@dataclass
class ReconstructionReport:
    """Reconstruction quality of a tokenizer on a dataset split (see module doc)."""

    tokenizer: str
    dataset: str
    split: str
    num_images: int
    psnr: float
    mse: float
    codebook_size: int
    codes_used: int
    codebook_usage: float
    perplexity: float
    seconds: float
    grid: str | None = None
    describe: dict[str, Any] = field(default_factory=dict)


def parse_options(items: tuple[str, ...]) -> dict[str, Any]:
    """``("channels=64", "l2_norm=true")`` -> ``{"channels": 64, "l2_norm": True}`` (TOML literals)."""
    options: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--option expects NAME=VALUE (e.g. channels=64), got {item!r}")
        path, value = parse_override(item)
        if len(path) != 1:
            raise ConfigError(f"--option expects name=value without dots, got {item!r}")
        options[path[0]] = value
    return options


def _progress(enabled: bool = True) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        transient=False,
        disable=not enabled,
    )


@torch.no_grad()
def evaluate_reconstruction(
    tokenizer: Tokenizer,
    dataset: ImageDataset,
    *,
    tokenizer_name: str = "",
    dataset_name: str = "",
    num: int | None = None,
    batch_size: int = 256,
    grid_path: str | Path | None = None,
    grid_count: int = 32,
    progress: bool = True,
) -> ReconstructionReport:
    """Encode/decode ``num`` images (default all) of ``dataset``; see the module doc for the metrics."""
    total = len(dataset) if num is None else min(num, len(dataset))
    if total < 1:
        raise ConfigError("tokenizer eval needs at least one image (--num >= 1)")
    counts = torch.zeros(tokenizer.codebook_size, dtype=torch.long)
    psnr_sum, mse_sum = 0.0, 0.0
    shown: list[torch.Tensor] = []
    t0 = time.perf_counter()
    tokenizer.eval()
    with _progress(progress) as bar:
        task = bar.add_task("reconstruct", total=total, info="")
        for start in range(0, total, batch_size):
            stop = min(start + batch_size, total)
            images = torch.stack([dataset[i][0] for i in range(start, stop)])
            indices = tokenizer.encode(images)
            recon = tokenizer.decode(indices).cpu()
            counts += torch.bincount(indices.flatten().cpu(), minlength=tokenizer.codebook_size)
            diff = to_uint8(images).float() - to_uint8(recon).float()
            mse = diff.pow(2).flatten(1).mean(1)
            psnr_sum += float((10 * torch.log10(255.0**2 / mse.clamp_min(1e-10))).sum())
            mse_sum += float(mse.sum())
            if sum(len(s) for s in shown) < grid_count:
                shown.append(torch.stack([images, recon], 1)[: grid_count - sum(len(s) for s in shown)])
            bar.update(task, advance=stop - start, info=f"PSNR {psnr_sum / stop:.2f} dB")
    probs = counts.double() / counts.sum()
    perplexity = math.exp(float(-(probs[probs > 0] * probs[probs > 0].log()).sum()))
    used = int((counts > 0).sum())
    written = None
    if grid_path is not None and shown:
        pairs = torch.cat(shown)
        nrow = min(8, len(pairs))
        keep = (len(pairs) // nrow) * nrow
        grid = interleave_rows(pairs[:keep, 0], pairs[:keep, 1], nrow)
        written = str(save_image_grid(grid, grid_path, nrow=nrow))
    return ReconstructionReport(
        tokenizer=tokenizer_name,
        dataset=dataset_name,
        split=getattr(dataset, "split", ""),
        num_images=total,
        psnr=psnr_sum / total,
        mse=mse_sum / total / 255.0**2,
        codebook_size=tokenizer.codebook_size,
        codes_used=used,
        codebook_usage=100.0 * used / tokenizer.codebook_size,
        perplexity=perplexity,
        seconds=time.perf_counter() - t0,
        grid=written,
        describe=tokenizer.describe(),
    )


@click.group("tokenizer")
def tokenizer_group() -> None:
    """Train a tokenizer or evaluate how well one reconstructs images."""


_option_help = "Tokenizer option NAME=VALUE (repeatable; values are TOML literals)."


@tokenizer_group.command("eval")
@click.option("--tokenizer", "tokenizer_name", default="vqvae", show_default=True, help="Registered tokenizer.")
@click.option("--tokenizer-checkpoint", default=None, help="Local checkpoint path (default: the tokenizer's own).")
@click.option("-o", "--option", "options", multiple=True, help=_option_help)
@click.option("--dataset", default="fashion-mnist", show_default=True, help="Registered dataset.")
@click.option("--split", default="test", show_default=True)
@click.option("--root", default=None, help="Dataset root directory.")
@click.option("--image-size", type=click.IntRange(min=1), default=None, help="Default: the tokenizer's.")
@click.option("--num", type=click.IntRange(min=1), default=None, help="Evaluate the first NUM images only.")
@click.option("--batch-size", type=click.IntRange(min=1), default=256, show_default=True)
@click.option("--grid", "grid_path", default=None, help="PNG path (default: tokenizer-eval-<name>-<split>.png).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def eval_command(
    tokenizer_name: str,
    tokenizer_checkpoint: str | None,
    options: tuple[str, ...],
    dataset: str,
    split: str,
    root: str | None,
    image_size: int | None,
    num: int | None,
    batch_size: int,
    grid_path: str | None,
    as_json: bool,
) -> None:
    """Reconstruction PSNR, codebook usage and perplexity of a tokenizer on a dataset split."""
    tok: Tokenizer = create("tokenizer", tokenizer_name, checkpoint=tokenizer_checkpoint, **parse_options(options))
    data = build_dataset(dataset, split, root=root, image_size=image_size or tok.image_size)
    grid_path = grid_path or f"tokenizer-eval-{tokenizer_name}-{split}.png"
    report = evaluate_reconstruction(
        tok,
        data,
        tokenizer_name=tokenizer_name,
        dataset_name=dataset,
        num=num,
        batch_size=batch_size,
        grid_path=grid_path,
        progress=not as_json,
    )
    if as_json:
        click.echo(json.dumps(asdict(report), indent=2, default=str))
        return
    click.echo(
        f"{tokenizer_name} on {dataset}/{split} ({report.num_images} images): PSNR {report.psnr:.2f} dB, "
        f"codebook usage {report.codebook_usage:.1f}% ({report.codes_used}/{report.codebook_size}), "
        f"perplexity {report.perplexity:.1f}"
    )
    click.echo(f"grid (originals above reconstructions): {report.grid}")


@tokenizer_group.command("train")
@click.option("--tokenizer", "tokenizer_name", default="vqvae", show_default=True, help="A trainable tokenizer.")
@click.option("-o", "--option", "options", multiple=True, help=_option_help)
@click.option("--dataset", default="fashion-mnist", show_default=True)
@click.option("--split", default="train", show_default=True)
@click.option("--root", default=None, help="Dataset root directory.")
@click.option("--image-size", type=click.IntRange(min=1), default=None)
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output directory (resumed if present).")
@click.option("--steps", type=click.IntRange(min=1), default=3000, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=128, show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=2e-3, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--save-every", type=click.IntRange(min=1), default=250, show_default=True)
@click.option("--threads", type=click.IntRange(min=1), default=None, help="torch CPU threads.")
def train_command(
    tokenizer_name: str,
    options: tuple[str, ...],
    dataset: str,
    split: str,
    root: str | None,
    image_size: int | None,
    out: str,
    steps: int,
    batch_size: int,
    lr: float,
    seed: int,
    save_every: int,
    threads: int | None,
) -> None:
    """Train a tokenizer on a dataset split; writes model.safetensors + config.json into --out."""
    reg = registry("tokenizer")
    entry = reg.get(tokenizer_name)
    trainer = getattr(entry.factory, "train_tokenizer", None)
    if trainer is None:
        trainable = [e.name for e in reg if hasattr(e.factory, "train_tokenizer")]
        raise ConfigError(
            f"tokenizer {entry.name!r} cannot be trained by flowbench; trainable: {', '.join(trainable) or '(none)'}"
        )
    if threads:
        torch.set_num_threads(threads)
    data = build_dataset(dataset, split, root=root, image_size=image_size)
    settings = {"steps": steps, "batch_size": batch_size, "lr": lr, "seed": seed, "save_every": save_every}
    meta = {"tokenizer": entry.name, "dataset": dataset, "split": split, "image_size": image_size}
    with _progress() as bar:
        task = bar.add_task(f"train {entry.name}", total=steps, info="")

        def on_step(step: int, logged: Any) -> None:
            info = None
            if logged is not None:
                info = f"loss {logged.loss:.4f}  PSNR {logged.psnr:.2f} dB  ppl {logged.perplexity:.0f}"
            bar.update(task, completed=step, **({"info": info} if info else {}))

        path = trainer(data, out, parse_options(options), settings, meta=meta, on_step=on_step)
    click.echo(f"saved {entry.name} to {path}")


command = tokenizer_group
