"""With the exact posterior in place of the network, each objective's sampler reproduces the data.

The toy distribution (:mod:`exact_posteriors`) has known class-conditional code frequencies per
position. Plugging in the exact network of each objective (posterior logits for Purrception, the
exact marginal velocity/endpoint for CFM, the exact masked posterior for DFM), the registered
objective + its sampler must draw codes whose frequencies pass a chi-square test against those
frequencies (p > 0.001; 4000 grids, i.e. 16000 codes, so a 0.03 error in a 0.25 frequency fails).
These tests exercise the real objectives' velocity/posterior maths, guidance plumbing and samplers;
a wrong sign, a missing ``1 - t``, a mixed-up codebook or a wrong unmasking rate all fail them.
"""

from __future__ import annotations

import pytest
import torch
from exact_posteriors import (
    CODEBOOK,
    GRID,
    NUM_CLASSES,
    ExactLogits,
    ExactMasked,
    ExactRegression,
    chi2_quantile,
    chi2_statistic,
)

from flowbench.build import build_objective, build_sampler
from flowbench.config import ComponentConfig

N = 4000
LABELS = torch.arange(N) % NUM_CLASSES


def _sample(objective_name: str, model: torch.nn.Module, steps: int, sampler: str | None = None, **options):
    objective = build_objective(ComponentConfig(objective_name, options), CODEBOOK.clone())
    s = build_sampler(sampler, objective, objective_name)
    result = s.sample(model, objective, LABELS, steps, grid_shape=GRID, generator=torch.Generator().manual_seed(0))
    assert result.nfe == s.nfe(steps) and result.indices.shape == (N, *GRID)
    return result.indices


def _assert_matches(indices: torch.Tensor) -> None:
    stat, df = chi2_statistic(indices, LABELS)
    limit = chi2_quantile(df, 0.999)
    assert stat < limit, f"chi-square {stat:.1f} > {limit:.1f} (df {df}): sampled frequencies differ from the data"


@pytest.mark.parametrize("final", ["nearest", "argmax"])
def test_vfm_with_the_exact_posterior_reproduces_the_data(final):
    _assert_matches(_sample("vfm", ExactLogits(), steps=100, final=final))


@pytest.mark.parametrize("sampler,steps", [("heun", 50), ("midpoint", 50)])
def test_vfm_second_order_samplers_reproduce_the_data(sampler, steps):
    _assert_matches(_sample("purrception", ExactLogits(), steps=steps, sampler=sampler))


@pytest.mark.parametrize("name,target", [("cfm", "velocity"), ("cfm-endpoint", "endpoint")])
def test_cfm_with_the_exact_field_reproduces_the_data(name, target):
    _assert_matches(_sample(name, ExactRegression(target), steps=100))


@pytest.mark.parametrize("options", [{"kappa": "linear"}, {"kappa": "poly", "power": 2.0}])
def test_dfm_with_the_exact_posterior_reproduces_the_data(options):
    _assert_matches(_sample("dfm", ExactMasked(), steps=20, **options))


def test_dfm_one_step_fills_everything_from_the_posterior():
    """A single step is the last step: every MASK is drawn from the posterior."""
    _assert_matches(_sample("dfm", ExactMasked(), steps=1))


def test_the_check_has_power():
    """The same check rejects samples from the wrong class (guards against a vacuous statistic)."""
    indices = _sample("dfm", ExactMasked(), steps=4)
    stat, df = chi2_statistic(indices.roll(1, dims=0), LABELS)
    assert stat > chi2_quantile(df, 0.999)


def _sample_pairs(steps: int, n: int = 10000, **options) -> torch.Tensor:
    from exact_posteriors import PAIR_GRID, ExactCorrelatedMasked

    objective = build_objective(ComponentConfig("dfm", options), CODEBOOK.clone())
    s = build_sampler("dfm-euler", objective, "dfm")
    labels = torch.zeros(n, dtype=torch.long)
    model = ExactCorrelatedMasked(objective.mask_index)
    gen = torch.Generator().manual_seed(0)
    return s.sample(model, objective, labels, steps, grid_shape=PAIR_GRID, generator=gen).indices


def test_dfm_sqrt_kappa_reproduces_a_correlated_joint():
    """kappa(t) = t^0.5 with the exact posterior: the sampled joint of two dependent positions must
    match the true joint. Positions revealed in the same step are drawn independently (from their
    marginals), so the sampler's law is ``(1 - q) JOINT + q (marginals' product)`` with ``q`` the
    chance that both reveal in one step: with the exact increment ``q = sum_i (kappa(t_{i+1}) -
    kappa(t_i))^2`` = 0.012 at 200 steps, which shifts the statistic's mean by 2.6 for 10000 pairs
    (the 0.999 critical value at df 15 is 37.7); with the old Euler rate ``h kappa'(t) / (1 - kappa(t))``
    (infinite at t = 0) every position was revealed in the first step, ``q = 1``: the product of the
    marginals."""
    from exact_posteriors import joint_chi2

    stat, df = joint_chi2(_sample_pairs(200, kappa="poly", power=0.5))
    limit = chi2_quantile(df, 0.999)
    assert stat < limit, f"chi-square {stat:.1f} > {limit:.1f} (df {df}): the sampled joint differs from the true one"


def test_the_joint_check_has_power(monkeypatch):
    """The same check rejects the old first-step reveal-all rule (the product of the marginals)."""
    from exact_posteriors import joint_chi2
    from flowbench.builtin.dfm.objective import DFM

    def euler_rate(self, t, h):
        remaining = 1.0 - float(self.kappa(float(t)))
        if remaining <= 0.0 or t + h >= 1.0 - 1e-9:
            return 1.0
        return min(1.0, h * self.kappa_derivative(float(t)) / remaining)

    monkeypatch.setattr(DFM, "unmask_probability", euler_rate)
    stat, df = joint_chi2(_sample_pairs(200, kappa="poly", power=0.5))
    assert stat > chi2_quantile(df, 0.999)
