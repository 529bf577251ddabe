"""The vqvae tokenizer: quantiser maths, training/resume, checkpoints, and the shipped weights."""

from __future__ import annotations

import hashlib
import json

import pytest
import torch
from flowbench.builtin.vqvae import checkpoint as ckpt
from flowbench.builtin.vqvae.model import VQVAEConfig
from flowbench.builtin.vqvae.quantizer import EMAQuantizer
from flowbench.builtin.vqvae.tokenizer import VQVAETokenizer
from flowbench.builtin.vqvae.train import TrainSettings, train_vqvae
from safetensors.torch import load_file, save_file

from flowbench.build import build_dataset, create
from flowbench.errors import CheckpointError, ConfigError
from flowbench.io import read_jsonl

TINY = {"patch": 2, "channels": 8, "channel_mult": [1, 2], "num_res_blocks": 1, "codebook_size": 16, "embed_dim": 4}


def test_quantizer_straight_through_and_commitment():
    q = EMAQuantizer(8, 3).eval()
    z = torch.randn(2, 3, 4, 4, requires_grad=True)
    out = q(z)
    codes = q.codebook()[out.indices].permute(0, 3, 1, 2)
    assert torch.allclose(out.quantized, codes)  # forward value is the code
    out.quantized.sum().backward()
    assert torch.equal(z.grad, torch.ones_like(z))  # gradient passes straight through
    expected = 0.25 * (z.detach() - codes).pow(2).mean()
    assert torch.allclose(out.commitment_loss, expected)
    dist = ((z.detach().permute(0, 2, 3, 1)[..., None, :] - q.codebook()) ** 2).sum(-1)
    assert torch.equal(out.indices, dist.argmin(-1))


def test_ema_update_moves_codes_to_their_cluster_means():
    torch.manual_seed(0)
    q = EMAQuantizer(2, 2, decay=0.0, restart_threshold=0.0).train()
    q.initialized.fill_(True)
    q.embedding.copy_(torch.tensor([[-1.0, 0.0], [1.0, 0.0]]))
    z = torch.tensor([[-2.0, 1.0], [-4.0, 1.0], [3.0, -1.0]]).view(1, 3, 1, 2).permute(0, 3, 1, 2)  # (1, 2, 1, 3)
    q(z)
    # decay 0: each code becomes the (Laplace-smoothed) mean of its members
    assert torch.allclose(q.embedding, torch.tensor([[-3.0, 1.0], [3.0, -1.0]]), atol=1e-3)


def test_dead_codes_are_restarted_from_encoder_outputs():
    torch.manual_seed(0)
    q = EMAQuantizer(64, 2, restart_threshold=1.0).train()
    z = torch.randn(4, 2, 4, 4) * 0.01 + 5.0  # every output far from most initial codes
    q(z)  # first batch seeds the codebook from the outputs
    q.embedding.fill_(-100.0)  # now all codes are dead except what the next batch picks
    q.cluster_size.zero_()
    out = q(z)
    assert out.restarted == 64
    assert (q.embedding - 5.0).abs().max() < 0.5  # re-seeded near the encoder outputs


def test_l2_normalised_codes():
    tok = create("tokenizer", "vqvae", pretrained=False, l2_norm=True, **TINY)
    norms = tok.codebook().norm(dim=1)
    assert torch.allclose(norms, torch.ones_like(norms))
    images = torch.rand(2, 1, 28, 28) * 2 - 1
    z = torch.nn.functional.normalize(tok.model.encoder(images), dim=1)
    assert torch.equal(tok.encode(images), torch.einsum("bdhw,kd->bhwk", z, tok.codebook()).argmax(-1))


def test_random_init_shapes_and_describe():
    tok = create("tokenizer", "vqvae", pretrained=False, **TINY)
    assert tok.grid_shape == (7, 7) and tok.codebook().shape == (16, 4)
    codes = tok.encode(torch.rand(3, 1, 28, 28) * 2 - 1)
    assert codes.shape == (3, 7, 7) and codes.dtype == torch.int64
    assert tok.decode(codes).shape == (3, 1, 28, 28)
    desc = tok.describe()
    assert desc["name"] == "vqvae" and desc["checkpoint"] is None and len(desc["checkpoint_sha256"]) == 64
    assert desc["config"]["codebook_size"] == 16
    with pytest.raises(ConfigError, match="expects images"):
        tok.encode(torch.zeros(1, 1, 32, 32))
    with pytest.raises(ConfigError, match="has no option 'width'"):
        create("tokenizer", "vqvae", pretrained=False, width=3)


class Interrupt(Exception):
    pass


@pytest.fixture(scope="module")
def fmnist_test():
    return build_dataset("fashion-mnist", "test")


def test_train_saves_resumes_and_loads(fmnist_test, tmp_path):
    out = tmp_path / "run"
    cfg = VQVAEConfig(**{**TINY, "channel_mult": (1, 2)})
    settings = TrainSettings(steps=6, batch_size=8, save_every=2, log_every=1, seed=3)

    def stop_at_3(step, logged):
        if step == 3:
            raise Interrupt

    with pytest.raises(Interrupt):
        train_vqvae(fmnist_test, out, cfg, settings, on_step=stop_at_3)
    assert (out / "trainer_state.pt").is_file() and torch.load(out / "trainer_state.pt", weights_only=True)["step"] == 2
    train_vqvae(fmnist_test, out, cfg, settings)  # resumes at step 2
    assert not (out / "trainer_state.pt").exists()
    steps = [r["step"] for r in read_jsonl(out / "train_log.jsonl")]
    assert steps == [1, 2, 3, 3, 4, 5, 6]  # step 3 was logged before the interruption, then redone

    # an uninterrupted run with the same seed reaches the same weights
    again = tmp_path / "again"
    train_vqvae(fmnist_test, again, cfg, settings)
    a, b = load_file(str(out / "model.safetensors")), load_file(str(again / "model.safetensors"))
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)

    tok = create("tokenizer", "vqvae", checkpoint=str(out))
    assert tok.describe()["checkpoint_sha256"] == hashlib.sha256((out / "model.safetensors").read_bytes()).hexdigest()
    assert tok.training_info["step"] == 6 and tok.training_info["train"]["seed"] == 3
    with pytest.raises(CheckpointError, match="already holds a finished vqvae"):
        train_vqvae(fmnist_test, out, cfg, settings)


def test_checkpoint_errors(tmp_path):
    tok = create("tokenizer", "vqvae", pretrained=False, **TINY)
    ckpt.save(tok.model, tmp_path / "ok")
    state = load_file(str(tmp_path / "ok" / "model.safetensors"))
    del state["decoder.net.0.weight"]
    state["decoder.bogus"] = torch.zeros(2)
    bad = tmp_path / "bad"
    bad.mkdir()
    save_file(state, str(bad / "model.safetensors"))
    (bad / "config.json").write_text((tmp_path / "ok" / "config.json").read_text())
    with pytest.raises(CheckpointError) as exc:
        create("tokenizer", "vqvae", checkpoint=str(bad))
    msg = str(exc.value)
    assert "1 missing: decoder.net.0.weight" in msg and "1 unexpected: decoder.bogus" in msg and "\n" not in msg
    with pytest.raises(CheckpointError, match="not found"):
        create("tokenizer", "vqvae", checkpoint=str(tmp_path / "nowhere"))
    (tmp_path / "ok" / "config.json").unlink()
    with pytest.raises(CheckpointError, match="no config.json"):
        create("tokenizer", "vqvae", checkpoint=str(tmp_path / "ok"))
    with pytest.raises(CheckpointError, match="codebook_size=32 disagree"):
        create("tokenizer", "vqvae", codebook_size=32)  # the shipped checkpoint has another K


def test_shipped_checkpoint_meets_its_recorded_psnr(fmnist_test):
    from flowbench.cli.tokenizer_cmd import evaluate_reconstruction

    recorded = json.loads((ckpt.SHIPPED_DIR / "metrics.json").read_text())
    tok = create("tokenizer", "vqvae")
    assert isinstance(tok, VQVAETokenizer) and tok.checkpoint_path == ckpt.SHIPPED_DIR / "model.safetensors"
    assert tok.grid_shape[0] <= 8 and tok.codebook_size >= 256
    subset = recorded["test_subset"]
    report = evaluate_reconstruction(tok, fmnist_test, num=subset["num_images"], progress=False)
    assert report.psnr == pytest.approx(subset["psnr"], abs=0.02)
    assert report.codes_used == subset["codes_used"]
    assert recorded["checkpoint_sha256"] == tok.describe()["checkpoint_sha256"]
    assert recorded["test"]["codebook_usage"] >= 80.0 and recorded["test"]["psnr"] >= 24.0  # the targets
    assert report.psnr >= 24.0
