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
