"""Named DiT configurations (DiT's table) and the CPU-sized members used by default benchmarks.

=============  =====  =====  =====  =====================================================
name           depth  width  heads  note
=============  =====  =====  =====  =====================================================
dit-s/{2,4,8}     12    384      6  DiT-S
dit-b/{2,4,8}     12    768     12  DiT-B
dit-l/{2,4,8}     24   1024     16  DiT-L
dit-xl/{2,4,8}    28   1152     16  DiT-XL (675M parameters at /2 for 32x32x4 -> 8 channels)
dit-tiny/{1,2}     6    256      4  CPU benchmark default (grids of 8x8 and below: /1)
dit-micro/{1,2}    4    128      4  tests and smoke runs
=============  =====  =====  =====  =====================================================

Parameter counts are *trainable* parameters (:func:`flowbench.builtin.dit.count_parameters`); the fixed
sin-cos position embedding is a buffer. DiT's published 675M for DiT-XL/2 (4 input channels on a
32x32 latent, 8 outputs for noise + learned sigma, 1000 classes) is 675,129,632 and includes that
embedding as a frozen parameter (256 x 1152 = 294,912): here 674,834,720. With D = 4 outputs (CFM)
674,816,272; with K = 16384 logits (Purrception on LDM vq-f8) 750,360,832; masked DFM (token stem of
16385 x 288, 16384 logits) 756,388,384.

Aliases: ``dit-s``, ``dit-b``, ``dit-l``, ``dit-xl`` -> ``/2``; ``dit-tiny``, ``dit-micro`` -> ``/1``.
Every option can be overridden (``depth``, ``width``, ``heads``, ``patch_size``, ``mlp_ratio``,
``class_dropout_prob``); an unknown option is a :class:`~flowbench.errors.ConfigError`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flowbench.builtin.dit.model import DiT

from flowbench.interfaces import BackboneSpec

__all__ = ["DiTConfig", "DIT_SIZES", "DIT_CONFIGS", "ALIASES", "make_factory"]


@dataclass(frozen=True)
class DiTConfig:
    """A named architecture."""

    depth: int
    width: int
    heads: int
    patch_size: int


#: (depth, width, heads) per size, and the patch sizes registered for it.
DIT_SIZES: dict[str, tuple[int, int, int, tuple[int, ...]]] = {
    "s": (12, 384, 6, (2, 4, 8)),
    "b": (12, 768, 12, (2, 4, 8)),
    "l": (24, 1024, 16, (2, 4, 8)),
    "xl": (28, 1152, 16, (2, 4, 8)),
    "tiny": (6, 256, 4, (1, 2)),
    "micro": (4, 128, 4, (1, 2)),
}

DIT_CONFIGS: dict[str, DiTConfig] = {
    f"dit-{size}/{p}": DiTConfig(depth, width, heads, p)
    for size, (depth, width, heads, patches) in DIT_SIZES.items()
    for p in patches
}

#: Alias -> the patch size it stands for (DiT's sizes at /2, the CPU sizes at /1).
ALIASES: dict[str, int] = {"s": 2, "b": 2, "l": 2, "xl": 2, "tiny": 1, "micro": 1}


def make_factory(name: str) -> Callable[..., DiT]:
    """The registry factory ``factory(spec, **options)`` of the named configuration."""
    cfg = DIT_CONFIGS[name]

    def factory(
        spec: BackboneSpec,
        *,
        depth: int | None = None,
        width: int | None = None,
        heads: int | None = None,
        patch_size: int | None = None,
        mlp_ratio: float = 4.0,
        class_dropout_prob: float = 0.1,
    ) -> DiT:
        return DiT(
            spec,
            depth=cfg.depth if depth is None else depth,
            width=cfg.width if width is None else width,
            heads=cfg.heads if heads is None else heads,
            patch_size=cfg.patch_size if patch_size is None else patch_size,
            mlp_ratio=mlp_ratio,
            class_dropout_prob=class_dropout_prob,
        )

    factory.__name__ = f"dit_{name.removeprefix('dit-').replace('/', '_')}"
    factory.__doc__ = (
        f"DiT {name}: depth {cfg.depth}, width {cfg.width}, {cfg.heads} heads, patch {cfg.patch_size} (adaLN-Zero)."
    )
    return factory
