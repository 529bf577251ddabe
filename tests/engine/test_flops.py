"""FLOPs of a training step (flowbench.engine.flops): meta device vs a real CPU step, batch splits,
a published anchor (DiT-XL/2's 118.6 GMACs), and the fallbacks for checkpoints and data not on disk."""

from __future__ import annotations

import pytest
import torch

from flowbench.config import load_config
from flowbench.engine.flops import count_sampling_flops, count_training_flops
from flowbench.errors import ConfigError

TINY = ["backbone.options.depth=1", "train.batch_size=4"]


def _cfg(objective: str, *extra: str):
    return load_config(None, [f"objective.name={objective}", *TINY, *extra])


@pytest.mark.parametrize("objective", ["vfm", "cfm", "dfm"])
def test_meta_count_equals_a_real_cpu_step(objective):
    cfg = _cfg(objective)
    state = torch.random.get_rng_state()
    meta = count_training_flops(cfg)
    cpu = count_training_flops(cfg, device="cpu")
    assert torch.equal(state, torch.random.get_rng_state()), "counting must not move the caller's RNG"
    assert meta.device == "meta" and cpu.device == "cpu"
    assert meta.flops_per_step == cpu.flops_per_step > 0
    assert meta.by_op == cpu.by_op
    assert meta.params == cpu.params > 0
    # attention is counted (a bmm on the math path), not lost in a fused CPU kernel
    assert meta.by_op.get("aten.bmm", 0) > 0


def test_the_step_is_micro_steps_of_the_micro_batch():
    one = count_training_flops(_cfg("vfm", "train.batch_size=8"))
    accum = count_training_flops(_cfg("vfm", "train.batch_size=8", "train.grad_accum=2"))
    world = count_training_flops(_cfg("vfm", "train.batch_size=8"), world_size=4)
    half = count_training_flops(_cfg("vfm", "train.batch_size=4"))
    assert (accum.micro_batch, accum.micro_steps) == (4, 2)
    assert (world.micro_batch, world.micro_steps) == (2, 4)
    # every op the built-ins use is linear in the batch: the split does not change the total
    assert one.flops_per_step == accum.flops_per_step == world.flops_per_step == 2 * half.flops_per_step
    assert one.flops_per_sample == half.flops_per_sample
    assert one.total(100) == 100 * one.flops_per_step
    with pytest.raises(ConfigError, match="not divisible"):
        count_training_flops(_cfg("vfm", "train.batch_size=8"), world_size=3)


def test_dit_xl2_forward_matches_the_published_gflops():
    """DiT-XL/2 on a 32x32x4 latent: 118.6 G multiply-adds per forward (Peebles & Xie, Table 1).

    CFM on a D=4 codebook (LDM vq-f8's shape, built without weights) reads and writes 4 channels,
    DiT's 4 in / 8 out differ by one 4x1152 slice of the last layer (0.004%)."""
    cfg = load_config(
        None,
        [
            "objective.name=cfm",
            "backbone.name=dit-xl/2",
            "tokenizer.name=ldm-vq-f8",
            "tokenizer_checkpoint=/nonexistent/vq-f8.ckpt",
            "data.dataset=image-folder",
            "data.root=/nonexistent/imagenet",
            "sample.guidance=1.0",
        ],
    )
    s = count_sampling_flops(cfg)
    assert s.device == "meta"
    assert s.flops_per_nfe / 2 == pytest.approx(118.6e9, rel=5e-3)
    assert s.flops_per_sample == s.flops_per_nfe * s.nfe
    guided = count_sampling_flops(cfg, guidance=1.5)
    assert guided.flops_per_nfe == 2 * s.flops_per_nfe  # the doubled batch
    assert any("checkpoint not readable" in n for n in s.notes)
    assert any("counted with 1 class" in n for n in s.notes)


def test_flops_do_not_depend_on_the_class_count():
    real = count_training_flops(_cfg("cfm"))  # Fashion-MNIST: 10 classes
    missing = count_training_flops(_cfg("cfm", "data.dataset=image-folder", "data.root=/nonexistent"))
    assert real.num_classes == 10 and missing.num_classes == 1 and not real.notes
    assert real.flops_per_step == missing.flops_per_step
    assert real.params - missing.params == 9 * 128  # the label table of dit-micro (width 128)


def test_record_says_what_was_counted():
    f = count_training_flops(_cfg("dfm"))
    d = f.to_dict()
    assert d["flops_per_step"] == f.flops_per_step and d["grid_shape"] == [7, 7]
    assert "forward and backward" in f.counted and "AdamW" in f.counted
    assert 0 < f.optimizer_share < 0.05
