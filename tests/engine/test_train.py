"""Single-process DeepSpeed training of every built-in objective, and what a run leaves behind."""

from __future__ import annotations

import json
import math
import tomllib

import pytest
import torch

from flowbench.config import RunConfig, SampleConfig, from_dict
from flowbench.engine import generate, load_run
from flowbench.io import read_jsonl

OBJECTIVES = ["vfm", "cfm", "cfm-endpoint", "dfm"]


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_tiny_run_trains_and_writes_its_run_dir(trained_runs, objective):
    result, run_dir = trained_runs(objective)
    assert result.run_dir == run_dir and result.steps == 6
    assert math.isfinite(result.final_loss) and result.samples_per_s > 0
    metrics = read_jsonl(run_dir / "metrics.jsonl")
    assert [m["step"] for m in metrics] == [2, 4, 6]
    for m in metrics:
        assert math.isfinite(m["loss"]) and m["grad_norm"] > 0 and m["lr"] == pytest.approx(3e-4)
        assert m["samples_per_s"] > 0 and m["wall_s"] > 0
    assert metrics[-1]["loss"] == pytest.approx(result.final_loss)
    cfg = from_dict(RunConfig, tomllib.loads((run_dir / "config.toml").read_text()))
    assert cfg.objective.name == objective and cfg.train.steps == 6
    env = json.loads((run_dir / "environment.json").read_text())
    assert env["world_size"] == 1 and env["precision"] == "fp32" and env["zero_stage"] == 0
    assert env["torch"] == torch.__version__ and env["cpu"]["cores"] and env["global_batch"] == 8
    assert (run_dir / "checkpoints" / "latest").read_text().strip() == "step6"
    assert (run_dir / "ema" / "latest").read_text().strip() == "step6"
    assert {p.name for p in (run_dir / "ema").glob("*.safetensors")} == {"step3.safetensors", "step6.safetensors"}
    assert (run_dir / "checkpoints" / "step3" / "rank0.pt").is_file()
    assert (run_dir / "samples" / "step6.png").stat().st_size > 0


@pytest.mark.parametrize("objective", ["vfm", "dfm"])
def test_load_run_generates_deterministically(trained_runs, objective):
    _, run_dir = trained_runs(objective)
    run = load_run(run_dir)
    assert run.step == 6 and not run.model.training and run.num_classes == 10
    assert run.sampler_name == run.objective.default_sampler
    a = generate(run, 5, SampleConfig(steps=3), seed=1, batch_size=2)
    b = generate(run, 5, SampleConfig(steps=3), seed=1, batch_size=2)
    assert a.indices.shape == (5, *run.grid_shape) and a.images.shape == (5, 1, 28, 28)
    assert torch.equal(a.indices, b.indices) and torch.equal(a.images, b.images)
    if objective == "dfm":  # jumps draw codes from the posterior: the seed matters (6 steps of VFM collapse)
        hot = [generate(run, 5, SampleConfig(steps=3, temperature=3.0), seed=s).indices for s in (1, 2)]
        assert not torch.equal(*hot)
    assert a.labels.tolist() == [0, 1, 2, 3, 4] and a.nfe == 3
    assert a.images.min() >= -1 and a.images.max() <= 1
    early = load_run(run_dir, checkpoint=3)
    assert early.step == 3
    assert any(not torch.equal(p, q) for p, q in zip(early.model.parameters(), run.model.parameters()))


def test_entropy_is_recorded_for_categorical_objectives(trained_runs):
    _, run_dir = trained_runs("vfm")
    run = load_run(run_dir)
    gen = generate(run, 3, SampleConfig(steps=4), record_times=(0.0, 0.5))
    assert [p.t for p in gen.trajectory] == [0.0, 0.5]
    k = run.objective.codebook_size
    for p in gen.trajectory:
        assert p.entropy.shape == (3, *run.grid_shape)
        assert (p.entropy >= 0).all() and (p.entropy <= math.log(k) + 1e-4).all()
