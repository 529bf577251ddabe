"""Engine overhead: samples/s of flowbench's training step against a bare PyTorch loop.

Both loops train the same backbone on the same token batches with the same objective loss,
AdamW and gradient clipping at 1.0, in one process:

* **bare**: ``loss = objective.loss(model, codes, labels); loss.backward(); clip; opt.step()`` on
  in-memory batches: no DeepSpeed, no EMA, no logging;
* **engine**: :func:`flowbench.engine.train` itself (DeepSpeed engine, EMA update, sharded
  batches, loss bookkeeping, a ``metrics.jsonl`` line every step — ``train.log_every = 1``, the
  most expensive setting), timed from its own per-step ``samples_per_s``.

The machine this was written on is shared (six developers on two cores), so wall-clock
samples/s swing by 2x between identical runs. The figure compared is therefore CPU time
(``time.process_time``, all threads of the process) per training step with one torch thread: it
counts the work each loop does, not the time other processes took. The engine's per-step cost is
the difference between two :func:`~flowbench.engine.train` calls of ``warmup`` and
``warmup + steps`` steps (start-up, DeepSpeed initialisation and the final checkpoint cancel out);
the bare loop times its steps after ``warmup`` directly. Each measurement is repeated
``--repeats`` times, interleaved (alternating which goes first), and the medians are compared.
Wall-clock figures are printed too. Run::

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
from flowbench.tokens import TokenDataset, ensure_token_cache

SHAPES: dict[str, dict[str, object]] = {
    "cpu-default": {"steps": 40, "warmup": 3, "sets": []},
    "dit-b2": {
        "steps": 3,
        "warmup": 3,  # the first two or three steps of a 130M model still grow the allocator's pools
        "sets": ['backbone.name="dit-b/2"', "tokenizer.options.image_size=32"],
    },
}


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


def bare_loop(cfg: RunConfig, tok, codes, labels, warmup: int, steps: int) -> tuple[float, float]:
    """The reference, plain PyTorch: (CPU seconds, wall seconds) per step after ``warmup`` steps."""
    torch.manual_seed(cfg.train.seed)
    objective = build_objective(cfg.objective, tok.codebook())
    spec = objective.backbone_spec(tuple(tok.grid_shape), int(labels.max()) + 1)
    model = build_backbone(cfg.backbone, spec).train()
    t = cfg.train
    opt = make_optimizer(list(model.parameters()), cfg)  # the engine's AdamW settings
    batches = TokenBatches(codes, labels, ShardedOrder(len(codes), 1, 0, t.batch_size, t.seed), torch.device("cpu"))
    gen = torch.Generator().manual_seed(1)
    for i in range(warmup + steps):
        if i == warmup:
            cpu0, wall0 = time.process_time(), time.perf_counter()
        x, y = batches.next()
        loss = objective.loss(model, x, y, generator=gen).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), t.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        loss.item()  # the engine reads the loss too (at log steps)
    return (time.process_time() - cpu0) / steps, (time.perf_counter() - wall0) / steps


def engine_run(cfg: RunConfig, out: Path) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one whole :func:`train` call."""
    cpu0, wall0 = time.process_time(), time.perf_counter()
    train(cfg, out=out)
    return time.process_time() - cpu0, time.perf_counter() - wall0


def engine_loop(shape: str, path: Path, workdir: Path, index: int, warmup: int, steps: int) -> tuple[float, float]:
    """Per-step (CPU, wall) seconds of :func:`train`: the difference of a long and a short run."""
    runs = []
    for n in (warmup, warmup + steps):
        cfg = make_config(shape, n)
        cfg.data.tokens = str(path)
        runs.append(engine_run(cfg, workdir / f"engine-{index}-{n}"))
    (cpu_a, wall_a), (cpu_b, wall_b) = runs
    return (cpu_b - cpu_a) / steps, (wall_b - wall_a) / steps


def run_shape(shape: str, repeats: int, workdir: Path) -> dict[str, object]:
    spec = SHAPES[shape]
    steps, warmup = int(spec["steps"]), int(spec["warmup"])  # type: ignore[call-overload]
    cfg = make_config(shape, steps)
    batch = cfg.train.batch_size
    tok, path, codes, labels = token_data(cfg)
    engine_run(make_config(shape, 1), workdir / shape / "first")  # DeepSpeed's first start (op loading)
    bare, engine = [], []
    for i in range(repeats):
        if i % 2:  # alternate which loop goes first, so drift on the machine hits both alike
            engine.append(engine_loop(shape, path, workdir / shape, i, warmup, steps))
            bare.append(bare_loop(cfg, tok, codes, labels, warmup, steps))
        else:
            bare.append(bare_loop(cfg, tok, codes, labels, warmup, steps))
            engine.append(engine_loop(shape, path, workdir / shape, i, warmup, steps))
        print(
            f"  [{shape} {i + 1}/{repeats}] per step: bare {bare[-1][0]:.4f} s CPU / {bare[-1][1]:.4f} s wall, "
            f"engine {engine[-1][0]:.4f} s CPU / {engine[-1][1]:.4f} s wall",
            flush=True,
        )
    bare_cpu = statistics.median(b[0] for b in bare)
    engine_cpu = statistics.median(e[0] for e in engine)
    bare_wall = statistics.median(b[1] for b in bare)
    engine_wall = statistics.median(e[1] for e in engine)
    n_params = sum(p.numel() for p in build_backbone(cfg.backbone, _spec(cfg, tok, labels)).parameters())
    return {
        "shape": shape,
        "backbone": cfg.backbone.name,
        "params_m": round(n_params / 1e6, 2),
        "grid": list(tok.grid_shape),
        "codebook": [tok.codebook_size, tok.embed_dim],
        "batch": batch,
        "steps_timed": steps,
        "warmup": warmup,
        "repeats": repeats,
        "bare_samples_per_cpu_s": round(batch / bare_cpu, 2),
        "engine_samples_per_cpu_s": round(batch / engine_cpu, 2),
        "overhead_pct": round(100 * (engine_cpu / bare_cpu - 1), 2),
        "bare_samples_per_wall_s": round(batch / bare_wall, 2),
        "engine_samples_per_wall_s": round(batch / engine_wall, 2),
        "wall_overhead_pct": round(100 * (engine_wall / bare_wall - 1), 2),
        "per_repeat_cpu_s": {"bare": [round(b[0], 5) for b in bare], "engine": [round(e[0], 5) for e in engine]},
    }


def _spec(cfg: RunConfig, tok, labels):
    objective = build_objective(cfg.objective, tok.codebook())
    return objective.backbone_spec(tuple(tok.grid_shape), int(labels.max()) + 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=[*SHAPES, "all"], default="all")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (CPU time is per process)")
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
    print(
        "| shape | backbone | params | grid | batch | bare samples/CPU-s | engine samples/CPU-s | overhead (CPU) "
        "| bare samples/s (wall) | engine samples/s (wall) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['shape']} | {r['backbone']} | {r['params_m']}M | {r['grid'][0]}x{r['grid'][1]} | {r['batch']} | "
            f"{r['bare_samples_per_cpu_s']} | {r['engine_samples_per_cpu_s']} | {r['overhead_pct']:+.1f}% | "
            f"{r['bare_samples_per_wall_s']} | {r['engine_samples_per_wall_s']} |"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    if any(float(r["overhead_pct"]) > 10 for r in results):  # type: ignore[arg-type]
        sys.exit(1)


if __name__ == "__main__":
    main()
