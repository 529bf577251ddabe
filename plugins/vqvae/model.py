"""A small convolutional VQ-VAE (van den Oord et al., 2017) for low-resolution images.

``image (C, S, S) -> encoder -> (D, S/2^n, S/2^n) -> quantiser -> decoder -> image``, with ``n``
stride-2 downsamplings (``len(channel_mult) - 1``) after a ``patch x patch`` space-to-depth
(pixel unshuffle, which keeps every convolution off the full resolution). For 28x28
Fashion-MNIST, ``patch=2`` and one downsampling give a 7x7 grid.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from flowbench.builtin.vqvae.quantizer import EMAQuantizer, QuantizerOutput
from torch import Tensor, nn

from flowbench.errors import ConfigError

__all__ = ["VQVAEConfig", "VQVAE", "Encoder", "Decoder"]


@dataclass
class VQVAEConfig:
    """Architecture of a :class:`VQVAE` (saved as ``config.json`` beside the weights)."""

    image_size: int = 28
    image_channels: int = 1
    patch: int = 1
    channels: int = 64
    channel_mult: tuple[int, ...] = (1, 2, 2)
    num_res_blocks: int = 1
    codebook_size: int = 512
    embed_dim: int = 8
    l2_norm: bool = False
    beta: float = 0.25
    decay: float = 0.99
    restart_threshold: float = 1.0

    def __post_init__(self) -> None:
        self.channel_mult = tuple(int(m) for m in self.channel_mult)
        factor = self.patch * 2 ** (len(self.channel_mult) - 1)
        if self.patch < 1 or self.image_size % factor:
            raise ConfigError(
                f"vqvae image_size {self.image_size} is not divisible by patch * 2^downsamplings = {factor}"
            )
        if not 2 <= self.codebook_size <= 2**31 - 1 or self.embed_dim < 1:
            raise ConfigError("vqvae codebook_size must be >= 2 and embed_dim >= 1")

    @property
    def grid_size(self) -> int:
        return self.image_size // (self.patch * 2 ** (len(self.channel_mult) - 1))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["channel_mult"] = list(self.channel_mult)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VQVAEConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"vqvae has no option {unknown[0]!r}; options: {', '.join(sorted(known))}")
        return cls(**data)


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(32, channels // 4) or 1, channels)


class ResBlock(nn.Module):
    """``x + conv(act(norm(conv(act(norm(x))))))``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            _norm(channels),
            nn.SiLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
            _norm(channels),
            nn.SiLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.block(x)


class Encoder(nn.Module):
    """Space-to-depth by ``patch``, a stem conv, then per level: a stride-2 conv and residual blocks."""

    def __init__(self, cfg: VQVAEConfig) -> None:
        super().__init__()
        widths = [cfg.channels * m for m in cfg.channel_mult]
        layers: list[nn.Module] = [
            nn.PixelUnshuffle(cfg.patch),
            nn.Conv2d(cfg.image_channels * cfg.patch**2, widths[0], 3, padding=1),
        ]
        for prev, width in zip(widths[:-1], widths[1:]):
            layers.append(nn.Conv2d(prev, width, 4, stride=2, padding=1))
            layers += [ResBlock(width) for _ in range(cfg.num_res_blocks)]
        layers += [_norm(widths[-1]), nn.SiLU(), nn.Conv2d(widths[-1], cfg.embed_dim, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class Decoder(nn.Module):
    """Mirror of :class:`Encoder`: residual blocks and a stride-2 transposed conv per level."""

    def __init__(self, cfg: VQVAEConfig) -> None:
        super().__init__()
        widths = [cfg.channels * m for m in reversed(cfg.channel_mult)]
        layers: list[nn.Module] = [nn.Conv2d(cfg.embed_dim, widths[0], 3, padding=1)]
        for width, nxt in zip(widths[:-1], widths[1:]):
            layers += [ResBlock(width) for _ in range(cfg.num_res_blocks)]
            layers.append(nn.ConvTranspose2d(width, nxt, 4, stride=2, padding=1))
        layers += [
            _norm(widths[-1]),
            nn.SiLU(),
            nn.Conv2d(widths[-1], cfg.image_channels * cfg.patch**2, 3, padding=1),
            nn.PixelShuffle(cfg.patch),
        ]
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z)


class VQVAE(nn.Module):
    """Encoder, EMA quantiser and decoder."""

    def __init__(self, cfg: VQVAEConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.quantizer = EMAQuantizer(
            cfg.codebook_size,
            cfg.embed_dim,
            beta=cfg.beta,
            decay=cfg.decay,
            l2_norm=cfg.l2_norm,
            restart_threshold=cfg.restart_threshold,
        )
        self.decoder = Decoder(cfg)

    def forward(self, images: Tensor) -> tuple[Tensor, QuantizerOutput]:
        """Reconstruction (unclamped) and the quantiser's output."""
        q = self.quantizer(self.encoder(images))
        return self.decoder(q.quantized), q
