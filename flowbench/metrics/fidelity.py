"""FID, KID, precision/recall and an Inception-Score-style score, by torch-fidelity's own functions.

Features are extracted once (:mod:`flowbench.metrics.extractor`) and the reference side is cached
(:mod:`flowbench.metrics.reference`); the maths below is torch-fidelity 0.4.0's, called on those
features (``tests/metrics`` checks the numbers equal :func:`torch_fidelity.calculate_metrics` on the
same images):

- FID: ``||mu_g - mu_r||^2 + Tr(S_g + S_r - 2 (S_g S_r)^{1/2})`` over feature means and covariances.
- KID: the unbiased MMD^2 with the cubic kernel ``k(x, y) = (x.y / d + 1)^3``, averaged over
  ``kid_subsets`` random subsets of ``kid_subset_size`` features from each side (the subset size is
  ``min(1000, N_generated, N_reference)`` so small evaluations work); mean and standard deviation.
- Precision / recall (Kynkaenniemi et al., 2019) with ``k = prc_neighborhood``: precision is the
  fraction of generated features inside the union of k-NN balls of the reference features, recall
  the converse. Both sides must have about the same size for the numbers to mean anything, so the
  reference features are subsampled (seeded) to the number of generated ones.
- Score: ``exp(E_x KL(p(y|x) || p(y)))`` over 10 splits from the extractor's logits; for Inception
  logits this is the Inception Score, for a dataset classifier it is labelled ``classifier_score``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from flowbench.errors import ConfigError

__all__ = ["FidelityScores", "FidStatistics", "fid_statistics", "compute_scores", "kid_subset_size"]

#: torch-fidelity's default KID subset size.
KID_SUBSET_SIZE = 1000


@dataclass
class FidStatistics:
    """Mean ``mu`` (F,) and covariance ``sigma`` (F, F) of a feature set (float64)."""

    mu: np.ndarray
    sigma: np.ndarray


def fid_statistics(features: Tensor) -> FidStatistics:
    """torch-fidelity's ``fid_features_to_statistics`` (mean and ``np.cov``)."""
    from torch_fidelity.metric_fid import fid_features_to_statistics

    if features.dim() != 2 or len(features) < 2:
        raise ConfigError(f"FID needs at least 2 feature vectors, got shape {tuple(features.shape)}")
    stats = fid_features_to_statistics(features.detach().cpu().float())
    return FidStatistics(mu=stats["mu"], sigma=stats["sigma"])


def kid_subset_size(num_generated: int, num_reference: int, preferred: int = KID_SUBSET_SIZE) -> int:
    """KID subset size: torch-fidelity's 1000, reduced to the smaller side for small sets."""
    return max(2, min(preferred, num_generated, num_reference))


@dataclass
class FidelityScores:
    """Sample-quality metrics of generated features against reference features."""

    fid: float
    kid_mean: float
    kid_std: float
    kid_subsets: int
    kid_subset_size: int
    precision: float
    recall: float
    f_score: float
    prc_neighborhood: int
    prc_reference_size: int
    num_generated: int
    num_reference: int
    score_name: str | None = None
    score_mean: float | None = None
    score_std: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def compute_scores(
    generated: Tensor,
    reference: Tensor,
    *,
    reference_stats: FidStatistics | None = None,
    generated_logits: Tensor | None = None,
    score_name: str | None = None,
    kid_subsets: int = 100,
    kid_size: int | None = None,
    prc_neighborhood: int = 3,
    prc_reference_size: int | None = None,
    seed: int = 2020,
) -> FidelityScores:
    """All metrics of ``generated`` (N, F) against ``reference`` (M, F) features.

    Args:
        reference_stats: cached FID statistics of ``reference`` (computed if None).
        generated_logits: logits (N, C) for the score; ``score_name`` names it.
        kid_size: KID subset size (default :func:`kid_subset_size`).
        prc_reference_size: reference features used for precision/recall, a seeded subsample
            (default ``min(N, M)``; ``M`` uses them all).
        seed: torch-fidelity's ``rng_seed`` (KID subsets, score splits, the PR subsample).
    """
    from torch_fidelity.metric_fid import fid_statistics_to_metric
    from torch_fidelity.metric_isc import isc_features_to_metric
    from torch_fidelity.metric_kid import kid_features_to_metric
    from torch_fidelity.metric_prc import prc_features_to_metric

    generated = generated.detach().cpu().float()
    reference = reference.detach().cpu().float()
    if generated.dim() != 2 or reference.dim() != 2 or generated.shape[1] != reference.shape[1]:
        raise ConfigError(
            f"feature shapes do not match: generated {tuple(generated.shape)}, reference {tuple(reference.shape)}"
        )
    n, m = len(generated), len(reference)
    if n < prc_neighborhood + 1 or m < prc_neighborhood + 1:
        raise ConfigError(
            f"need more than {prc_neighborhood} samples on each side, got {n} generated and {m} reference"
        )

    stats_g = fid_statistics(generated)
    stats_r = reference_stats or fid_statistics(reference)
    fid = fid_statistics_to_metric(asdict(stats_g), asdict(stats_r), False)["frechet_inception_distance"]

    kid_size = kid_size or kid_subset_size(n, m)
    kid = kid_features_to_metric(
        generated, reference, kid_subsets=kid_subsets, kid_subset_size=kid_size, rng_seed=seed, verbose=False
    )

    prc_size = min(prc_reference_size or min(n, m), m)
    prc_ref = reference
    if prc_size < m:
        order = np.random.RandomState(seed).permutation(m)[:prc_size]
        prc_ref = reference[torch.from_numpy(np.sort(order))]
    big = max(n, prc_size) > 5000  # torch-fidelity's memory-saving path gives the same numbers
    prc = prc_features_to_metric(generated, prc_ref, prc_neighborhood=prc_neighborhood, save_cpu_ram=big, verbose=False)

    score_mean = score_std = None
    if generated_logits is not None:
        isc = isc_features_to_metric(generated_logits.detach().cpu().float(), splits=10, shuffle=True, rng_seed=seed)
        score_mean, score_std = isc["inception_score_mean"], isc["inception_score_std"]

    return FidelityScores(
        fid=float(fid),
        kid_mean=float(kid["kernel_inception_distance_mean"]),
        kid_std=float(kid["kernel_inception_distance_std"]),
        kid_subsets=kid_subsets,
        kid_subset_size=kid_size,
        precision=float(prc["precision"]),
        recall=float(prc["recall"]),
        f_score=float(prc["f_score"]),
        prc_neighborhood=prc_neighborhood,
        prc_reference_size=prc_size,
        num_generated=n,
        num_reference=m,
        score_name=score_name if generated_logits is not None else None,
        score_mean=score_mean,
        score_std=score_std,
    )
