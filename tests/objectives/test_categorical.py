"""flowbench.categorical: chunked formulas equal the naive ones, values and gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from flowbench.categorical import (
    cross_entropy_terms,
    entropy_of_probs,
    logsumexp_and_pick,
    nearest_code,
    positions_per_chunk,
    posterior_mean,
    posterior_probs,
)


def _logits(dtype=torch.float64, layout="contiguous", seed=0):
    g = torch.Generator().manual_seed(seed)
    if layout == "channels-last-view":  # what DiT's unpatchify returns for patch 1: a permuted view
        return (4 * torch.randn(3, 5, 6, 7, generator=g, dtype=dtype)).permute(0, 3, 1, 2)
    return 4 * torch.randn(3, 7, 5, 6, generator=g, dtype=dtype)


@pytest.mark.parametrize("layout", ["contiguous", "channels-last-view"])
@pytest.mark.parametrize("chunk", [1, 4, 7, None])
def test_cross_entropy_and_z_loss_match_the_naive_version(layout, chunk):
    logits = _logits(layout=layout).requires_grad_(True)
    target = torch.randint(0, 7, (3, 5, 6), generator=torch.Generator().manual_seed(1))
    ce, lse = cross_entropy_terms(logits, target, chunk=chunk)
    loss = ce.mean() + 0.3 * lse.pow(2).mean()
    (grad,) = torch.autograd.grad(loss, logits)
    naive = F.cross_entropy(logits, target) + 0.3 * torch.logsumexp(logits, dim=1).pow(2).mean()
    (naive_grad,) = torch.autograd.grad(naive, logits)
    assert torch.allclose(loss, naive, atol=1e-10) and torch.allclose(grad, naive_grad, atol=1e-12)


def test_gradcheck_with_weighted_parts():
    logits = _logits(seed=2)[:, :, :2, :3].clone().requires_grad_(True)
    target = torch.randint(0, 7, (3, 2, 3), generator=torch.Generator().manual_seed(3))
    weights = torch.rand(3, 2, 3, dtype=torch.float64)

    def f(x):
        lse, picked = logsumexp_and_pick(x, target, chunk=2)
        return (weights * (lse - picked)).sum() + (lse**2).mean() + picked.sum()

    assert torch.autograd.gradcheck(f, (logits,))


def test_low_precision_logits_are_accumulated_in_float32():
    logits = _logits(dtype=torch.float32).to(torch.bfloat16).requires_grad_(True)
    target = torch.randint(0, 7, (3, 5, 6), generator=torch.Generator().manual_seed(1))
    ce, lse = cross_entropy_terms(logits, target, chunk=3)
    assert ce.dtype == torch.float32
    ref = F.cross_entropy(logits.float(), target, reduction="none")
    assert torch.allclose(ce, ref, atol=1e-5)
    ce.mean().backward()
    assert logits.grad.dtype == torch.bfloat16


@pytest.mark.parametrize("tau", [1.0, 0.5, 2.0])
def test_posterior_mean_and_entropy(tau):
    logits = _logits(dtype=torch.float32, layout="channels-last-view")
    book = torch.randn(7, 3)
    mu, ent = posterior_mean(logits, book, tau, need_entropy=True, chunk=4)
    pi = torch.softmax(logits / tau, dim=1)
    assert torch.allclose(mu, torch.einsum("bkhw,kd->bdhw", pi, book), atol=1e-5)
    assert torch.allclose(ent, -(pi * pi.log()).sum(1), atol=1e-4)
    probs = posterior_probs(logits, tau)
    assert torch.allclose(probs, pi.permute(0, 2, 3, 1), atol=1e-6)
    assert torch.allclose(entropy_of_probs(probs), ent, atol=1e-4)
    assert posterior_mean(logits, book, tau)[1] is None
    with pytest.raises(ValueError, match="temperature"):
        posterior_mean(logits, book, 0.0)


@pytest.mark.parametrize("offset", [0.0, 100.0, 1000.0])
@pytest.mark.parametrize("tau", [1.0, 0.1])
def test_entropy_of_peaked_posteriors_matches_float64(offset, tau):
    """Peaked posteriors (one dominant code) with logits far from 0: the entropy is near 0 and must
    not drown in float32 rounding of the logits' size (the form ``lse - sum p z`` lost 3e-2 nats at
    offset 1000)."""
    gen = torch.Generator().manual_seed(0)
    logits = (torch.randn(4, 512, 3, 5, generator=gen) * 0.3 + offset) * tau
    logits[:, 7] += 11.0 * tau + torch.rand(4, 3, 5, generator=gen) * 4.0 * tau  # code 7 dominates
    logits[:, 11, 0, 0] = -float("inf")  # an impossible code contributes 0 log 0 = 0
    book = torch.randn(512, 3, generator=gen)
    _, ent = posterior_mean(logits, book, tau, need_entropy=True, chunk=4)
    z = logits.double() / tau
    logp = torch.log_softmax(z, dim=1)
    exact = -torch.where(logp > -torch.inf, logp.exp() * logp, torch.zeros_like(logp)).sum(1)
    assert float(exact.max()) < 0.2 and float(exact.min()) > 1e-4  # peaked, but not degenerate
    assert torch.isfinite(ent).all()
    assert torch.allclose(ent.double(), exact, atol=2e-6, rtol=1e-4), float((ent.double() - exact).abs().max())


def test_nearest_code():
    book = torch.randn(11, 3)
    x = torch.randn(2, 3, 4, 5)
    ref = torch.cdist(x.permute(0, 2, 3, 1).reshape(-1, 3), book).argmin(1).reshape(2, 4, 5)
    assert torch.equal(nearest_code(x, book, chunk=3), ref)
    assert torch.equal(nearest_code(book.T.reshape(1, 3, 11, 1), book).flatten(), torch.arange(11))


def test_chunk_size_bounds_the_temporary():
    n = positions_per_chunk(batch=8, num_codes=16384)
    assert 8 * 16384 * n * 4 <= 32 * 2**20 and n >= 1
    assert positions_per_chunk(1, 10**9) == 1
