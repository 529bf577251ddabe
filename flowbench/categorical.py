"""Memory-efficient maths of categorical posteriors over a large codebook.

Logits are ``(B, K, *spatial)`` (codes on dim 1, as a backbone writes them). At ``K = 16384`` on a
32x32 grid one such float32 tensor is 64 MiB per sample, so the naive formulas
(``log_softmax`` + ``cross_entropy`` + ``logsumexp`` for a z-loss, or ``softmax(l / tau) @ E``) keep
several tensors of that size alive, and autograd saves more. Everything here works on chunks of
positions instead: apart from the logits themselves (and, in the backward pass, their gradient),
no ``(B, K, N)`` tensor is ever allocated; temporaries are ``(B, K, chunk)``.

Per position ``n`` with logits ``l``:

* ``lse_n = log sum_k exp(l_k)``; cross-entropy ``CE_n = lse_n - l_{c_n}``; z-loss term ``lse_n^2``.
  :func:`logsumexp_and_pick` returns ``(lse, l_c)`` with an exact, chunked backward:
  ``d/dl_k = softmax(l)_k * g_lse + [k = c] * g_pick``.
* posterior ``pi = softmax(l / tau)``; mean ``mu = sum_k pi_k E_k`` (:func:`posterior_mean`);
  entropy in nats, computed from the max-shifted logits ``z'_k = l_k / tau - max_j l_j / tau <= 0``
  with ``S = sum_k exp(z'_k)`` (in ``[1, K]``) as ``H = log S - sum_k pi_k z'_k``. The textbook form
  ``lse(z) - sum_k pi_k z_k`` subtracts two numbers of the size of the logits, so on peaked
  posteriors (large logits, small ``tau``) float32 rounding of order ``eps * |z|`` swamps an entropy
  near 0 (3e-2 nats lost at logits near 1000); the shifted form keeps every term small (error about
  1e-6 nats whatever the logits' offset; ``tests/objectives/test_categorical.py`` checks against float64).
* nearest code ``argmin_k ||x - E_k||^2`` (:func:`nearest_code`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

__all__ = [
    "CHUNK_BYTES",
    "positions_per_chunk",
    "logsumexp_and_pick",
    "cross_entropy_terms",
    "posterior_mean",
    "posterior_probs",
    "entropy_of_probs",
    "nearest_code",
]

#: Target size of one float32 ``(B, K, chunk)`` temporary.
CHUNK_BYTES = 32 * 2**20


def positions_per_chunk(batch: int, num_codes: int, chunk_bytes: int = CHUNK_BYTES) -> int:
    """Positions per chunk so that a float32 ``(batch, num_codes, chunk)`` block is about ``chunk_bytes``."""
    return max(1, chunk_bytes // (4 * max(1, batch) * max(1, num_codes)))


def _acc(dtype: torch.dtype) -> torch.dtype:
    """Accumulation dtype: float32, or float64 for float64 inputs."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def _flat(logits: Tensor) -> Tensor:
    """``(B, K, *spatial)`` -> ``(B, K, N)`` (a view whenever the spatial dims can be merged)."""
    return logits.reshape(logits.shape[0], logits.shape[1], -1)


class _LogsumexpPick(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, logits: Tensor, target: Tensor, chunk: int) -> tuple[Tensor, Tensor]:
        flat = _flat(logits)
        idx = target.reshape(flat.shape[0], 1, -1)
        b, _, n = flat.shape
        acc = _acc(flat.dtype)
        lse = torch.empty(b, n, device=flat.device, dtype=acc)
        pick = torch.empty(b, n, device=flat.device, dtype=acc)
        for s in range(0, n, chunk):
            block = flat[:, :, s : s + chunk].to(acc)
            lse[:, s : s + chunk] = torch.logsumexp(block, dim=1)
            pick[:, s : s + chunk] = block.gather(1, idx[:, :, s : s + chunk]).squeeze(1)
        ctx.save_for_backward(logits, target)
        ctx.chunk = chunk
        return lse.reshape(target.shape), pick.reshape(target.shape)

    @staticmethod
    def backward(ctx: Any, grad_lse: Tensor | None, grad_pick: Tensor | None) -> tuple[Tensor, None, None]:
        logits, target = ctx.saved_tensors
        flat = _flat(logits)
        b, k, n = flat.shape
        idx = target.reshape(b, 1, -1)
        acc = _acc(flat.dtype)
        g_lse = None if grad_lse is None else grad_lse.reshape(b, 1, n).to(acc)
        g_pick = None if grad_pick is None else grad_pick.reshape(b, 1, n).to(acc)
        grad = torch.empty((b, k, n), device=flat.device, dtype=logits.dtype)
        for s in range(0, n, ctx.chunk):
            e = min(n, s + ctx.chunk)
            if g_lse is not None:
                g = torch.softmax(flat[:, :, s:e].to(acc), dim=1).mul_(g_lse[:, :, s:e])
            else:
                g = torch.zeros((b, k, e - s), device=flat.device, dtype=acc)
            if g_pick is not None:
                g.scatter_add_(1, idx[:, :, s:e], g_pick[:, :, s:e])
            grad[:, :, s:e] = g
        return grad.reshape(logits.shape), None, None


def logsumexp_and_pick(logits: Tensor, target: Tensor, chunk: int | None = None) -> tuple[Tensor, Tensor]:
    """Per-position ``logsumexp`` over codes and the target's logit, in float32 (float64 for float64).

    Args:
        logits: ``(B, K, *spatial)`` (any float dtype; computed in float32 chunk by chunk).
        target: ``(B, *spatial)`` int64 code indices.
        chunk: positions per chunk (default: :func:`positions_per_chunk`).

    Returns:
        ``(lse, picked)``, both ``(B, *spatial)`` float32, differentiable with respect to ``logits``
        (the backward pass allocates only the gradient and ``(B, K, chunk)`` temporaries).
    """
    if logits.shape[0] != target.shape[0] or logits.shape[2:] != target.shape[1:]:
        raise ValueError(f"logits {tuple(logits.shape)} and target {tuple(target.shape)} do not match")
    chunk = chunk or positions_per_chunk(logits.shape[0], logits.shape[1])
    return _LogsumexpPick.apply(logits, target.long(), chunk)


def cross_entropy_terms(logits: Tensor, target: Tensor, chunk: int | None = None) -> tuple[Tensor, Tensor]:
    """Per-position cross-entropy ``lse - l_c`` and ``lse`` (for a z-loss ``mean(lse^2)``).

    Returns:
        ``(ce, lse)``, both ``(B, *spatial)`` float32 and differentiable; reduce them as the
        objective defines (e.g. ``ce.mean() + w * lse.pow(2).mean()``).
    """
    lse, picked = logsumexp_and_pick(logits, target, chunk)
    return lse - picked, lse


def _check_temperature(temperature: float) -> None:
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}")


def posterior_mean(
    logits: Tensor,
    codebook: Tensor,
    temperature: float = 1.0,
    need_entropy: bool = False,
    chunk: int | None = None,
) -> tuple[Tensor, Tensor | None]:
    """Mean code under ``pi = softmax(l / tau)`` and, optionally, the entropy of ``pi``.

    Meant for sampling (no saved activations are bounded under autograd).

    Args:
        logits: ``(B, K, *spatial)``.
        codebook: ``(K, D)``.
        temperature: ``tau > 0``.
        need_entropy: also return ``H(pi)`` in nats.

    Returns:
        ``(mu, entropy)``: ``mu`` is ``(B, D, *spatial)`` float32; ``entropy`` is ``(B, *spatial)``
        float32 or None.
    """
    _check_temperature(temperature)
    flat = _flat(logits)
    b, k, n = flat.shape
    if codebook.shape[0] != k:
        raise ValueError(f"logits have {k} codes but the codebook has {codebook.shape[0]} rows")
    book = codebook.float()
    chunk = chunk or positions_per_chunk(b, k)
    mu = torch.empty(b, book.shape[1], n, device=flat.device, dtype=torch.float32)
    ent = torch.empty(b, n, device=flat.device, dtype=torch.float32) if need_entropy else None
    for s in range(0, n, chunk):
        z = flat[:, :, s : s + chunk].float() / temperature
        shifted = z - z.amax(dim=1, keepdim=True)  # <= 0, exactly 0 at the largest logit
        e = torch.exp(shifted)
        total = e.sum(dim=1, keepdim=True)  # in [1, K]
        p = e / total
        mu[:, :, s : s + chunk] = torch.einsum("bkn,kd->bdn", p, book)
        if ent is not None:
            # H = log S - sum_k pi_k z'_k: no cancellation between two large numbers (0 * -inf = 0)
            terms = torch.where(e > 0, p * shifted, torch.zeros_like(p))
            ent[:, s : s + chunk] = torch.log(total).squeeze(1) - terms.sum(dim=1)
    spatial = logits.shape[2:]
    return mu.reshape(b, -1, *spatial), None if ent is None else ent.reshape(b, *spatial)


def posterior_probs(logits: Tensor, temperature: float = 1.0) -> Tensor:
    """``softmax(l / tau)`` over codes, channels last: ``(B, K, *spatial)`` -> ``(B, *spatial, K)`` float32."""
    _check_temperature(temperature)
    return torch.softmax(logits.float().movedim(1, -1) / temperature, dim=-1)


def entropy_of_probs(probs: Tensor) -> Tensor:
    """Entropy in nats of probabilities on the last dim (``0 log 0 = 0``)."""
    return -torch.special.xlogy(probs, probs).sum(dim=-1)


def nearest_code(x: Tensor, codebook: Tensor, chunk: int | None = None) -> Tensor:
    """Index of the nearest codebook row (Euclidean) for each position.

    Args:
        x: ``(B, D, *spatial)`` points in embedding space.
        codebook: ``(K, D)``.

    Returns:
        ``(B, *spatial)`` int64, computed chunk by chunk over positions (``(B, chunk, K)`` distances).
    """
    b, d = x.shape[:2]
    if codebook.shape[1] != d:
        raise ValueError(f"points have {d} channels but codes have {codebook.shape[1]}")
    flat = x.reshape(b, d, -1).float()
    book = codebook.float()
    sq = book.pow(2).sum(dim=1)
    n = flat.shape[2]
    chunk = chunk or positions_per_chunk(b, book.shape[0])
    out = torch.empty(b, n, device=x.device, dtype=torch.long)
    for s in range(0, n, chunk):
        pts = flat[:, :, s : s + chunk]
        dist = sq[None, None, :] - 2 * torch.einsum("bdn,kd->bnk", pts, book)
        out[:, s : s + chunk] = dist.argmin(dim=-1)
    return out.reshape(b, *x.shape[2:])
