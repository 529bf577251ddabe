"""adaLN-Zero transformer blocks of DiT, built from timm's ``Attention`` (fused SDPA) and ``Mlp``.

A block modulates layer-normalised tokens with a shift and scale regressed from the conditioning
vector ``c`` (time + class embedding) and gates each residual branch:

.. math::
    x &\\leftarrow x + g_1 \\odot \\mathrm{Attn}\\big(\\mathrm{LN}(x)(1 + s_1) + b_1\\big) \\\\
    x &\\leftarrow x + g_2 \\odot \\mathrm{MLP}\\big(\\mathrm{LN}(x)(1 + s_2) + b_2\\big)

with ``(b_1, s_1, g_1, b_2, s_2, g_2) = Linear(SiLU(c))``. That linear map is initialised at zero
("-Zero"), so every block starts as the identity.
"""

from __future__ import annotations

from timm.layers import Mlp
from timm.models.vision_transformer import Attention
from torch import Tensor, nn

__all__ = ["modulate", "DiTBlock", "FinalLayer"]


def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    """``x * (1 + scale) + shift`` with per-sample ``shift``/``scale`` ``(B, C)`` over tokens ``(B, T, C)``."""
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


def _tanh_gelu() -> nn.Module:
    return nn.GELU(approximate="tanh")


class DiTBlock(nn.Module):
    """One adaLN-Zero block: self-attention and MLP, both modulated and gated by ``c``."""

    def __init__(self, width: int, heads: int, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(width, num_heads=heads, qkv_bias=True)
        self.norm2 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.mlp = Mlp(in_features=width, hidden_features=int(width * mlp_ratio), act_layer=_tanh_gelu, drop=0)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(width, 6 * width))

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        shift1, scale1, gate1, shift2, scale2, gate2 = self.adaLN_modulation(c).chunk(6, dim=1)
        x = x + gate1.unsqueeze(1) * self.attn(modulate(self.norm1(x), shift1, scale1))
        x = x + gate2.unsqueeze(1) * self.mlp(modulate(self.norm2(x), shift2, scale2))
        return x


class FinalLayer(nn.Module):
    """Modulated layer norm and a linear map to ``patch * patch * out_channels`` per token."""

    def __init__(self, width: int, patch_size: int, out_channels: int) -> None:
        super().__init__()
        self.norm_final = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(width, patch_size * patch_size * out_channels)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(width, 2 * width))

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=1)
        return self.linear(modulate(self.norm_final(x), shift, scale))
