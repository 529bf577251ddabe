"""The LDM / taming-transformers ``VQModel``: encoder, ``quant_conv``, codebook, ``post_quant_conv``, decoder.

Module names follow CompVis latent-diffusion (``ldm/models/autoencoder.py`` and
``ldm/modules/diffusionmodules/model.py``): ``encoder.down.{level}.block.{i}``,
``encoder.down.{level}.attn.{i}`` (at the resolutions in ``attn_resolutions``),
``encoder.down.{level}.downsample``, ``encoder.mid.{block_1,attn_1,block_2}``, ``decoder.up.{level}...``
and ``quantize.embedding.weight``. ``resolution`` only decides where attention sits; the network is
convolutional and runs on any size divisible by ``2^(len(ch_mult) - 1)``.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from flowbench.pretrained_vq.blocks import AttnBlock, Downsample, Normalize, ResnetBlock, Upsample

__all__ = ["LDMConfig", "VQ_F8", "LDMEncoder", "LDMDecoder", "VQModel"]


@dataclass(frozen=True)
class LDMConfig:
    """``ddconfig`` + ``n_embed``/``embed_dim`` of an LDM VQ first-stage model."""

    ch: int = 128
    ch_mult: tuple[int, ...] = (1, 2, 2, 4)
    num_res_blocks: int = 2
    attn_resolutions: tuple[int, ...] = (32,)
    resolution: int = 256
    in_channels: int = 3
    out_ch: int = 3
    z_channels: int = 4
    embed_dim: int = 4
    n_embed: int = 16384
    dropout: float = 0.0

    @property
    def downsampling(self) -> int:
        return 2 ** (len(self.ch_mult) - 1)


#: ``models/first_stage_models/vq-f8/config.yaml`` of latent-diffusion.
VQ_F8 = LDMConfig()


class LDMEncoder(nn.Module):
    def __init__(self, cfg: LDMConfig) -> None:
        super().__init__()
        self.conv_in = nn.Conv2d(cfg.in_channels, cfg.ch, 3, padding=1)
        self.down = nn.ModuleList()
        res, block_in = cfg.resolution, cfg.ch
        for level, mult in enumerate(cfg.ch_mult):
            stage = nn.Module()
            stage.block, stage.attn = nn.ModuleList(), nn.ModuleList()
            for _ in range(cfg.num_res_blocks):
                stage.block.append(ResnetBlock(block_in, cfg.ch * mult, cfg.dropout))
                block_in = cfg.ch * mult
                if res in cfg.attn_resolutions:
                    stage.attn.append(AttnBlock(block_in))
            if level != len(cfg.ch_mult) - 1:
                stage.downsample = Downsample(block_in)
                res //= 2
            self.down.append(stage)
        self.mid = nn.Module()
        self.mid.block_1 = ResnetBlock(block_in, block_in, cfg.dropout)
        self.mid.attn_1 = AttnBlock(block_in)
        self.mid.block_2 = ResnetBlock(block_in, block_in, cfg.dropout)
        self.norm_out = Normalize(block_in)
        self.conv_out = nn.Conv2d(block_in, cfg.z_channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv_in(x)
        for stage in self.down:
            for i, block in enumerate(stage.block):
                h = block(h)
                if len(stage.attn):
                    h = stage.attn[i](h)
            if hasattr(stage, "downsample"):
                h = stage.downsample(h)
        h = self.mid.block_2(self.mid.attn_1(self.mid.block_1(h)))
        return self.conv_out(nn.functional.silu(self.norm_out(h)))


class LDMDecoder(nn.Module):
    def __init__(self, cfg: LDMConfig) -> None:
        super().__init__()
        levels = len(cfg.ch_mult)
        block_in = cfg.ch * cfg.ch_mult[-1]
        res = cfg.resolution // cfg.downsampling
        self.conv_in = nn.Conv2d(cfg.z_channels, block_in, 3, padding=1)
        self.mid = nn.Module()
        self.mid.block_1 = ResnetBlock(block_in, block_in, cfg.dropout)
        self.mid.attn_1 = AttnBlock(block_in)
        self.mid.block_2 = ResnetBlock(block_in, block_in, cfg.dropout)
        stages: list[nn.Module] = []
        for level in reversed(range(levels)):
            stage = nn.Module()
            stage.block, stage.attn = nn.ModuleList(), nn.ModuleList()
            for _ in range(cfg.num_res_blocks + 1):
                stage.block.append(ResnetBlock(block_in, cfg.ch * cfg.ch_mult[level], cfg.dropout))
                block_in = cfg.ch * cfg.ch_mult[level]
                if res in cfg.attn_resolutions:
                    stage.attn.append(AttnBlock(block_in))
            if level != 0:
                stage.upsample = Upsample(block_in)
                res *= 2
            stages.insert(0, stage)  # up[level], as in the checkpoints
        self.up = nn.ModuleList(stages)
        self.norm_out = Normalize(block_in)
        self.conv_out = nn.Conv2d(block_in, cfg.out_ch, 3, padding=1)

    def forward(self, z: Tensor) -> Tensor:
        h = self.conv_in(z)
        h = self.mid.block_2(self.mid.attn_1(self.mid.block_1(h)))
        for stage in reversed(self.up):
            for i, block in enumerate(stage.block):
                h = block(h)
                if len(stage.attn):
                    h = stage.attn[i](h)
            if hasattr(stage, "upsample"):
                h = stage.upsample(h)
        return self.conv_out(nn.functional.silu(self.norm_out(h)))


class _Codebook(nn.Module):
    """``quantize.embedding.weight``: the ``(n_embed, embed_dim)`` table."""

    def __init__(self, n_embed: int, embed_dim: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(n_embed, embed_dim)
        nn.init.uniform_(self.embedding.weight, -1.0 / n_embed, 1.0 / n_embed)


class VQModel(nn.Module):
    """Encoder, 1x1 ``quant_conv`` to ``embed_dim``, codebook, 1x1 ``post_quant_conv``, decoder."""

    def __init__(self, cfg: LDMConfig = VQ_F8) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = LDMEncoder(cfg)
        self.decoder = LDMDecoder(cfg)
        self.quantize = _Codebook(cfg.n_embed, cfg.embed_dim)
        self.quant_conv = nn.Conv2d(cfg.z_channels, cfg.embed_dim, 1)
        self.post_quant_conv = nn.Conv2d(cfg.embed_dim, cfg.z_channels, 1)

    def encode_latent(self, x: Tensor) -> Tensor:
        return self.quant_conv(self.encoder(x))

    def decode_latent(self, z: Tensor) -> Tensor:
        return self.decoder(self.post_quant_conv(z))
