"""How good is each trained model's velocity field? One yardstick for every continuous objective.

Every continuous-state objective hands its ODE sampler a velocity ``v(x, t)`` (VFM from its
posterior mean, CFM directly, CFM-endpoint from its ``x1`` estimate). On the linear path
``x_t = t x1 + (1 - t) x0`` the velocity implies an estimate of the clean latent,

.. math:: \\hat x_1(x_t, t) = x_t + (1 - t)\\, v(x_t, t),

and the true marginal velocity is the one whose ``hat x1`` is ``E[x1 | x_t]``. So, on held-out code
grids, this script measures for each model and time ``t``:

* ``endpoint_mse``: ``E ||hat x1 - x1||^2`` per latent element. It is minimised by the exact
  ``E[x1 | x_t]`` (the remainder is the irreducible posterior variance, the same for every model), so
  a lower value at equal ``t`` is a better velocity field, whatever the objective trained. It equals
  ``(1 - t)^2`` times the CFM loss of the model's velocity.
* ``code_acc``: how often the nearest code to ``hat x1`` is the true code (per position).
* ``cond_gain``: ``endpoint_mse`` with the null label minus with the true label: how much the
  model uses the class (what classifier-free guidance and class accuracy rest on).

The same ``x0``, ``t`` and held-out codes (the test split through the run's tokenizer) are used for
every model; velocities come from :meth:`Objective.predict` at the run's default temperature unless
``--temperature`` is given, so no objective is named here. Masked-state objectives (DFM) have no
continuous velocity and are skipped.

Run (after ``flowbench bench benchmarks/fmnist-cpu.toml``)::

    python benchmarks/velocity_error.py benchmarks/results/fmnist-cpu --json velocity_error.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from collections import defaultdict
from pathlib import Path

import torch

TIMES = (0.1, 0.3, 0.5, 0.7, 0.9)


def held_out_codes(run, num: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``num`` test-split code grids and labels, through the run's own tokenizer (cached)."""
    from flowbench.engine.token_data import token_arrays
    from flowbench.tokens import TokenDataset, ensure_token_cache

    d = run.config.data
    path = ensure_token_cache(
        d.dataset, "test", run.tokenizer, run.config.tokenizer.name, root=d.root, image_size=d.image_size
    )
    codes, labels = token_arrays(TokenDataset(path, expect=run.tokenizer.describe()))
    return codes[:num].long(), labels[:num].long()


def measure(run, codes, labels, times, temperature, seed: int, batch: int = 500) -> dict[float, dict[str, float]]:
    from flowbench.categorical import nearest_code

    obj, model = run.objective, run.model
    null = torch.full_like(labels, run.num_classes)
    out: dict[float, dict[str, float]] = {}
    for t_value in times:
        sums = defaultdict(float)
        n_el = n_pos = 0
        gen = torch.Generator().manual_seed(seed)
        for s in range(0, len(codes), batch):
            c, y = codes[s : s + batch], labels[s : s + batch]
            x1 = obj.codebook[c].permute(0, 3, 1, 2).float()
            x0 = torch.randn(x1.shape, generator=gen)
            t = torch.full((len(c),), t_value)
            xt = t_value * x1 + (1 - t_value) * x0
            with torch.no_grad():
                for name, lab in (("cond", y), ("null", null[s : s + batch])):
                    v = obj.predict(model, xt, t, lab, temperature=temperature).velocity
                    x1_hat = xt + (1 - t_value) * v
                    sums[f"{name}_se"] += (x1_hat - x1).pow(2).sum().item()
                    if name == "cond":
                        sums["hits"] += (nearest_code(x1_hat, obj.codebook) == c).sum().item()
            n_el += x1.numel()
            n_pos += c.numel()
        out[t_value] = {
            "endpoint_mse": sums["cond_se"] / n_el,
            "code_acc": sums["hits"] / n_pos,
            "cond_gain": (sums["null_se"] - sums["cond_se"]) / n_el,
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="a `flowbench bench` results directory")
    parser.add_argument("--num", type=int, default=2000, help="held-out code grids per model")
    parser.add_argument("--temperature", type=float, default=None, help="override every run's temperature")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)

    from flowbench.engine.sampling import load_run

    rows = []
    codes = labels = None
    for cell in sorted((args.results / "cells").iterdir()):
        if not (cell / "config.toml").is_file() or not (cell / "ema").is_dir():
            continue
        run = load_run(cell, device="cpu")
        if run.objective.state_kind != "continuous":
            print(f"skip {cell.name}: {run.objective.state_kind} states have no velocity", file=sys.stderr)
            continue
        if codes is None:
            codes, labels = held_out_codes(run, args.num)
        tau = args.temperature if args.temperature is not None else run.config.sample.temperature
        for t_value, m in measure(run, codes, labels, TIMES, tau, args.seed).items():
            rows.append(
                {
                    "cell": cell.name,
                    "objective": run.config.objective.name,
                    "step": run.step,
                    "seed": run.config.train.seed,
                    "temperature": tau,
                    "t": t_value,
                    **m,
                }
            )
        print(f"measured {cell.name} (step {run.step})", file=sys.stderr)

    import pandas as pd

    df = pd.DataFrame(rows)
    summary = df.groupby(["objective", "t"])[["endpoint_mse", "code_acc", "cond_gain"]].agg(["mean", "std"])
    print(f"held-out: {len(codes)} test grids; seed {args.seed}; {platform.processor() or platform.machine()}")
    print(summary.round(4).to_string())
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
