"""The DiT backbone (Peebles & Xie, "Scalable Diffusion Models with Transformers", 2023).

Input stem, per the objective's :class:`~flowbench.interfaces.BackboneSpec`:

* continuous ``(B, D, h, w)`` grid -> timm ``PatchEmbed`` (a ``p x p`` strided convolution);
* token ``(B, h, w)`` grid over a vocabulary of ``V`` symbols -> embedding table ``V x (width / p^2)``
  -> ``PatchEmbed``, so one patch's ``p^2`` token embeddings are mapped jointly to ``width``.

Then a fixed 2-D sin-cos position embedding, ``depth`` adaLN-Zero blocks conditioned on
``c = emb(t) + emb(y)``, a modulated final layer with ``p^2 * out_channels`` outputs per token, and
unpatchify to ``(B, out_channels, h, w)``. As in DiT, the adaLN modulations and the final linear
layer start at zero (the network's initial output is 0), other linear layers are Xavier-uniform,
the label and time embeddings are ``N(0, 0.02^2)``.
"""

from __future__ import annotations

from typing import Any

from einops import rearrange
from flowbench.builtin.dit.blocks import DiTBlock, FinalLayer
from flowbench.builtin.dit.embeddings import LabelEmbedder, TimestepEmbedder, sincos_pos_embed_2d
from timm.layers import PatchEmbed
from torch import Tensor, nn

from flowbench.errors import ConfigError
from flowbench.interfaces import Backbone, BackboneSpec

__all__ = ["DiT", "count_parameters"]


class DiT(Backbone):
    """A DiT built for ``spec``; see the module docstring for the architecture.

    Args:
        spec: what to read and write (from the objective).
        depth: number of blocks.
        width: hidden size.
        heads: attention heads (``width`` must be divisible by ``heads``).
        patch_size: side ``p`` of a patch; the grid must be divisible by it.
        mlp_ratio: MLP hidden size over ``width``.
        class_dropout_prob: probability of replacing a label by the null class while training.
    """

    def __init__(
        self,
        spec: BackboneSpec,
        *,
        depth: int,
        width: int,
        heads: int,
        patch_size: int,
        mlp_ratio: float = 4.0,
        class_dropout_prob: float = 0.1,
    ) -> None:
        super().__init__()
        _validate(spec, depth, width, heads, patch_size, mlp_ratio, class_dropout_prob)
        self.spec = spec
        self.depth, self.width, self.heads = depth, width, heads
        self.patch_size, self.mlp_ratio = patch_size, float(mlp_ratio)
        self.class_dropout_prob = float(class_dropout_prob)
        h, w = spec.grid_shape
        p = patch_size

        if spec.input_kind == "tokens":
            stem_channels = width // (p * p)
            self.token_embedder: nn.Embedding | None = nn.Embedding(spec.in_channels, stem_channels)
        else:
            stem_channels = spec.in_channels
            self.token_embedder = None
        self.x_embedder = PatchEmbed(img_size=(h, w), patch_size=p, in_chans=stem_channels, embed_dim=width)
        self.t_embedder = TimestepEmbedder(width)
        self.y_embedder = LabelEmbedder(spec.num_classes, width, self.class_dropout_prob)
        self.register_buffer("pos_embed", sincos_pos_embed_2d(width, h // p, w // p)[None], persistent=False)
        self.blocks = nn.ModuleList([DiTBlock(width, heads, mlp_ratio) for _ in range(depth)])
        self.final_layer = FinalLayer(width, p, spec.out_channels)
        self.initialize_weights()

    def initialize_weights(self) -> None:
        """DiT's initialisation (adaLN-Zero; zero output layer)."""

        def basic(module: nn.Module) -> None:
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

        self.apply(basic)
        proj = self.x_embedder.proj.weight
        nn.init.xavier_uniform_(proj.data.view(proj.shape[0], -1))
        nn.init.zeros_(self.x_embedder.proj.bias)
        if self.token_embedder is not None:
            nn.init.normal_(self.token_embedder.weight, std=0.02)
        nn.init.normal_(self.y_embedder.embedding_table.weight, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[0].weight, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[2].weight, std=0.02)
        for block in self.blocks:
            nn.init.zeros_(block.adaLN_modulation[-1].weight)
            nn.init.zeros_(block.adaLN_modulation[-1].bias)
        nn.init.zeros_(self.final_layer.adaLN_modulation[-1].weight)
        nn.init.zeros_(self.final_layer.adaLN_modulation[-1].bias)
        nn.init.zeros_(self.final_layer.linear.weight)
        nn.init.zeros_(self.final_layer.linear.bias)

    def config(self) -> dict[str, Any]:
        """Options that rebuild this network for the same spec."""
        return {
            "depth": self.depth,
            "width": self.width,
            "heads": self.heads,
            "patch_size": self.patch_size,
            "mlp_ratio": self.mlp_ratio,
            "class_dropout_prob": self.class_dropout_prob,
        }

    def unpatchify(self, x: Tensor) -> Tensor:
        """``(B, T, p*p*C)`` tokens -> ``(B, C, h, w)`` (a view, no copy, when ``p = 1``)."""
        h, w = self.spec.grid_shape
        p = self.patch_size
        return rearrange(x, "b (h w) (p q c) -> b c (h p) (w q)", h=h // p, w=w // p, p=p, q=p)

    def forward(self, x: Tensor, t: Tensor, y: Tensor) -> Tensor:
        if self.token_embedder is not None:
            x = self.token_embedder(x).permute(0, 3, 1, 2)
        else:  # engines that cast the model (e.g. DeepSpeed bf16) do not cast its inputs
            x = x.to(self.x_embedder.proj.weight.dtype)
        tokens = self.x_embedder(x) + self.pos_embed.to(self.x_embedder.proj.weight.dtype)
        c = self.t_embedder(t) + self.y_embedder(y)
        for block in self.blocks:
            tokens = block(tokens, c)
        return self.unpatchify(self.final_layer(tokens, c))


def _validate(
    spec: BackboneSpec,
    depth: int,
    width: int,
    heads: int,
    patch_size: int,
    mlp_ratio: float,
    class_dropout_prob: float,
) -> None:
    for name, value in (("depth", depth), ("width", width), ("heads", heads), ("patch_size", patch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"DiT option {name} must be a positive integer, got {value!r}")
    if width % heads:
        raise ConfigError(f"DiT width {width} must be divisible by heads {heads}")
    if width % 4:
        raise ConfigError(f"DiT width must be divisible by 4 (2-D sin-cos position embedding), got {width}")
    h, w = spec.grid_shape
    if h % patch_size or w % patch_size:
        raise ConfigError(
            f"DiT patch_size {patch_size} does not divide the {h}x{w} grid; choose a patch size that divides both"
        )
    if spec.input_kind == "tokens" and width < patch_size * patch_size:
        raise ConfigError(f"DiT width {width} is too small for token input with patch_size {patch_size}")
    if not isinstance(mlp_ratio, (int, float)) or isinstance(mlp_ratio, bool) or mlp_ratio <= 0:
        raise ConfigError(f"DiT option mlp_ratio must be a positive number, got {mlp_ratio!r}")
    if not isinstance(class_dropout_prob, (int, float)) or not 0.0 <= class_dropout_prob < 1.0:
        raise ConfigError(f"DiT option class_dropout_prob must be in [0, 1), got {class_dropout_prob!r}")


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters (the fixed position embedding is a buffer, not counted)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
