"""Convergence measures: iterations needed to reach a FID, and speed-ups between objectives.

A run gives a curve of FID against training iterations, evaluated at steps :math:`s_1 < \\dots < s_n`.
Seeds of one objective are combined into one curve by the **geometric mean** of FID at each step
(the mean of :math:`\\log \\mathrm{FID}` over seeds), the natural average for a quantity that falls
over orders of magnitude and that we interpolate on a log scale.

**Iterations to reach FID** :math:`F` (the paper's convergence measure). Let :math:`i` be the first
evaluation with :math:`\\mathrm{FID}_i \\le F`. If :math:`i = 1` the answer is :math:`s_1` (reached at
or before the first evaluation). Otherwise the curve is interpolated linearly in log-FID between
the evaluations :math:`i-1` and :math:`i`:

.. math::

    s^*(F) = s_{i-1} + (s_i - s_{i-1})
        \\frac{\\log F - \\log \\mathrm{FID}_{i-1}}{\\log \\mathrm{FID}_i - \\log \\mathrm{FID}_{i-1}} .

If no evaluation reaches :math:`F`, the answer is ``inf`` (censored: more than :math:`s_n`).

**Speed-up** of a reference objective :math:`r` over a baseline :math:`b` at target :math:`F`:
:math:`s^*_b(F) / s^*_r(F)` ("the reference reaches the same FID in that many times fewer
iterations").

**Default target** for a pair (the rule used when no target is given): the worse of the two
objectives' final mean FIDs, :math:`F = \\max(\\mathrm{FID}^{final}_r, \\mathrm{FID}^{final}_b)`, i.e. the FID
both objectives reach within the budget. This is the paper's measure: how many fewer iterations one
objective needs to reach the FID the other ends at.

**Interval** over seeds, by one of two rules. A given target stays fixed; the default target is
re-derived from the resampled (or paired) curves, so the interval includes the uncertainty of the
target itself and the baseline always reaches its own final FID:

* ``"bootstrap"``: resample the seeds of each objective with replacement (independently), rebuild both
  mean curves, recompute the ratio; the interval is the percentile interval of the resampled ratios
  (``inverted_cdf`` quantiles, so a censored ``inf`` stays ``inf``). With :math:`n` seeds there are
  only :math:`\\binom{2n-1}{n}` distinct resamples per objective (10 for 3 seeds): read the interval
  as a spread, not a calibrated confidence interval.
* ``"minmax"``: the smallest and largest ratio over all pairs (reference seed, baseline seed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = [
    "Curve",
    "SpeedUp",
    "IntervalMethod",
    "mean_curve",
    "iterations_to_fid",
    "speedup",
    "default_target",
]

IntervalMethod = Literal["bootstrap", "minmax"]


@dataclass(frozen=True)
class Curve:
    """FID against iterations for one run (or a mean over seeds).

    Attributes:
        steps: increasing evaluation steps.
        fid: FID at each step (> 0).
    """

    steps: np.ndarray
    fid: np.ndarray

    def __post_init__(self) -> None:
        steps = np.asarray(self.steps, dtype=float)
        fid = np.asarray(self.fid, dtype=float)
        if steps.ndim != 1 or steps.shape != fid.shape or steps.size == 0:
            raise ValueError(f"a curve needs equal-length, non-empty steps and fid; got {steps.shape}, {fid.shape}")
        order = np.argsort(steps, kind="stable")
        steps, fid = steps[order], fid[order]
        if np.any(np.diff(steps) == 0):
            raise ValueError("a curve has two evaluations at the same step")
        if np.any(~np.isfinite(fid)) or np.any(fid <= 0):
            raise ValueError("FID values must be finite and > 0")
        object.__setattr__(self, "steps", steps)
        object.__setattr__(self, "fid", fid)

    @property
    def final(self) -> float:
        """FID at the last evaluation."""
        return float(self.fid[-1])


def mean_curve(curves: Sequence[Curve]) -> Curve:
    """Geometric mean of FID over runs, at the steps every run evaluated."""
    if not curves:
        raise ValueError("mean_curve needs at least one curve")
    common = curves[0].steps
    for c in curves[1:]:
        common = np.intersect1d(common, c.steps)
    if common.size == 0:
        raise ValueError("the curves share no evaluation step")
    logs = [np.log(c.fid[np.searchsorted(c.steps, common)]) for c in curves]
    return Curve(common, np.exp(np.mean(logs, axis=0)))


def iterations_to_fid(curve: Curve, target: float) -> float:
    """Iterations at which ``curve`` first reaches FID ``target`` (log-FID interpolation; ``inf``
    if never reached). See the module docstring."""
    if not target > 0:
        raise ValueError(f"target FID must be > 0, got {target}")
    hit = np.nonzero(curve.fid <= target * (1 + 1e-9))[0]  # tolerance: a target taken from a curve is reached
    if hit.size == 0:
        return float("inf")
    i = int(hit[0])
    if i == 0:
        return float(curve.steps[0])
    s0, s1 = curve.steps[i - 1], curve.steps[i]
    l0, l1 = np.log(curve.fid[i - 1]), np.log(curve.fid[i])
    frac = min(max((np.log(target) - l0) / (l1 - l0), 0.0), 1.0)
    return float(s0 + (s1 - s0) * frac)


def default_target(reference: Sequence[Curve], baseline: Sequence[Curve]) -> float:
    """The worse final mean FID of the two objectives (the FID both reach)."""
    return max(mean_curve(reference).final, mean_curve(baseline).final)


@dataclass(frozen=True)
class SpeedUp:
    """How many times fewer iterations ``reference`` needs than ``baseline`` to reach ``target``.

    Attributes:
        reference, baseline: objective labels.
        target: the FID both are measured at.
        reference_iters, baseline_iters: iterations to reach it on the mean curves (``inf`` = never).
        ratio: ``baseline_iters / reference_iters``.
        low, high: interval bounds (see ``method``).
        method: ``"bootstrap"`` or ``"minmax"``.
        level: confidence level of a bootstrap interval (ignored by ``"minmax"``).
        seeds: number of seeds of (reference, baseline).
    """

    reference: str
    baseline: str
    target: float
    reference_iters: float
    baseline_iters: float
    ratio: float
    low: float
    high: float
    method: str
    level: float
    seeds: tuple[int, int]


def _ratio(base_iters: float, ref_iters: float) -> float:
    if np.isinf(ref_iters):
        return 0.0 if np.isfinite(base_iters) else float("nan")
    return base_iters / ref_iters


def speedup(
    reference: Sequence[Curve],
    baseline: Sequence[Curve],
    target: float | None = None,
    *,
    labels: tuple[str, str] = ("reference", "baseline"),
    method: IntervalMethod = "bootstrap",
    level: float = 0.95,
    resamples: int = 2000,
    rng: np.random.Generator | int | None = 0,
) -> SpeedUp:
    """Speed-up of ``reference`` over ``baseline`` (one curve per seed each) at FID ``target``.

    Args:
        reference, baseline: per-seed curves.
        target: FID to reach; ``None`` uses :func:`default_target` (re-derived for each resample or
            pair of seeds).
        labels: names recorded in the result.
        method: ``"bootstrap"`` (percentile interval over seed resamples) or ``"minmax"``.
        level: bootstrap confidence level.
        resamples: bootstrap resamples.
        rng: seed or generator for the bootstrap (deterministic by default).
    """
    if method not in ("bootstrap", "minmax"):
        raise ValueError(f"interval method must be 'bootstrap' or 'minmax', got {method!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    fixed = target
    target = fixed if fixed is not None else default_target(reference, baseline)
    ref_it = iterations_to_fid(mean_curve(reference), target)
    base_it = iterations_to_fid(mean_curve(baseline), target)
    ratio = _ratio(base_it, ref_it)

    def pair_ratio(rs: Sequence[Curve], bs: Sequence[Curve]) -> float:
        t = fixed if fixed is not None else default_target(rs, bs)
        return _ratio(iterations_to_fid(mean_curve(bs), t), iterations_to_fid(mean_curve(rs), t))

    if method == "minmax":
        pairs = np.array([pair_ratio([r], [b]) for r in reference for b in baseline])
        pairs = pairs[~np.isnan(pairs)]
        low, high = (float(pairs.min()), float(pairs.max())) if pairs.size else (float("nan"), float("nan"))
    else:
        gen = np.random.default_rng(rng)
        ratios = np.empty(resamples)
        for k in range(resamples):
            rs = [reference[j] for j in gen.integers(0, len(reference), len(reference))]
            bs = [baseline[j] for j in gen.integers(0, len(baseline), len(baseline))]
            ratios[k] = pair_ratio(rs, bs)
        ratios = ratios[~np.isnan(ratios)]
        alpha = (1 - level) / 2
        if ratios.size:
            low, high = (float(q) for q in np.quantile(ratios, [alpha, 1 - alpha], method="inverted_cdf"))
        else:
            low = high = float("nan")
    return SpeedUp(
        reference=labels[0],
        baseline=labels[1],
        target=float(target),
        reference_iters=ref_it,
        baseline_iters=base_it,
        ratio=ratio,
        low=float(low),
        high=float(high),
        method=method,
        level=level,
        seeds=(len(reference), len(baseline)),
    )
