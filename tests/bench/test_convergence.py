"""Convergence maths on synthetic curves with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from flowbench.bench.convergence import Curve, default_target, iterations_to_fid, mean_curve, speedup

STEPS = np.arange(100, 1001, 100)


def decay(rate: float, scale: float = 1.0) -> Curve:
    """FID = scale * 100 * exp(-step / rate): log-FID is linear in steps, so interpolation is exact."""
    return Curve(STEPS, scale * 100.0 * np.exp(-STEPS / rate))


def test_iterations_interpolate_in_log_fid():
    c = Curve([100, 200, 300], [100.0, 10.0, 1.0])
    assert iterations_to_fid(c, 10.0) == pytest.approx(200.0)
    assert iterations_to_fid(c, math.sqrt(10.0)) == pytest.approx(250.0)  # halfway in log space
    assert iterations_to_fid(c, 1000.0) == 100.0  # reached at (or before) the first evaluation
    assert math.isinf(iterations_to_fid(c, 0.5))  # never reached


def test_iterations_use_the_first_crossing_of_a_noisy_curve():
    c = Curve([100, 200, 300, 400], [50.0, 20.0, 30.0, 10.0])
    assert iterations_to_fid(c, 20.0) == pytest.approx(200.0)
    # 25 is crossed between 100 and 200, not between 200 and 300 (where the curve goes back up)
    expected = 100 + 100 * (math.log(25) - math.log(50)) / (math.log(20) - math.log(50))
    assert iterations_to_fid(c, 25.0) == pytest.approx(expected)


def test_curve_sorts_and_rejects_bad_input():
    c = Curve([300, 100, 200], [1.0, 100.0, 10.0])
    assert list(c.steps) == [100, 200, 300] and c.final == 1.0
    with pytest.raises(ValueError):
        Curve([100, 100], [1.0, 2.0])
    with pytest.raises(ValueError):
        Curve([100], [0.0])


def test_mean_curve_is_geometric_on_common_steps():
    m = mean_curve([Curve([1, 2, 3], [10.0, 10.0, 10.0]), Curve([2, 3], [1000.0, 10.0])])
    assert list(m.steps) == [2, 3]
    assert m.fid == pytest.approx([100.0, 10.0])


def test_speedup_known_ratio_exact_with_symmetric_seed_noise():
    # baseline decays half as fast: it needs exactly twice the iterations for any FID
    ref = [decay(100, s) for s in (0.8, 1.0, 1.25)]
    base = [decay(200, s) for s in (0.8, 1.0, 1.25)]
    target = 100 * math.exp(-4.0)
    s = speedup(ref, base, target, labels=("r", "b"), method="bootstrap", resamples=500, rng=1)
    assert s.reference_iters == pytest.approx(400.0)
    assert s.baseline_iters == pytest.approx(800.0)
    assert s.ratio == pytest.approx(2.0)
    assert s.low < 2.0 < s.high  # seed noise makes a real interval around the true ratio
    assert s.seeds == (3, 3) and (s.reference, s.baseline) == ("r", "b")


def test_speedup_minmax_interval_known_answer():
    # FID_k = c_k * 100 exp(-s/rate) crosses T at s = rate * ln(100 c_k / T)
    scales = (0.8, 1.0, 1.25)
    ref = [decay(100, c) for c in scales]
    base = [decay(200, c) for c in scales]
    target = 100 * math.exp(-4.0)

    def at(rate, c):
        return rate * math.log(100 * c / target)

    s = speedup(ref, base, target, method="minmax")
    assert s.low == pytest.approx(at(200, 0.8) / at(100, 1.25))
    assert s.high == pytest.approx(at(200, 1.25) / at(100, 0.8))


def test_identical_seeds_give_a_degenerate_bootstrap_interval():
    s = speedup([decay(100)] * 3, [decay(300)] * 3, 100 * math.exp(-3.0), resamples=200)
    assert s.ratio == pytest.approx(3.0) and s.low == pytest.approx(3.0) and s.high == pytest.approx(3.0)


def test_default_target_is_the_worse_final_fid_and_baseline_reaches_it_at_its_end():
    ref, base = [decay(100)], [decay(200)]
    assert default_target(ref, base) == pytest.approx(base[0].final)
    s = speedup(ref, base)
    assert s.baseline_iters == pytest.approx(1000.0)
    assert s.reference_iters == pytest.approx(500.0)
    assert s.ratio == pytest.approx(2.0)


def test_unreached_target_is_censored_not_a_number():
    s = speedup([decay(100)], [decay(1000)], 100 * math.exp(-5.0), resamples=50)
    assert math.isinf(s.baseline_iters) and math.isinf(s.ratio)
    with pytest.raises(ValueError):
        speedup([decay(100)], [decay(200)], 10.0, method="median")  # type: ignore[arg-type]


def test_default_target_interval_rederives_the_target_and_stays_finite():
    # with a fixed target at the baseline's mean final FID, resamples of worse baseline seeds would never
    # reach it; re-deriving the target per resample keeps every ratio finite and around the true 2x
    ref = [decay(100, s) for s in (0.8, 1.0, 1.25)]
    base = [decay(200, s) for s in (0.8, 1.0, 1.25)]
    s = speedup(ref, base, resamples=500)
    assert s.ratio == pytest.approx(2.0, rel=0.05)
    assert math.isfinite(s.low) and math.isfinite(s.high) and s.low <= s.ratio <= s.high
    m = speedup(ref, base, method="minmax")
    assert math.isfinite(m.low) and math.isfinite(m.high) and m.low < 2.0 < m.high
