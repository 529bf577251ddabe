"""Exact "networks" for a toy data distribution, to test objectives and samplers without training.

Data: ``K = 4`` codes in ``D = 2`` (the corners of a diamond), a 2x2 grid, 2 classes. Given the
class ``y``, the code at position ``n`` is drawn independently from ``PI[y, :, n]`` (known
frequencies); the null class (index 2) is the mixture of the classes with equal weight, so it is the
true unconditional distribution.

Under the Gaussian path ``x_t = t E_c + (1 - t) x_0`` each position's posterior is exact:

.. math:: p(c \\mid x_t, y) \\propto \\pi_y(c)\\, \\mathcal N(x_t; t E_c, (1 - t)^2 I),

which is what :class:`ExactLogits` returns (the best possible Purrception network), from which
:class:`ExactRegression` derives the exact marginal velocity ``(E[x1 | x_t] - x_t) / (1 - t)`` and
endpoint ``E[x1 | x_t]`` (the best CFM networks). Under the masked path, a masked position's
posterior given the other tokens is ``pi_y`` (positions are independent): :class:`ExactMasked`.
(For the null class the positions are a mixture, hence dependent; the exactness tests use real
classes, where this is exact.)
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

CODEBOOK = torch.tensor([[2.0, 0.0], [0.0, 2.0], [-2.0, 0.0], [0.0, -2.0]])
NUM_CLASSES = 2
GRID = (2, 2)

# PI[y, k, i, j]: class-conditional code frequencies per position (each (i, j) column sums to 1).
_FREQ = torch.tensor(
    [
        # class 0: positions (0,0), (0,1), (1,0), (1,1)
        [[0.70, 0.10, 0.10, 0.10], [0.05, 0.60, 0.05, 0.30], [0.25, 0.25, 0.25, 0.25], [0.10, 0.20, 0.30, 0.40]],
        # class 1
        [[0.10, 0.10, 0.10, 0.70], [0.40, 0.40, 0.10, 0.10], [0.05, 0.05, 0.85, 0.05], [0.50, 0.00, 0.25, 0.25]],
    ]
)  # (y, position, k)
PI = torch.cat([_FREQ, _FREQ.mean(0, keepdim=True)]).permute(0, 2, 1).reshape(NUM_CLASSES + 1, 4, *GRID)


def log_prior(y: Tensor) -> Tensor:
    """``log pi_y`` as ``(B, K, h, w)`` (``-inf`` -> a large negative number)."""
    return PI[y].clamp_min(1e-30).log()


def exact_logits(x: Tensor, t: Tensor, y: Tensor) -> Tensor:
    """``log pi_y(c) - ||x - t E_c||^2 / (2 (1 - t)^2)`` per position: ``(B, K, h, w)``."""
    gap = (1 - t.double()).clamp_min(1e-6).view(-1, 1, 1, 1, 1)
    means = t.double().view(-1, 1, 1, 1, 1) * CODEBOOK.double().view(1, 4, 2, 1, 1)
    sq = (x.double()[:, None] - means).pow(2).sum(dim=2)
    return (log_prior(y).double() - sq / (2 * gap[:, :, 0] ** 2)).float()


class _Exact(nn.Module):
    null_class = NUM_CLASSES

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0


class ExactLogits(_Exact):
    """The exact posterior logits over codes given the continuous ``x_t``."""

    def forward(self, x: Tensor, t: Tensor, y: Tensor) -> Tensor:
        self.calls += 1
        return exact_logits(x, t, y)


class ExactRegression(_Exact):
    """The exact marginal velocity (``target="velocity"``) or endpoint ``E[x1 | x_t]``."""

    def __init__(self, target: str) -> None:
        super().__init__()
        self.target = target

    def forward(self, x: Tensor, t: Tensor, y: Tensor) -> Tensor:
        self.calls += 1
        p = torch.softmax(exact_logits(x, t, y).double(), dim=1)
        endpoint = torch.einsum("bkhw,kd->bdhw", p, CODEBOOK.double())
        if self.target == "endpoint":
            return endpoint.float()
        return ((endpoint - x.double()) / (1 - t.double()).view(-1, 1, 1, 1)).float()


class ExactMasked(_Exact):
    """The exact posterior of masked positions given the tokens (independent positions): ``log pi_y``."""

    def forward(self, x: Tensor, t: Tensor, y: Tensor) -> Tensor:
        self.calls += 1
        return log_prior(y)


def log_marginal_density(x: Tensor, t: Tensor, y: Tensor) -> Tensor:
    """``log p_t(x | y)`` of the Gaussian path, per position ``(B, h, w)`` (for the score)."""
    gap = (1 - t.double()).view(-1, 1, 1, 1)
    means = t.double().view(-1, 1, 1, 1, 1) * CODEBOOK.double().view(1, 4, 2, 1, 1)
    sq = (x.double()[:, None] - means).pow(2).sum(dim=2)
    log_normal = -sq / (2 * gap**2) - 2 * torch.log(gap) - math.log(2 * math.pi)
    return torch.logsumexp(log_prior(y).double() + log_normal, dim=1)


def chi2_quantile(df: int, q: float) -> float:
    """Wilson-Hilferty approximation of the chi-square quantile (accurate to ~1% for df >= 3)."""
    z = float(torch.special.ndtri(torch.tensor(q, dtype=torch.float64)))
    a = 2.0 / (9.0 * df)
    return df * (1.0 - a + z * math.sqrt(a)) ** 3


def chi2_statistic(indices: Tensor, labels: Tensor) -> tuple[float, int]:
    """Pearson's statistic of sampled codes against ``PI`` over every (class, position, code) cell.

    Returns ``(statistic, degrees of freedom)``; cells with zero probability must never be drawn
    (a draw there is an infinite statistic).
    """
    stat, df = 0.0, 0
    for y in range(NUM_CLASSES):
        sel = indices[labels == y]
        n = sel.shape[0]
        for i in range(GRID[0]):
            for j in range(GRID[1]):
                counts = torch.bincount(sel[:, i, j], minlength=4).double()
                expected = n * PI[y, :, i, j].double()
                zero = expected == 0
                if bool((counts[zero] > 0).any()):
                    return math.inf, 1
                stat += float(((counts[~zero] - expected[~zero]) ** 2 / expected[~zero]).sum())
                df += int((~zero).sum()) - 1
    return stat, df


# -- a correlated two-position toy for the masked path ---------------------------------------------
#: ``JOINT[a, b]``: the joint law of the codes at positions (0, 0) and (0, 1) of a 1x2 grid (one class).
#: Strongly dependent (mass near the diagonal), so the product of its marginals is far from it; every
#: pair is possible (two positions revealed in one step are drawn independently and may land anywhere).
JOINT = torch.tensor(
    [
        [0.20, 0.04, 0.01, 0.01],
        [0.02, 0.24, 0.03, 0.01],
        [0.01, 0.02, 0.15, 0.06],
        [0.04, 0.01, 0.03, 0.12],
    ],
    dtype=torch.float64,
)
PAIR_GRID = (1, 2)


class ExactCorrelatedMasked(_Exact):
    """The exact posterior of each masked position of :data:`JOINT` given the other's token.

    Under the masked path, whether a position is masked is independent of the codes, so a masked
    position's posterior given the state is ``P(c_n | c_m)`` when the other position ``m`` is
    revealed and the marginal ``P(c_n)`` when it is masked; it does not depend on ``t``. Logits
    ``(B, 4, 1, 2)``; a revealed position gets any valid row (the sampler never reads it).
    """

    def __init__(self, mask_index: int = 4) -> None:
        super().__init__()
        self.mask_index = mask_index

    def forward(self, x: Tensor, t: Tensor, y: Tensor) -> Tensor:
        self.calls += 1
        joint = JOINT.clamp_min(1e-30)
        marg0, marg1 = joint.sum(1), joint.sum(0)
        other0, other1 = x[:, 0, 1], x[:, 0, 0]  # what position 0 (resp. 1) sees at the other one
        cond0 = joint[:, other0.clamp(max=3)].T  # P(a | b = other0) up to normalisation, (B, 4)
        cond1 = joint[other1.clamp(max=3)]  # P(b | a = other1), (B, 4)
        p0 = torch.where((other0 == self.mask_index)[:, None], marg0.expand_as(cond0), cond0)
        p1 = torch.where((other1 == self.mask_index)[:, None], marg1.expand_as(cond1), cond1)
        logits = torch.stack([p0, p1], dim=-1).log()  # (B, 4, 2)
        return logits[:, :, None, :].float()


def joint_chi2(indices: Tensor) -> tuple[float, int]:
    """Pearson's statistic of sampled code pairs ``(N, 1, 2)`` against :data:`JOINT` (16 cells, df 15)."""
    pairs = indices[:, 0, 0] * 4 + indices[:, 0, 1]
    counts = torch.bincount(pairs, minlength=16).double()
    expected = len(pairs) * JOINT.flatten()
    return float(((counts - expected) ** 2 / expected).sum()), 15
