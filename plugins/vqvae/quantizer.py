"""Vector quantiser with an EMA codebook, dead-code restarts and optional L2-normalised codes.

For encoder outputs :math:`z_e \\in \\mathbb{R}^D` and a codebook :math:`E \\in \\mathbb{R}^{K \\times D}`:

* nearest code: :math:`c = \\arg\\min_k \\lVert z_e - E_k \\rVert^2` (with ``l2_norm``, both
  :math:`z_e` and :math:`E_k` are first scaled to unit length, so this is the largest cosine);
* straight-through estimator: :math:`z_q = z_e + \\mathrm{sg}(E_c - z_e)`, so the decoder's
  gradient reaches the encoder unchanged;
* commitment loss :math:`\\beta \\lVert z_e - \\mathrm{sg}(E_c) \\rVert^2` (``beta = 0.25``);
* the codebook is not learned by gradient but as an exponential moving average of the encoder
  outputs assigned to each code (van den Oord et al. 2017, appendix; decay :math:`\\gamma`):
  :math:`N_k \\leftarrow \\gamma N_k + (1-\\gamma) n_k`, :math:`m_k \\leftarrow \\gamma m_k + (1-\\gamma)
  \\sum_{i: c_i = k} z_{e,i}`, :math:`E_k = m_k / \\tilde N_k` (Laplace-smoothed counts);
* dead-code restarts (as in Jukebox): a code whose running count :math:`N_k` falls below
  ``restart_threshold`` is re-seeded with a random encoder output of the current batch, so the
  whole codebook stays in use.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["EMAQuantizer", "QuantizerOutput"]


@dataclass
class QuantizerOutput:
    """Result of quantising a ``(B, D, h, w)`` latent."""

    quantized: Tensor  # (B, D, h, w), straight-through
    indices: Tensor  # (B, h, w) int64
    commitment_loss: Tensor  # scalar (already multiplied by beta)
    perplexity: Tensor  # scalar, exp(entropy) of this batch's code usage
    restarted: int  # codes re-seeded in this step


class EMAQuantizer(nn.Module):
    """EMA vector quantiser (see module doc).

    Args:
        codebook_size: ``K``.
        embed_dim: ``D``.
        beta: commitment weight.
        decay: EMA decay ``gamma``.
        l2_norm: quantise unit vectors (cosine similarity).
        restart_threshold: running count below which a code is re-seeded (0 disables restarts).
        eps: Laplace smoothing of the counts.
    """

    def __init__(
        self,
        codebook_size: int,
        embed_dim: int,
        beta: float = 0.25,
        decay: float = 0.99,
        l2_norm: bool = False,
        restart_threshold: float = 1.0,
        eps: float = 1e-5,
    ) -> None:
        super().__init__()
        self.codebook_size, self.embed_dim = codebook_size, embed_dim
        self.beta, self.decay, self.l2_norm = beta, decay, l2_norm
        self.restart_threshold, self.eps = restart_threshold, eps
        init = torch.randn(codebook_size, embed_dim)
        if l2_norm:
            init = F.normalize(init, dim=1)
        self.register_buffer("embedding", init)
        self.register_buffer("cluster_size", torch.ones(codebook_size))
        self.register_buffer("embed_sum", init.clone())
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))

    def codebook(self) -> Tensor:
        """The ``(K, D)`` table used for look-ups (unit rows when ``l2_norm``)."""
        return F.normalize(self.embedding, dim=1) if self.l2_norm else self.embedding

    def _prepare(self, z: Tensor) -> Tensor:
        flat = z.permute(0, 2, 3, 1).reshape(-1, self.embed_dim)
        return F.normalize(flat, dim=1) if self.l2_norm else flat

    def nearest(self, flat: Tensor) -> Tensor:
        """Index of the nearest code for each row of ``flat`` ``(N, D)``."""
        table = self.codebook()
        dist = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ table.t() + table.pow(2).sum(1)[None]
        return dist.argmin(1)

    @torch.no_grad()
    def _init_from(self, flat: Tensor) -> None:
        """Seed the codebook with random encoder outputs on the first training batch."""
        picks = flat[torch.randint(0, flat.shape[0], (self.codebook_size,), device=flat.device)]
        self.embedding.copy_(picks)
        self.embed_sum.copy_(picks)
        self.cluster_size.fill_(1.0)
        self.initialized.fill_(True)

    @torch.no_grad()
    def _ema_update(self, flat: Tensor, indices: Tensor) -> int:
        onehot = F.one_hot(indices, self.codebook_size).type(flat.dtype)  # (N, K)
        counts = onehot.sum(0)
        sums = onehot.t() @ flat
        self.cluster_size.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.embed_sum.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        n = self.cluster_size.sum()
        smoothed = (self.cluster_size + self.eps) / (n + self.codebook_size * self.eps) * n
        self.embedding.copy_(self.embed_sum / smoothed[:, None])
        if self.restart_threshold <= 0:
            return 0
        dead = self.cluster_size < self.restart_threshold
        n_dead = int(dead.sum())
        if n_dead:
            picks = flat[torch.randint(0, flat.shape[0], (n_dead,), device=flat.device)]
            picks = picks + 0.01 * picks.std() * torch.randn_like(picks)
            if self.l2_norm:
                picks = F.normalize(picks, dim=1)
            self.embedding[dead] = picks
            self.embed_sum[dead] = picks * self.restart_threshold
            self.cluster_size[dead] = self.restart_threshold
        return n_dead

    def forward(self, z: Tensor) -> QuantizerOutput:
        b, _, h, w = z.shape
        flat = self._prepare(z)
        if self.training and not bool(self.initialized):
            self._init_from(flat.detach())
        indices = self.nearest(flat.detach())
        restarted = self._ema_update(flat.detach(), indices) if self.training else 0
        codes = self.codebook()[indices]
        commitment = self.beta * F.mse_loss(flat, codes.detach())
        quantized = flat + (codes - flat).detach()
        quantized = quantized.view(b, h, w, self.embed_dim).permute(0, 3, 1, 2).contiguous()
        probs = torch.bincount(indices, minlength=self.codebook_size).float() / indices.numel()
        perplexity = torch.exp(-(probs * torch.log(probs.clamp_min(1e-10))).sum())
        return QuantizerOutput(quantized, indices.view(b, h, w), commitment, perplexity, restarted)
