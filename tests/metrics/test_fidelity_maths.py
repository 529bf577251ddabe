"""The metric maths on known feature sets (torch-fidelity's functions, called through ours)."""

import numpy as np
import pytest
import torch

from flowbench.errors import ConfigError
from flowbench.metrics import compute_scores, kid_subset_size


def gaussian(n: int, d: int, shift: float = 0.0, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64).float() + shift


def test_identical_sets_give_zero():
    x = gaussian(500, 16)
    s = compute_scores(x, x.clone(), kid_subsets=5)
    assert abs(s.fid) < 1e-6
    # the unbiased MMD^2 of a set against itself is <= 0 (1'K1 <= m tr K for a PSD kernel matrix) and small
    assert -0.05 < s.kid_mean <= 1e-9
    assert s.precision == 1.0 and s.recall == 1.0


def test_fid_of_shifted_gaussians_is_the_squared_shift():
    """For equal covariances FID = ||mu_1 - mu_2||^2 = d * shift^2 (up to sampling error)."""
    d = 8
    ref = gaussian(2000, d, seed=1)
    for shift in (0.5, 1.0):
        s = compute_scores(gaussian(2000, d, shift, seed=2), ref, kid_subsets=1, kid_size=200)
        assert s.fid == pytest.approx(d * shift**2, rel=0.1, abs=0.05)


def test_metrics_are_monotone_in_the_shift():
    ref = gaussian(600, 16, seed=1)
    scores = [compute_scores(gaussian(600, 16, shift, seed=2), ref, kid_subsets=3) for shift in (0.0, 0.3, 0.6, 1.2)]
    fids = [s.fid for s in scores]
    kids = [s.kid_mean for s in scores]
    precisions = [s.precision for s in scores]
    assert fids == sorted(fids) and fids[0] < fids[-1] / 20
    assert kids == sorted(kids)
    assert precisions == sorted(precisions, reverse=True) and precisions[-1] < precisions[0]


def test_kid_subset_size_adapts_to_small_sets():
    assert kid_subset_size(5000, 10000) == 1000
    assert kid_subset_size(300, 10000) == 300
    s = compute_scores(gaussian(50, 4), gaussian(60, 4, seed=3), kid_subsets=5)
    assert s.kid_subset_size == 50


def test_precision_recall_use_an_equal_size_reference_subsample():
    s = compute_scores(gaussian(200, 4), gaussian(1000, 4, seed=3), kid_subsets=2)
    assert s.prc_reference_size == 200 and s.num_reference == 1000
    s = compute_scores(gaussian(200, 4), gaussian(1000, 4, seed=3), kid_subsets=2, prc_reference_size=1000)
    assert s.prc_reference_size == 1000


def test_score_from_logits():
    """Confident, uniformly spread predictions over C classes give a score of C (each of the 10 shuffled
    splits is only about uniform); constant ones give exactly 1."""
    c = 5
    spread = torch.nn.functional.one_hot(torch.arange(1000) % c, c).float() * 50
    same = torch.nn.functional.one_hot(torch.zeros(1000, dtype=torch.long), c).float() * 50
    x = gaussian(1000, 4)
    kw = {"kid_subsets": 1, "kid_size": 50}
    assert compute_scores(x, x, generated_logits=spread, score_name="s", **kw).score_mean == pytest.approx(c, rel=0.05)
    assert compute_scores(x, x, generated_logits=same, score_name="s", **kw).score_mean == pytest.approx(1.0, rel=1e-3)
    assert compute_scores(x, x, **kw).score_name is None


def test_bad_shapes():
    with pytest.raises(ConfigError):
        compute_scores(gaussian(10, 4), gaussian(10, 5))
    with pytest.raises(ConfigError):
        compute_scores(gaussian(3, 4), gaussian(10, 4))


def test_fid_statistics_dtypes_match_torch_fidelity():
    from flowbench.metrics import fid_statistics

    st = fid_statistics(gaussian(10, 3))
    assert st.mu.dtype == np.float32 and st.sigma.dtype == np.float64
