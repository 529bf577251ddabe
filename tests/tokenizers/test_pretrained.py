"""LlamaGen VQ-8/VQ-16 and LDM vq-f8: released key layouts, checkpoint formats, strict loading.

The released checkpoints cannot be downloaded here, so each model is built at random init with
narrow channels (``ch=32``: same keys, smaller tensors) on 32px images, saved in the released
layout, and loaded back strictly through the registry. The full-size models are built on the
meta device (no memory, no time) to check their parameter counts and keys.
"""

from __future__ import annotations

import argparse
import hashlib

import pytest
import torch

from flowbench.build import create
from flowbench.errors import CheckpointError, ConfigError

SIZE = 32
SMALL = {"pretrained": False, "ch": 32, "image_size": SIZE}
# name -> (checkpoint key, grid at 32px, D, l2-normalised)
MODELS = {
    "llamagen-vq8": ("model", 4, 8, True),
    "llamagen-vq16": ("model", 2, 8, True),
    "ldm-vq-f8": ("state_dict", 4, 4, False),
}


@pytest.fixture(scope="module")
def small_models():
    torch.manual_seed(0)
    return {name: create("tokenizer", name, **SMALL) for name in MODELS}


def full_size(name):
    with torch.device("meta"):
        return create("tokenizer", name, pretrained=False)


@pytest.mark.parametrize(("name", "millions"), [("llamagen-vq8", 70), ("llamagen-vq16", 72)])
def test_llamagen_full_size_matches_the_released_parameter_count(name, millions):
    tok = full_size(name)
    params = sum(p.numel() for p in tok.model.parameters())
    assert round(params / 1e6) == millions  # LlamaGen README: vq_ds8_c2i 70M, vq_ds16_c2i 72M
    sd = tok.model.state_dict()
    assert tuple(sd["quantize.embedding.weight"].shape) == (16384, 8)
    assert tuple(sd["quantize.codebook_used"].shape) == (65536,)
    assert tuple(sd["quant_conv.weight"].shape) == (8, 256, 1, 1)
    assert tuple(sd["encoder.conv_out.weight"].shape) == (256, 512, 3, 3)
    last = len(tok.model.cfg.ch_mult) - 1
    assert f"encoder.conv_blocks.{last}.attn.1.proj_out.weight" in sd
    assert f"encoder.conv_blocks.{last}.downsample.conv.weight" not in sd
    assert "decoder.conv_blocks.0.attn.2.q.weight" in sd and "decoder.conv_blocks.0.upsample.conv.weight" in sd
    assert f"decoder.conv_blocks.{last}.upsample.conv.weight" not in sd
    assert "encoder.mid.1.norm.weight" in sd and "decoder.mid.2.conv2.weight" in sd
    assert tok.grid_shape == ((32, 32) if name.endswith("vq8") else (16, 16))
    assert (tok.codebook_size, tok.embed_dim, tok.image_size) == (16384, 8, 256)


def test_ldm_vq_f8_full_size_has_the_released_layout():
    tok = full_size("ldm-vq-f8")
    sd = tok.model.state_dict()
    assert sum(p.numel() for p in tok.model.parameters()) == 67_717_295  # ch=128, ch_mult 1,2,2,4, 2 res blocks
    assert tuple(sd["quantize.embedding.weight"].shape) == (16384, 4)
    assert tuple(sd["encoder.conv_out.weight"].shape) == (4, 512, 3, 3)  # double_z: false, z_channels 4
    assert tuple(sd["quant_conv.weight"].shape) == (4, 4, 1, 1)
    # attention at resolution 32 only: the lowest level of a 256px f8 model, in the encoder and decoder
    assert {k.split(".attn.")[0] for k in sd if ".attn." in k} == {"encoder.down.3", "decoder.up.3"}
    assert "encoder.mid.attn_1.proj_out.weight" in sd and "decoder.mid.block_2.norm2.bias" in sd
    assert tuple(sd["decoder.up.0.block.0.nin_shortcut.weight"].shape) == (128, 256, 1, 1)
    assert "decoder.up.0.upsample.conv.weight" not in sd and "decoder.up.3.upsample.conv.weight" in sd
    assert "encoder.down.3.downsample.conv.weight" not in sd
    assert not any(k.startswith("loss.") for k in sd)
    assert tok.grid_shape == (32, 32) and (tok.codebook_size, tok.embed_dim) == (16384, 4)


@pytest.mark.parametrize("name", MODELS)
def test_released_layout_round_trip(name, small_models, tmp_path):
    key, grid, dim, l2 = MODELS[name]
    tok = small_models[name]
    assert (tok.grid_shape, tok.embed_dim, tok.codebook_size) == ((grid, grid), dim, 16384)
    extra = {"loss.discriminator.main.0.weight": torch.randn(4, 3, 4, 4)} if key == "state_dict" else {}
    path = tok.save_checkpoint(tmp_path / "ckpt.pt", extra=extra)
    raw = torch.load(path, weights_only=True)
    assert set(raw) == {key}
    loaded = create("tokenizer", name, checkpoint=str(path), ch=32, image_size=SIZE)
    for k, v in tok.model.state_dict().items():
        assert torch.equal(v, loaded.model.state_dict()[k]), k
    images = torch.rand(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1)) * 2 - 1
    codes = loaded.encode(images)
    assert codes.shape == (2, grid, grid) and codes.dtype == torch.int64
    assert torch.equal(codes, tok.encode(images))
    out = loaded.decode(codes)
    assert out.shape == (2, 3, SIZE, SIZE) and out.min() >= -1 and out.max() <= 1
    norms = loaded.codebook().norm(dim=1)
    assert torch.allclose(norms, torch.ones_like(norms)) == l2
    desc = loaded.describe()
    assert desc["name"] == name and desc["checkpoint"] == str(path) and desc["config"]["ch"] == 32
    assert desc["checkpoint_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_encode_is_nearest_code_with_l2_normalisation(small_models):
    tok = small_models["llamagen-vq16"]
    images = torch.rand(1, 3, SIZE, SIZE) * 2 - 1
    z = torch.nn.functional.normalize(tok.model.encode_latent(images).detach(), dim=1)  # (1, 8, 2, 2)
    sims = torch.einsum("bdhw,kd->bhwk", z, tok.codebook())
    assert torch.equal(tok.encode(images), sims.argmax(-1))


def test_training_args_beside_the_weights_are_allowed(small_models, tmp_path):
    tok = small_models["llamagen-vq16"]
    path = tmp_path / "with-args.pt"
    torch.save({"model": tok.model.state_dict(), "args": argparse.Namespace(lr=1e-4), "steps": 10}, path)
    create("tokenizer", "llamagen-vq16", checkpoint=str(path), ch=32, image_size=SIZE)


class Opaque:  # an arbitrary class that weights_only refuses to unpickle
    pass


def one_line_error(name, path, **options):
    with pytest.raises(CheckpointError) as exc:
        create("tokenizer", name, checkpoint=str(path), **{"ch": 32, "image_size": SIZE, **options})
    assert "\n" not in str(exc.value)
    return str(exc.value)


def test_refused_pickles_are_one_line(small_models, tmp_path):
    path = tmp_path / "pickle.pt"
    torch.save({"model": small_models["llamagen-vq8"].model.state_dict(), "extra": Opaque()}, path)
    msg = one_line_error("llamagen-vq8", path)
    assert "weights_only=True" in msg and str(path) in msg


def test_wrong_wrapper_key_is_named(small_models, tmp_path):
    path = tmp_path / "ldm-style.pt"
    torch.save({"state_dict": small_models["llamagen-vq8"].model.state_dict(), "epoch": 3}, path)
    msg = one_line_error("llamagen-vq8", path)
    assert "no 'model' entry" in msg and "state_dict" in msg


def test_mismatched_keys_are_named_with_counts(small_models, tmp_path):
    state = dict(small_models["ldm-vq-f8"].model.state_dict())
    del state["decoder.conv_out.bias"]
    del state["encoder.mid.attn_1.q.weight"]
    state["decoder.extra.weight"] = torch.zeros(1)
    state["loss.logvar"] = torch.zeros(())  # ignored, as in the released checkpoints
    path = tmp_path / "bad.ckpt"
    torch.save({"state_dict": state}, path)
    msg = one_line_error("ldm-vq-f8", path)
    assert "2 missing: " in msg and "decoder.conv_out.bias" in msg and "encoder.mid.attn_1.q.weight" in msg
    assert "1 unexpected: decoder.extra.weight" in msg and "loss." not in msg


def test_wrong_width_is_a_shape_mismatch(small_models, tmp_path):
    path = small_models["ldm-vq-f8"].save_checkpoint(tmp_path / "ch32.ckpt")
    msg = one_line_error("ldm-vq-f8", path, ch=64)
    assert "shape mismatch" in msg and "(+" in msg  # first few listed, then the count of the rest


def test_missing_and_unreadable_checkpoints(tmp_path):
    with pytest.raises(CheckpointError, match="needs a local checkpoint .*--tokenizer-checkpoint") as exc:
        create("tokenizer", "llamagen-vq16")
    assert "vq_ds16_c2i.pt" in str(exc.value)
    assert "checkpoint not found" in one_line_error("ldm-vq-f8", tmp_path / "nope.ckpt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    assert "not a readable torch checkpoint" in one_line_error("ldm-vq-f8", junk)


def test_bad_options_are_config_errors():
    with pytest.raises(ConfigError, match="multiple of 16"):
        create("tokenizer", "llamagen-vq16", pretrained=False, ch=32, image_size=72)
    with pytest.raises(ConfigError, match="multiple of 32"):
        create("tokenizer", "ldm-vq-f8", pretrained=False, ch=48)
    with pytest.raises(ConfigError, match="has no option 'codebook_size'"):
        create("tokenizer", "ldm-vq-f8", codebook_size=3)
