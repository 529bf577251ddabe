"""The DiT family: DiT's parameter counts, stems and heads per spec, conditioning, options."""

from __future__ import annotations

import pytest
import torch
from einops import rearrange
from flowbench.builtin.dit import DIT_CONFIGS, DiT, count_parameters

from flowbench.build import create
from flowbench.errors import ConfigError
from flowbench.interfaces import Backbone, BackboneSpec
from flowbench.plugins import registry


def _meta(name: str, spec: BackboneSpec, **options) -> DiT:
    with torch.device("meta"):
        return create("backbone", name, spec, **options)


# DiT's own figures (Peebles & Xie, Table 1 / the reference implementation): 4 input channels on a 32x32
# latent, 8 output channels (noise + learned sigma), 1000 classes. DiT counts its frozen sin-cos position
# embedding (256 x width) as a parameter; ours is a buffer, so trainable = DiT's count - 256 * width.
DIT_COUNTS = {"dit-xl/2": 675_129_632}


def test_dit_xl2_matches_dits_675m():
    model = _meta("dit-xl/2", BackboneSpec("continuous", 4, 8, (32, 32), 1000))
    assert count_parameters(model) + 256 * 1152 == DIT_COUNTS["dit-xl/2"]
    assert count_parameters(model) == 674_834_720


def test_dit_xl2_for_the_cfm_baseline():
    """4 input and 4 output channels (CFM on LDM vq-f8): DiT's 675M less the learned-sigma outputs."""
    model = _meta("dit-xl/2", BackboneSpec("continuous", 4, 4, (32, 32), 1000))
    assert count_parameters(model) == 674_834_720 - (1152 * 4 * 4 + 4 * 4) == 674_816_272


def test_dit_xl2_with_a_16384_logit_head_is_about_750m():
    """Purrception's DiT-XL/2 on LDM vq-f8 (K = 16384, D = 4): ~750M parameters."""
    model = _meta("dit-xl", BackboneSpec("continuous", 4, 16384, (32, 32), 1000))
    assert count_parameters(model) == 750_360_832
    head = 1152 * 4 * 16384 + 4 * 16384
    assert count_parameters(model) - head == 674_834_720 - (1152 * 4 * 8 + 4 * 8)


@pytest.mark.parametrize(
    "name,millions", [("dit-s/2", 33.0), ("dit-b/2", 130.5), ("dit-l/2", 458.1), ("dit-xl/2", 675.1)]
)
def test_family_sizes_match_the_dit_paper(name, millions):
    model = _meta(name, BackboneSpec("continuous", 4, 8, (32, 32), 1000))
    width = DIT_CONFIGS[name].width
    total = count_parameters(model) + 256 * width
    assert abs(total / 1e6 - millions) < 0.15, f"{name}: {total / 1e6:.2f}M vs DiT's {millions}M"


def test_registry_names_and_aliases():
    names = set(registry("backbone").names())
    for size in ("s", "b", "l", "xl"):
        for p in (2, 4, 8):
            assert f"dit-{size}/{p}" in names
        assert registry("backbone").get(f"dit-{size}").name == f"dit-{size}/2"
    assert {"dit-tiny/1", "dit-micro/1"} <= names
    assert registry("backbone").get("dit-tiny").name == "dit-tiny/1"
    tiny = _meta("dit-tiny/1", BackboneSpec("continuous", 4, 16, (8, 8), 10))
    assert (tiny.depth, tiny.width, tiny.heads, tiny.patch_size) == (6, 256, 4, 1)
    micro = _meta("dit-micro/1", BackboneSpec("continuous", 4, 16, (8, 8), 10))
    assert (micro.depth, micro.width, micro.heads, micro.patch_size) == (4, 128, 4, 1)
    xl8 = _meta("dit-xl/8", BackboneSpec("continuous", 4, 16, (32, 32), 10))
    assert (xl8.depth, xl8.width, xl8.heads, xl8.patch_size) == (28, 1152, 16, 8)


@pytest.mark.parametrize("name", ["dit-micro/1", "dit-micro/2", "dit-tiny/1"])
@pytest.mark.parametrize("kind,vocab,out", [("continuous", 4, 4), ("continuous", 4, 16), ("tokens", 17, 16)])
def test_shapes_and_dtypes(name, kind, vocab, out):
    spec = BackboneSpec(kind, vocab, out, (4, 4), 3)
    model = create("backbone", name, spec, depth=2)
    assert isinstance(model, Backbone) and model.spec == spec and model.null_class == 3
    x = torch.randn(2, vocab, 4, 4) if kind == "continuous" else torch.randint(0, vocab, (2, 4, 4))
    y = model(x, torch.tensor([0.0, 1.0]), torch.tensor([1, 3]))
    assert y.shape == (2, out, 4, 4) and y.dtype == torch.float32


def test_zero_initialised_output_and_adaln():
    model = create("backbone", "dit-micro/1", BackboneSpec("continuous", 4, 8, (4, 4), 3))
    out = model(torch.randn(3, 4, 4, 4), torch.rand(3), torch.tensor([0, 1, 3]))
    assert torch.equal(out, torch.zeros_like(out))
    for block in model.blocks:
        assert not block.adaLN_modulation[-1].weight.any() and not block.adaLN_modulation[-1].bias.any()


def _perturbed(model: torch.nn.Module) -> torch.nn.Module:
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    return model


def test_time_and_class_condition_the_output():
    model = _perturbed(create("backbone", "dit-micro/1", BackboneSpec("continuous", 4, 8, (4, 4), 3))).eval()
    x = torch.randn(1, 4, 4, 4).expand(3, -1, -1, -1)
    by_class = model(x, torch.full((3,), 0.5), torch.tensor([0, 1, 3]))
    assert not torch.allclose(by_class[0], by_class[1]) and not torch.allclose(by_class[0], by_class[2])
    by_time = model(x[:2], torch.tensor([0.2, 0.21]), torch.tensor([0, 0]))
    assert not torch.allclose(by_time[0], by_time[1], atol=1e-5), "t in [0, 1] must be scaled (0.01 apart differ)"


def test_label_dropout_only_in_training_mode():
    model = _perturbed(
        create("backbone", "dit-micro/1", BackboneSpec("continuous", 4, 8, (4, 4), 3), class_dropout_prob=0.5)
    )
    x, t = torch.randn(1, 4, 4, 4).expand(256, -1, -1, -1), torch.full((256,), 0.5)
    labels = torch.zeros(256, dtype=torch.long)
    with torch.no_grad():
        cond = model.eval()(x[:1], t[:1], labels[:1])
        null = model(x[:1], t[:1], torch.full((1,), 3))
        assert torch.allclose(model(x, t, labels), cond.expand(256, -1, -1, -1), atol=1e-5), "eval mode dropped labels"
        out = model.train()(x, t, labels)
    as_null = torch.isclose(out, null, atol=1e-5).flatten(1).all(1)
    as_cond = torch.isclose(out, cond, atol=1e-5).flatten(1).all(1)
    assert bool((as_null | as_cond).all())
    assert 0.38 < float(as_null.float().mean()) < 0.62, f"dropped {float(as_null.float().mean()):.2f}, want ~0.5"


def test_unpatchify_inverts_patchify():
    model = create("backbone", "dit-micro/2", BackboneSpec("continuous", 4, 5, (4, 6), 3))
    grid = torch.randn(2, 5, 4, 6)
    tokens = rearrange(grid, "b c (h p) (w q) -> b (h w) (p q c)", p=2, q=2)
    assert torch.equal(model.unpatchify(tokens), grid)


def test_position_embedding_is_fixed_2d_sincos():
    model = create("backbone", "dit-micro/1", BackboneSpec("continuous", 4, 5, (4, 4), 3))
    pe = model.pos_embed[0]
    assert pe.shape == (16, 128) and "pos_embed" not in dict(model.named_parameters())
    assert torch.allclose(pe[0, :32], torch.zeros(32)) and torch.allclose(pe[0, 32:64], torch.ones(32))
    # rows share the row half, columns share the column half
    assert torch.allclose(pe[1, :64], pe[0, :64]) and torch.allclose(pe[4, 64:], pe[0, 64:])


@pytest.mark.parametrize(
    "options,match",
    [
        ({"patch_size": 3}, "patch_size"),
        ({"heads": 5}, "divisible"),
        ({"depth": 0}, "depth"),
        ({"class_dropout_prob": 1.5}, "class_dropout_prob"),
        ({"mlp_ratio": -1}, "mlp_ratio"),
        ({"dropout": 0.1}, "class_dropout_prob"),
    ],
)
def test_bad_options_are_config_errors(options, match):
    with pytest.raises(ConfigError, match=match):
        create("backbone", "dit-micro/1", BackboneSpec("continuous", 4, 5, (4, 4), 3), **options)


def test_options_override_and_config_round_trip():
    spec = BackboneSpec("tokens", 9, 8, (4, 4), 3)
    model = create("backbone", "dit-micro/2", spec, depth=1, width=64, heads=2, mlp_ratio=2.0, class_dropout_prob=0.2)
    assert model.config() == {
        "depth": 1,
        "width": 64,
        "heads": 2,
        "patch_size": 2,
        "mlp_ratio": 2.0,
        "class_dropout_prob": 0.2,
    }
    clone = DiT(spec, **model.config())
    assert count_parameters(clone) == count_parameters(model)
    assert model.token_embedder.weight.shape == (9, 64 // 4)


@pytest.mark.parametrize("kind,vocab", [("continuous", 4), ("tokens", 17)])
def test_a_cast_model_accepts_float32_inputs(kind, vocab):
    """Engines that cast the model (DeepSpeed bf16) pass the objective's float32 states unchanged."""
    model = create("backbone", "dit-micro/2", BackboneSpec(kind, vocab, 16, (4, 4), 3), depth=1).to(torch.bfloat16)
    x = torch.randn(2, vocab, 4, 4) if kind == "continuous" else torch.randint(0, vocab, (2, 4, 4))
    assert model(x, torch.rand(2), torch.tensor([0, 3])).dtype == torch.bfloat16
