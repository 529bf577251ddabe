"""The LlamaGen VQ tokenizer network (Sun et al., 2024; FoundationVision/LlamaGen,
``tokenizer/tokenizer_image/vq_model.py``), with the module names of its released checkpoints.

``encoder.conv_blocks.{level}.res.{i}`` / ``.attn.{i}`` (attention at the lowest resolution
only) / ``.downsample``, ``encoder.mid.{0,1,2}`` (res, attn, res), ``decoder.conv_blocks`` from
the lowest resolution up (``num_res_blocks + 1`` blocks each, ``.upsample`` on all but the last),
``quantize.embedding.weight`` (``K x D``, used L2-normalised) and ``quantize.codebook_used``
(a usage buffer of the training code), ``quant_conv`` / ``post_quant_conv``.

VQ-16: ``ch_mult = (1, 1, 2, 2, 4)`` (4 downsamplings: 256px -> 16x16); VQ-8: ``(1, 2, 2, 4)``
(256px -> 32x32). Both: ``ch = 128``, ``z_channels = 256``, ``K = 16384``, ``D = 8``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from flowbench.pretrained_vq.blocks import AttnBlock, Downsample, Normalize, ResnetBlock, Upsample

__all__ = ["LlamaGenConfig", "VQ_8", "VQ_16", "LlamaGenVQModel"]


@dataclass(frozen=True)
class LlamaGenConfig:
    ch_mult: tuple[int, ...]
    ch: int = 128
    num_res_blocks: int = 2
    z_channels: int = 256
    codebook_size: int = 16384
    codebook_embed_dim: int = 8
    in_channels: int = 3
    out_channels: int = 3
    usage_buffer: int = 65536

    @property
    def downsampling(self) -> int:
        return 2 ** (len(self.ch_mult) - 1)


VQ_8 = LlamaGenConfig(ch_mult=(1, 2, 2, 4))
VQ_16 = LlamaGenConfig(ch_mult=(1, 1, 2, 2, 4))


def _run(stage: nn.Module, h: Tensor) -> Tensor:
    for i, block in enumerate(stage.res):
        h = block(h)
        if len(stage.attn):
            h = stage.attn[i](h)
    return h


class LlamaGenEncoder(nn.Module):
    def __init__(self, cfg: LlamaGenConfig) -> None:
        super().__init__()
        self.conv_in = nn.Conv2d(cfg.in_channels, cfg.ch, 3, padding=1)
        self.conv_blocks = nn.ModuleList()
        block_in, last = cfg.ch, len(cfg.ch_mult) - 1
        for level, mult in enumerate(cfg.ch_mult):
            stage = nn.Module()
            stage.res, stage.attn = nn.ModuleList(), nn.ModuleList()
            for _ in range(cfg.num_res_blocks):
                stage.res.append(ResnetBlock(block_in, cfg.ch * mult))
                block_in = cfg.ch * mult
                if level == last:
                    stage.attn.append(AttnBlock(block_in))
            if level != last:
                stage.downsample = Downsample(block_in)
            self.conv_blocks.append(stage)
        self.mid = nn.ModuleList([ResnetBlock(block_in), AttnBlock(block_in), ResnetBlock(block_in)])
        self.norm_out = Normalize(block_in)
        self.conv_out = nn.Conv2d(block_in, cfg.z_channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv_in(x)
        for stage in self.conv_blocks:
            h = _run(stage, h)
            if hasattr(stage, "downsample"):
                h = stage.downsample(h)
        for block in self.mid:
            h = block(h)
        return self.conv_out(nn.functional.silu(self.norm_out(h)))


class LlamaGenDecoder(nn.Module):
    def __init__(self, cfg: LlamaGenConfig) -> None:
        super().__init__()
        block_in = cfg.ch * cfg.ch_mult[-1]
        self.conv_in = nn.Conv2d(cfg.z_channels, block_in, 3, padding=1)
        self.mid = nn.ModuleList([ResnetBlock(block_in), AttnBlock(block_in), ResnetBlock(block_in)])
        self.conv_blocks = nn.ModuleList()
        last = len(cfg.ch_mult) - 1
        for level in reversed(range(len(cfg.ch_mult))):
            stage = nn.Module()
            stage.res, stage.attn = nn.ModuleList(), nn.ModuleList()
            for _ in range(cfg.num_res_blocks + 1):
                stage.res.append(ResnetBlock(block_in, cfg.ch * cfg.ch_mult[level]))
                block_in = cfg.ch * cfg.ch_mult[level]
                if level == last:
                    stage.attn.append(AttnBlock(block_in))
            if level != 0:
                stage.upsample = Upsample(block_in)
            self.conv_blocks.append(stage)
        self.norm_out = Normalize(block_in)
        self.conv_out = nn.Conv2d(block_in, cfg.out_channels, 3, padding=1)

    def forward(self, z: Tensor) -> Tensor:
        h = self.conv_in(z)
        for block in self.mid:
            h = block(h)
        for stage in self.conv_blocks:
            h = _run(stage, h)
            if hasattr(stage, "upsample"):
                h = stage.upsample(h)
        return self.conv_out(nn.functional.silu(self.norm_out(h)))


class _Quantize(nn.Module):
    def __init__(self, cfg: LlamaGenConfig) -> None:
        super().__init__()
        self.embedding = nn.Embedding(cfg.codebook_size, cfg.codebook_embed_dim)
        nn.init.uniform_(self.embedding.weight, -1.0 / cfg.codebook_size, 1.0 / cfg.codebook_size)
        self.register_buffer("codebook_used", torch.zeros(cfg.usage_buffer))


class LlamaGenVQModel(nn.Module):
    """Encoder, ``quant_conv`` (z_channels -> D), codebook, ``post_quant_conv``, decoder."""

    def __init__(self, cfg: LlamaGenConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = LlamaGenEncoder(cfg)
        self.decoder = LlamaGenDecoder(cfg)
        self.quantize = _Quantize(cfg)
        self.quant_conv = nn.Conv2d(cfg.z_channels, cfg.codebook_embed_dim, 1)
        self.post_quant_conv = nn.Conv2d(cfg.codebook_embed_dim, cfg.z_channels, 1)

    def encode_latent(self, x: Tensor) -> Tensor:
        return self.quant_conv(self.encoder(x))

    def decode_latent(self, z: Tensor) -> Tensor:
        return self.decoder(self.post_quant_conv(z))
