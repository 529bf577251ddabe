"""Engine overhead: samples/s of flowbench's training step against a bare PyTorch loop.

Both loops train the same backbone on the same token batches with the same objective loss,
AdamW and gradient clipping at 1.0, in one process:

* **bare**: ``loss = objective.loss(model, codes, labels); loss.backward(); clip; opt.step()`` on
  in-memory batches: no DeepSpeed, no EMA, no logging;
* **engine**: :func:`flowbench.engine.train` itself (DeepSpeed engine, EMA update, sharded
  batches, loss bookkeeping, a ``metrics.jsonl`` line every step — ``train.log_every = 1``, the
  most expensive setting), timed from its own per-step ``samples_per_s``.

Per-step times after ``--warmup`` steps are reduced to their median; bare and engine alternate
``--repeats`` times and the best median of each is compared (the machine is shared: the best run is
the least disturbed one). Run::

    python benchmarks/engine_overhead.py                       # both shapes
    python benchmarks/engine_overhead.py --shape cpu-default --repeats 5

Shapes: ``cpu-default`` is the default ``flowbench run`` (dit-micro/1, batch 32, vqvae 7x7 grid,
K=512, D=8); ``dit-b2`` is the DiT-B/2 network (12 x 768, 12 heads, patch 2) on an 8x8 grid of the
same tokenizer at 32x32 pixels (the paper's 32x32 grid with K=16384 does not fit a CPU budget).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from flowbench.build import build_backbone, build_objective, build_tokenizer
from flowbench.config import RunConfig, load_config
from flowbench.engine import train
from flowbench.engine.data import ShardedOrder, TokenBatches
from flowbench.engine.environment import cpu_model
from flowbench.engine.rng import seed_everything
from flowbench.engine.run import make_optimizer
from flowbench.engine.token_data import token_arrays
from flowbench.io import read_jsonl
from flowbench.tokens import TokenDataset, ensure_token_cache

SHAPES: dict[str, dict[str, object]] = {
    "cpu-default": {"steps": 30, "warmup": 3, "sets": []},
    "dit-b2": {
        "steps": 5,
        "warmup": 1,
        "sets": ['backbone.name="dit-b/2"', "tokenizer.options.image_size=32"],
    },
}


@dataclass
class Timing:
    name: str
    step_s: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.step_s)


def make_config(shape: str, steps: int) -> RunConfig:
    sets = [
        'objective.name="vfm"',
        "tokenizer.options.pretrained=false",  # shipped weights or not: same shapes and cost
        'data.split="test"',
        f"train.steps={steps}",
        "train.log_every=1",
        f"train.checkpoint_every={steps}",
        "train.sample_every=0",
        *SHAPES[shape]["sets"],  # type: ignore[misc]
    ]
    return load_config(None, sets)


def token_data(cfg: RunConfig):
    seed_everything(cfg.train.seed)
    tok = build_tokenizer(cfg.tokenizer, cfg.tokenizer_checkpoint)
    path = ensure_token_cache(cfg.data.dataset, cfg.data.split, tok, cfg.tokenizer.name, progress=False)
    codes, labels = token_arrays(TokenDataset(path, expect=tok.describe()))
    return tok, path, codes, labels


def bare_loop(cfg: RunConfig, tok, codes, labels, steps: int) -> Timing:
    """The reference: plain PyTorch, same components and recipe."""
    torch.manual_seed(cfg.train.seed)
    objective = build_objective(cfg.objective, tok.codebook())
    spec = objective.backbone_spec(tuple(tok.grid_shape), int(labels.max()) + 1)
    model = build_backbone(cfg.backbone, spec).train()
    t = cfg.train
    opt = make_optimizer(list(model.parameters()), cfg)  # the engine's AdamW settings
    batches = TokenBatches(codes, labels, ShardedOrder(len(codes), 1, 0, t.batch_size, t.seed), torch.device("cpu"))
    gen = torch.Generator().manual_seed(1)
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        x, y = batches.next()
        loss = objective.loss(model, x, y, generator=gen).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), t.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        loss.item()  # the engine reads the loss too (at log steps)
        times.append(time.perf_counter() - t0)
    return Timing("bare", times)


def engine_loop(cfg: RunConfig, path: Path, workdir: Path, index: int) -> Timing:
    cfg.data.tokens = str(path)
    out = workdir / f"engine-{index}"
    train(cfg, out=out)
    rows = read_jsonl(out / "metrics.jsonl")
    return Timing("engine", [cfg.train.batch_size / r["samples_per_s"] for r in rows])


def run_shape(shape: str, repeats: int, workdir: Path) -> dict[str, object]:
    spec = SHAPES[shape]
    steps, warmup = int(spec["steps"]), int(spec["warmup"])  # type: ignore[call-overload]
    cfg = make_config(shape, steps)
    tok, path, codes, labels = token_data(cfg)
    bare, engine = [], []
    for i in range(repeats):
        b = bare_loop(cfg, tok, codes, labels, steps)
        e = engine_loop(make_config(shape, steps), path, workdir / shape, i)
        bare.append(Timing("bare", b.step_s[warmup:]))
        engine.append(Timing("engine", e.step_s[warmup:]))
        print(
            f"  [{shape} repeat {i + 1}/{repeats}] bare {cfg.train.batch_size / bare[-1].median:.1f} samples/s, "
            f"engine {cfg.train.batch_size / engine[-1].median:.1f} samples/s",
            flush=True,
        )
    best_bare = min(t.median for t in bare)
    best_engine = min(t.median for t in engine)
    n_params = sum(p.numel() for p in build_backbone(cfg.backbone, _spec(cfg, tok, labels)).parameters())
    return {
        "shape": shape,
        "backbone": cfg.backbone.name,
        "params_m": round(n_params / 1e6, 2),
        "grid": list(tok.grid_shape),
        "codebook": [tok.codebook_size, tok.embed_dim],
        "batch": cfg.train.batch_size,
        "steps_timed": steps - warmup,
        "repeats": repeats,
        "bare_samples_per_s": round(cfg.train.batch_size / best_bare, 2),
        "engine_samples_per_s": round(cfg.train.batch_size / best_engine, 2),
        "overhead_pct": round(100 * (best_engine / best_bare - 1), 2),
        "all_bare_samples_per_s": [round(cfg.train.batch_size / t.median, 2) for t in bare],
        "all_engine_samples_per_s": [round(cfg.train.batch_size / t.median, 2) for t in engine],
    }


def _spec(cfg: RunConfig, tok, labels):
    objective = build_objective(cfg.objective, tok.codebook())
    return objective.backbone_spec(tuple(tok.grid_shape), int(labels.max()) + 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=[*SHAPES, "all"], default="all")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures as JSON")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    shapes = list(SHAPES) if args.shape == "all" else [args.shape]
    print(
        f"machine: {cpu_model()}, {os.cpu_count()} cores, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), python {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for shape in shapes:
            results.append(run_shape(shape, args.repeats, Path(tmp)))
    print()
    print("| shape | backbone | params | grid | batch | bare samples/s | engine samples/s | overhead |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['shape']} | {r['backbone']} | {r['params_m']}M | {r['grid'][0]}x{r['grid'][1]} | {r['batch']} | "
            f"{r['bare_samples_per_s']} | {r['engine_samples_per_s']} | {r['overhead_pct']:+.1f}% |"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    if any(float(r["overhead_pct"]) > 10 for r in results):  # type: ignore[arg-type]
        sys.exit(1)


if __name__ == "__main__":
    main()
