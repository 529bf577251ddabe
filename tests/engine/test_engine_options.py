"""Engine options beyond the defaults: gradient accumulation, bf16 + ZeRO, evaluator hook, token checks."""

from __future__ import annotations

import json

import pytest
import torch

from flowbench import hookimpl
from flowbench.config import SampleConfig
from flowbench.engine import LoadedRun, generate, train
from flowbench.errors import DataError
from flowbench.io import read_jsonl
from flowbench.plugins import register_plugin, unregister_plugin

from .conftest import tiny_config


def test_grad_accumulation_splits_the_global_batch(tmp_path, token_cache):
    cfg = tiny_config("cfm", token_cache, **{"train.grad_accum": 2, "train.steps": 4, "train.sample_every": 0})
    result = train(cfg, out=tmp_path / "run")
    env = json.loads((tmp_path / "run" / "environment.json").read_text())
    assert (env["micro_batch"], env["grad_accum"], env["global_batch"]) == (4, 2, 8)
    assert result.steps == 4 and [r["epoch"] for r in read_jsonl(tmp_path / "run" / "metrics.jsonl")] == [0, 0]


@pytest.mark.parametrize("stage", [2, 3])
def test_bf16_with_zero_trains_and_keeps_an_fp32_ema(tmp_path, token_cache, stage):
    extra = {"train.precision": "bf16", "train.zero_stage": stage, "train.steps": 3, "train.sample_every": 3}
    result = train(tiny_config("vfm", token_cache, **extra), out=tmp_path / "run")
    assert result.steps == 3 and torch.isfinite(torch.tensor(result.final_loss))
    rows = read_jsonl(tmp_path / "run" / "metrics.jsonl")
    assert rows[-1]["grad_norm"] is not None and rows[-1]["grad_norm"] > 0
    env = json.loads((tmp_path / "run" / "environment.json").read_text())
    assert env["precision"] == "bf16" and env["zero_stage"] == stage
    from flowbench.engine import load_run

    run = load_run(tmp_path / "run")
    assert all(p.dtype == torch.float32 for p in run.model.parameters())
    assert (tmp_path / "run" / "samples" / "step3.png").is_file()


def test_evaluator_hook_every_n_steps_and_at_the_end(tmp_path, token_cache):
    calls = []

    def evaluator(step: int, run: LoadedRun) -> dict:
        assert isinstance(run, LoadedRun) and run.step == step and not run.model.training
        gen = generate(run, 2, SampleConfig(steps=2), seed=step)
        calls.append(step)
        return {"mean_pixel": float(gen.images.mean()), "nfe": gen.nfe}

    cfg = tiny_config("vfm", token_cache, **{"eval.every": 2, "train.steps": 5, "train.sample_every": 0})
    train(cfg, out=tmp_path / "run", evaluator=evaluator)
    assert calls == [2, 4, 5]
    rows = read_jsonl(tmp_path / "run" / "evals.jsonl")
    assert [r["step"] for r in rows] == [2, 4, 5] and all(r["nfe"] == 2 for r in rows)


class _EvalPlugin:
    """A registered evaluator, built by the engine from ``eval.evaluator`` and ``eval.options``."""

    @staticmethod
    @hookimpl
    def register_evaluators(register):
        def factory(config, scale: float = 1.0):
            return lambda step, run: {"scaled_step": scale * step, "objective": config.objective.name}

        register("test-scaled-step", factory)


def test_registered_evaluator_is_built_from_the_config(tmp_path, token_cache):
    register_plugin(_EvalPlugin, "test-engine-evaluator")
    try:
        extra = {"eval.every": 3, "eval.evaluator": "test-scaled-step", "eval.options.scale": 2.0}
        train(tiny_config("dfm", token_cache, **{**extra, "train.sample_every": 0}), out=tmp_path / "run")
    finally:
        unregister_plugin("test-engine-evaluator")
    rows = read_jsonl(tmp_path / "run" / "evals.jsonl")
    assert rows == [
        {"step": 3, "scaled_step": 6.0, "objective": "dfm"},
        {"step": 6, "scaled_step": 12.0, "objective": "dfm"},
    ]


def test_a_token_cache_of_another_tokenizer_is_refused(tmp_path, token_cache):
    cfg = tiny_config("vfm", token_cache, **{"tokenizer.options.codebook_size": 256})
    with pytest.raises(DataError, match="codebook_size"):
        train(cfg, out=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_linear_warmup_logs_the_rate_of_each_step_and_resumes_it(tmp_path, token_cache):
    extra = {"train.warmup_steps": 4, "train.log_every": 1, "train.checkpoint_every": 2, "train.sample_every": 0}
    cfg = tiny_config("cfm", token_cache, **{**extra, "train.steps": 2})
    train(cfg, out=tmp_path / "run")
    train(tiny_config("cfm", token_cache, **{**extra, "train.steps": 6}), resume=tmp_path / "run")
    lr = cfg.train.lr
    logged = [r["lr"] for r in read_jsonl(tmp_path / "run" / "metrics.jsonl")]
    assert logged == pytest.approx([lr / 4, lr / 2, 3 * lr / 4, lr, lr, lr])
