"""A small synthetic benchmark results directory, laid out as `flowbench bench` writes it.

FID curves are exact exponentials: objective ``k`` decays with rate ``RATES[k]``, so the speed-up of
one over another is the ratio of their rates, whatever the target.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image

from flowbench.bench import layout
from flowbench.io import append_jsonl, write_json, write_text

RATES = {"alpha": 100.0, "beta": 200.0, "gamma": 350.0}
SEEDS = (0, 1, 2)
SCALES = {0: 0.9, 1: 1.0, 2: 1.0 / 0.9}
STEPS = (100, 200, 300, 400, 500)
TEMPERATURES = (0.8, 1.0, 1.2)


def fid(label: str, seed: int, step: int) -> float:
    return SCALES[seed] * 200.0 * math.exp(-step / RATES[label])


def _config(label: str, seed: int) -> str:
    return f"""
objective = {{ name = "{label}" }}
backbone = {{ name = "dit-micro/1" }}
tokenizer = {{ name = "vqvae" }}

[train]
steps = {STEPS[-1]}
batch_size = 32
seed = {seed}
precision = "fp32"

[sample]
sampler = "euler"
steps = 20
temperature = 1.0

[eval]
every = 100
num_samples = 500
feature_extractor = "fmnist-classifier"
"""


def make_results(root: Path, *, finished: bool = True) -> Path:
    """Write ``root`` with 3 objectives x 3 seeds; ``alpha`` has a temperature sweep."""
    cells = []
    for label in RATES:
        for seed in SEEDS:
            name = f"{label}-seed{seed}"
            d = root / layout.CELLS / name
            d.mkdir(parents=True)
            write_text(d / "config.toml", _config(label, seed))
            write_json(d / "environment.json", {"hardware": "synthetic CPU", "world_size": 1, "precision": "fp32"})
            for step in range(10, STEPS[-1] + 1, 10):
                append_jsonl(d / "metrics.jsonl", {"step": step, "loss": 1.0, "samples_per_s": 64.0})
            for step in STEPS:
                append_jsonl(
                    d / "evals.jsonl",
                    {
                        "step": step,
                        "fid": fid(label, seed, step),
                        "kid_mean": 0.01,
                        "kid_std": 0.001,
                        "precision": 0.5,
                        "recall": 0.4,
                        "class_accuracy": 0.8,
                        "nfe": 20,
                        "eval_wall_s": 3.0,
                        "temperature": 1.0,
                        "guidance": 1.0,
                    },
                )
            sweep = []
            if label == "alpha":
                for t in TEMPERATURES:
                    if t == 1.0:
                        continue
                    row = {"step": STEPS[-1], "fid": fid(label, seed, STEPS[-1]) * (1 + abs(t - 0.9)), "nfe": 20}
                    append_jsonl(d / layout.SWEEPS, {**row, "temperature": t, "guidance": 1.0})
                sweep = [[t, 1.0] for t in TEMPERATURES]
            (d / "samples").mkdir()
            for step in (100, STEPS[-1]):
                Image.fromarray(np.full((8, 8), step % 256, dtype=np.uint8)).save(d / "samples" / f"step{step}.png")
            if finished:
                write_json(d / layout.TRAINED, {"steps": STEPS[-1], "wall_s": 10.0})
                write_json(d / layout.DONE, {"cell": name})
            cells.append({"name": name, "label": label, "seed": seed, "sweep": sweep})
    write_json(
        root / layout.BENCH_JSON,
        {
            "name": "synthetic",
            "description": "Synthetic exponential curves.",
            "profile": None,
            "objectives": list(RATES),
            "seeds": list(SEEDS),
            "report": {"reference": "alpha", "interval": "bootstrap", "level": 0.9, "resamples": 300},
            "cells": cells,
        },
    )
    return root
