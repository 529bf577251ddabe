"""The report's matplotlib figures (PNG, written atomically; Agg backend, no display needed)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from flowbench.bench.convergence import Curve, SpeedUp, mean_curve  # noqa: E402
from flowbench.io import atomic_path  # noqa: E402

__all__ = ["fid_vs_iterations", "fid_vs_knob", "speedup_bars"]


def _save(fig: plt.Figure, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=150, bbox_inches="tight")
    plt.close(fig)
    return path


def _plain_log_ticks(ax: plt.Axes) -> None:
    """Tick labels as plain numbers (300, not 3 x 10^2), also on narrow ranges."""
    from matplotlib.ticker import FuncFormatter

    lo, hi = ax.get_ylim()
    narrow = hi / max(lo, 1e-12) < 10

    def minor(y: float, _: object) -> str:
        mantissa = round(y / 10 ** math.floor(math.log10(y)), 6) if y > 0 else 0
        return f"{y:g}" if narrow or mantissa in (2, 5) else ""

    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}"))
    ax.yaxis.set_minor_formatter(FuncFormatter(minor))


def fid_vs_iterations(
    curve_map: dict[str, list[Curve]], path: Path, *, target: float | None = None, title: str = ""
) -> Path:
    """FID (log scale) against iterations: geometric mean over seeds, band = min..max over seeds."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for label, cs in curve_map.items():
        m = mean_curve(cs)
        (line,) = ax.plot(m.steps, m.fid, marker="o", ms=3, label=f"{label} (n={len(cs)})")
        if len(cs) > 1:
            stack = np.stack([c.fid[np.searchsorted(c.steps, m.steps)] for c in cs])
            ax.fill_between(m.steps, stack.min(0), stack.max(0), color=line.get_color(), alpha=0.2, lw=0)
    if target is not None:
        ax.axhline(target, color="grey", ls="--", lw=1, label=f"target FID {target:.3g}")
    ax.set_yscale("log")
    ax.set_xlabel("training iterations")
    ax.set_ylabel("FID")
    ax.set_title(title or "FID against training iterations (mean over seeds, band = min-max)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    _plain_log_ticks(ax)
    return _save(fig, path)


def fid_vs_knob(points: pd.DataFrame, axis: str, path: Path, objectives: Sequence[str]) -> Path | None:
    """FID at the final weights against ``axis`` (temperature or guidance), mean and min-max over
    seeds, for objectives evaluated at two or more values; None if there is nothing to plot."""
    other = "guidance" if axis == "temperature" else "temperature"
    pts = points[np.isclose(points[other].astype(float), points[f"default_{other}"].astype(float))]
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    drawn = False
    for label in objectives:
        g = pts[pts["objective"] == label]
        if g[axis].nunique() < 2:
            continue
        stats = g.groupby(axis)["fid"].agg(["mean", "min", "max"]).sort_index()
        (line,) = ax.plot(stats.index, stats["mean"], marker="o", ms=3, label=label)
        ax.fill_between(stats.index, stats["min"], stats["max"], color=line.get_color(), alpha=0.2, lw=0)
        drawn = True
    if not drawn:
        plt.close(fig)
        return None
    ax.set_xlabel(axis)
    ax.set_ylabel("FID (final EMA weights)")
    ax.set_title(f"FID against {axis} (mean over seeds, band = min-max)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def speedup_bars(results: Sequence[SpeedUp], path: Path) -> Path | None:
    """Speed-up of the reference over each baseline, with its interval."""
    results = [r for r in results if math.isfinite(r.ratio) and r.ratio > 0]
    if not results:
        return None
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    x = np.arange(len(results))
    ratio = np.array([r.ratio for r in results])
    low = np.array([r.low if math.isfinite(r.low) else r.ratio for r in results])
    high = np.array([r.high if math.isfinite(r.high) else r.ratio for r in results])
    ax.bar(x, ratio, color="tab:blue", alpha=0.8)
    ax.errorbar(x, ratio, yerr=[np.maximum(ratio - low, 0), np.maximum(high - ratio, 0)], fmt="none", ecolor="k")
    ax.axhline(1.0, color="grey", lw=1, ls="--")
    ax.set_xticks(x, [f"vs {r.baseline}" for r in results])
    ax.set_ylabel(f"speed-up of {results[0].reference} (x)")
    what = f"{int(results[0].level * 100)}% bootstrap" if results[0].method == "bootstrap" else "min-max"
    ax.set_title(f"Iterations to reach the same FID ({what} interval)", fontsize=9)
    ax.grid(True, axis="y", alpha=0.3)
    return _save(fig, path)
