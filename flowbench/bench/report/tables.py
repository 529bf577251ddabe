"""The report's tables, computed from the collected results (:func:`flowbench.bench.collect.collect`).

Curves for convergence use the periodic evaluations made during training (``source == "train"``);
"final" means each cell's last evaluated step. Spreads over seeds are sample standard deviations.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from flowbench.bench.convergence import Curve, iterations_to_fid, mean_curve, speedup

__all__ = [
    "FINAL_METRICS",
    "curves",
    "final_rows",
    "final_metrics",
    "iterations_table",
    "speedup_table",
    "sweep_table",
    "sweep_points",
    "provenance_table",
    "default_global_target",
    "fmt",
]

#: Metrics shown in the final-metrics table, when present.
FINAL_METRICS: tuple[str, ...] = ("fid", "kid_mean", "precision", "recall", "class_accuracy")

# Settings shown per objective in the final table (they may differ between objectives).
_PER_OBJECTIVE = ("objective_name", "sampler", "sample_steps", "nfe", "temperature", "guidance")


def fmt(x: float, digits: int = 3) -> str:
    """A number for a table: ``inf`` shown as ``>max``-style text is the caller's job; NaN as ``-``."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if isinstance(x, float) and math.isinf(x):
        return "not reached"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    return f"{x:.{digits}g}" if abs(x) < 10**digits else f"{x:.0f}"


def _train(df: pd.DataFrame) -> pd.DataFrame:
    out = df[(df["source"] == "train") & df["fid"].notna()] if "fid" in df.columns else df.iloc[0:0]
    return out


def curves(df: pd.DataFrame) -> dict[str, list[Curve]]:
    """Per objective, one FID-vs-iterations curve per seed (training evaluations)."""
    out: dict[str, list[Curve]] = {}
    train = _train(df)
    for (label, _seed), g in train.groupby(["objective", "seed"], sort=True):
        g = g.drop_duplicates("step", keep="last")
        out.setdefault(str(label), []).append(Curve(g["step"].to_numpy(), g["fid"].to_numpy()))
    return out


def final_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Each cell's evaluation at its last training-evaluation step (default temperature/guidance)."""
    train = _train(df)
    if train.empty:
        return train
    last = train.groupby("cell")["step"].transform("max")
    return train[train["step"] == last].drop_duplicates("cell", keep="last")


def _mean_std(values: pd.Series, digits: int = 3) -> str:
    v = values.dropna().astype(float)
    if v.empty:
        return "-"
    if len(v) == 1:
        return fmt(float(v.iloc[0]), digits)
    mean, std = float(v.mean()), float(v.std(ddof=1))
    if std <= 1e-9 * max(abs(mean), 1e-12):
        std = 0.0
    return f"{fmt(mean, digits)} ± {fmt(std, 2)}"


def _one(values: pd.Series) -> str:
    vals = sorted({str(v) for v in values.dropna() if str(v) != ""})
    return ", ".join(vals) if vals else "-"


def final_metrics(df: pd.DataFrame, objectives: Sequence[str]) -> pd.DataFrame:
    """Final metrics per objective: mean ± std over seeds, with the settings that made them."""
    fin = final_rows(df)
    rows = []
    for label in objectives:
        g = fin[fin["objective"] == label]
        if g.empty:
            continue
        row: dict[str, str] = {"objective": label, "seeds": str(g["seed"].nunique()), "step": _one(g["step"])}
        for col in _PER_OBJECTIVE:
            row[col] = _one(g[col]) if col in g else "-"
        for col in FINAL_METRICS:
            if col in g and g[col].notna().any():
                row[col] = _mean_std(g[col])
        if "s_per_step" in g:
            row["s/step (train)"] = _mean_std(g["s_per_step"])
        if "eval_wall_s" in g:
            row["eval wall s"] = _mean_std(g["eval_wall_s"])
        rows.append(row)
    return pd.DataFrame(rows)


def default_global_target(curve_map: dict[str, list[Curve]]) -> float:
    """The worst final mean FID among objectives: a FID every objective reaches."""
    return max(mean_curve(cs).final for cs in curve_map.values())


def iterations_table(curve_map: dict[str, list[Curve]], target: float) -> pd.DataFrame:
    """Iterations each objective needs to reach ``target``: on the mean curve and per seed."""
    rows = []
    for label, cs in curve_map.items():
        per_seed = [iterations_to_fid(c, target) for c in cs]
        finite = [x for x in per_seed if math.isfinite(x)]
        rows.append(
            {
                "objective": label,
                "target FID": fmt(target),
                "iterations (mean curve)": fmt(iterations_to_fid(mean_curve(cs), target)),
                "per seed": ", ".join(fmt(x) for x in per_seed),
                "seeds reaching": f"{len(finite)}/{len(per_seed)}",
                "final FID (geo. mean)": fmt(mean_curve(cs).final),
                "last step": fmt(int(mean_curve(cs).steps[-1])),
            }
        )
    return pd.DataFrame(rows)


def speedup_table(
    curve_map: dict[str, list[Curve]],
    reference: str,
    target: float | None,
    *,
    method: str = "bootstrap",
    level: float = 0.95,
    resamples: int = 2000,
) -> tuple[pd.DataFrame, list]:
    """Speed-up of ``reference`` over every other objective; ``target=None`` = per-pair default."""
    rows, results = [], []
    for label, cs in curve_map.items():
        if label == reference:
            continue
        s = speedup(
            curve_map[reference],
            cs,
            target,
            labels=(reference, label),
            method=method,  # type: ignore[arg-type]
            level=level,
            resamples=resamples,
        )
        results.append(s)
        interval = f"[{_ratio_text(s.low)}, {_ratio_text(s.high)}]"
        if math.isinf(s.baseline_iters) and math.isfinite(s.reference_iters):
            # censored: the baseline needs more than its whole budget, so the ratio is a lower bound
            ratio_text = f"> {fmt(float(cs[0].steps[-1]) / s.reference_iters)}x"
        else:
            ratio_text = _ratio_text(s.ratio)
        rows.append(
            {
                "reference": reference,
                "baseline": label,
                "target FID": fmt(s.target),
                f"{reference} iterations": fmt(s.reference_iters),
                "baseline iterations": fmt(s.baseline_iters),
                "speed-up": ratio_text,
                ("bootstrap " + f"{int(level * 100)}% interval" if method == "bootstrap" else "min-max interval"): (
                    interval
                ),
                "seeds": f"{s.seeds[0]} vs {s.seeds[1]}",
            }
        )
    return pd.DataFrame(rows), results


def _ratio_text(x: float) -> str:
    if math.isnan(x):
        return "-"
    return "inf" if math.isinf(x) else f"{fmt(x)}x"


def sweep_table(df: pd.DataFrame, axis: str, objectives: Sequence[str]) -> pd.DataFrame:
    """FID at the final weights against ``axis`` (``"temperature"`` or ``"guidance"``), the other
    knob held at its default; mean ± std over seeds; one row per objective."""
    other = "guidance" if axis == "temperature" else "temperature"
    pts = sweep_points(df, axis)
    if pts.empty:
        return pts
    pts = pts[np.isclose(pts[other].astype(float), pts[f"default_{other}"].astype(float))]
    table = []
    for label in objectives:
        g = pts[pts["objective"] == label]
        if g[axis].nunique() < 2:
            continue
        row = {"objective": label}
        for value, gv in g.groupby(axis):
            row[f"{axis} {fmt(float(value))}"] = _mean_std(gv["fid"])
        table.append(row)
    return pd.DataFrame(table)


def sweep_points(df: pd.DataFrame, axis: str) -> pd.DataFrame:
    """Rows at each cell's last step (training eval + sweeps) that carry a FID."""
    if "fid" not in df.columns:
        return df.iloc[0:0]
    last = df[df["source"] == "train"].groupby("cell")["step"].max()
    at_end = df[df["fid"].notna() & (df["step"] == df["cell"].map(last))]
    return at_end.drop_duplicates(["cell", "temperature", "guidance"], keep="last")


def provenance_table(df: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Settings shared by every row (one value) and those that vary (listed per value)."""
    rows = []
    for col in columns:
        if col not in df.columns:
            continue
        rows.append({"setting": col, "value": _one(df[col])})
    return pd.DataFrame(rows)
