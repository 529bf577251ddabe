"""Engine parts without a training run: DeepSpeed config, data order, EMA, RNG, TOML, logs."""

from __future__ import annotations

import json
import random
import tomllib

import numpy as np
import pytest
import torch
from torch import nn

from flowbench.config import RunConfig, from_dict, load_config, to_dict
from flowbench.engine.data import ShardedOrder
from flowbench.engine.ds_config import plan_deepspeed
from flowbench.engine.ema import EMA
from flowbench.engine.metrics_log import JsonlLog
from flowbench.engine.rng import capture_rng, restore_rng
from flowbench.engine.rundir import default_run_dir, to_toml
from flowbench.errors import ConfigError


def test_batch_identity_and_defaults():
    cfg = load_config(None, ["train.batch_size=256", "train.grad_accum=2"])
    gpu = plan_deepspeed(cfg, world_size=8, on_gpu=True)
    assert gpu.micro_batch == 16 and gpu.config["train_batch_size"] == 256
    assert gpu.config["train_batch_size"] == gpu.micro_batch * gpu.grad_accum * 8
    assert (gpu.precision, gpu.zero_stage, gpu.config["bf16"]["enabled"]) == ("bf16", 2, True)
    assert gpu.config["gradient_clipping"] == 1.0
    cpu = plan_deepspeed(cfg, world_size=1, on_gpu=False)
    assert (cpu.precision, cpu.zero_stage, cpu.micro_batch) == ("fp32", 0, 128)
    assert cpu.manual_clip == 1.0 and cpu.config["gradient_clipping"] == 0.0  # torch's fused clip on this path
    assert gpu.manual_clip is None
    with pytest.raises(ConfigError, match="not divisible"):
        plan_deepspeed(cfg, world_size=3, on_gpu=False)


def _ds(tmp_path, data, *sets, world=1, on_gpu=False):
    user = tmp_path / "ds.json"
    user.write_text(data if isinstance(data, str) else json.dumps(data))
    return plan_deepspeed(load_config(None, [f"train.deepspeed_config={json.dumps(str(user))}", *sets]), world, on_gpu)


def test_user_deepspeed_json_merges_over_ours(tmp_path):
    plan = _ds(tmp_path, {"zero_optimization": {"stage": 1, "overlap_comm": True}, "gradient_clipping": 0.5})
    assert plan.config["zero_optimization"] == {"stage": 1, "overlap_comm": True}
    assert plan.config["gradient_clipping"] == 0.5 and plan.zero_stage == 1 and plan.client_optimizer
    plan = _ds(tmp_path, {"optimizer": {"type": "Adam", "params": {"lr": 1e-3}}, "train_batch_size": 32})
    assert not plan.client_optimizer  # theirs wins
    with pytest.raises(ConfigError, match="not valid JSON"):
        _ds(tmp_path, "{not json")


def test_user_deepspeed_json_auto_values_are_filled_from_the_run_config(tmp_path):
    auto = {
        "train_batch_size": "auto",
        "train_micro_batch_size_per_gpu": "auto",
        "gradient_accumulation_steps": "auto",
        "gradient_clipping": "auto",
        "optimizer": {"type": "AdamW", "params": dict.fromkeys(["lr", "betas", "eps", "weight_decay"], "auto")},
        "bf16": {"enabled": "auto"},
        "zero_optimization": {"stage": "auto", "reduce_bucket_size": "auto"},
    }
    plan = _ds(tmp_path, auto, "train.batch_size=64", "train.grad_accum=2", "train.lr=1e-4", world=4, on_gpu=True)
    c = plan.config
    assert (c["train_batch_size"], c["train_micro_batch_size_per_gpu"], c["gradient_accumulation_steps"]) == (64, 8, 2)
    assert c["optimizer"]["params"] == {"lr": 1e-4, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.01}
    assert c["bf16"] == {"enabled": True} and c["zero_optimization"] == {"stage": 2}  # bucket size: DeepSpeed's
    assert c["gradient_clipping"] == 1.0 and not plan.client_optimizer
    with pytest.raises(ConfigError, match='sets activation_checkpointing.partition_activations="auto", which'):
        _ds(tmp_path, {"activation_checkpointing": {"partition_activations": "auto"}})


def test_user_deepspeed_json_missing_batch_fields_follow_deepspeeds_rule(tmp_path):
    # micro alone (the issue's {"train_micro_batch_size_per_gpu": 8}): one micro-batch per step
    plan = _ds(tmp_path, {"train_micro_batch_size_per_gpu": 8}, world=2)
    assert (plan.config["train_batch_size"], plan.micro_batch, plan.grad_accum) == (16, 8, 1)
    assert plan.run_config.train.batch_size == 16  # config.toml, metrics and environment describe this batch
    # micro with an explicit global batch: the accumulation is derived
    plan = _ds(tmp_path, {"train_micro_batch_size_per_gpu": 8}, "train.batch_size=256", world=2)
    assert (plan.config["train_batch_size"], plan.micro_batch, plan.grad_accum) == (256, 8, 16)
    # global batch and accumulation: the micro-batch is derived
    plan = _ds(tmp_path, {"train_batch_size": 48, "gradient_accumulation_steps": 3}, world=2)
    assert (plan.micro_batch, plan.grad_accum, plan.run_config.train.grad_accum) == (8, 3, 3)
    # the global batch alone
    plan = _ds(tmp_path, {"train_batch_size": 12})
    assert (plan.micro_batch, plan.grad_accum) == (12, 1)


def test_user_deepspeed_json_contradiction_is_one_line_naming_both_values(tmp_path):
    with pytest.raises(ConfigError) as err:
        _ds(tmp_path, {"train_batch_size": 64, "train_micro_batch_size_per_gpu": 8, "gradient_accumulation_steps": 2})
    assert "train_batch_size=64" in str(err.value) and "= 16" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ConfigError, match=r"train_batch_size=64 \(ds.json\) contradicts train.batch_size=128"):
        _ds(tmp_path, {"train_batch_size": 64}, "train.batch_size=128")
    not_multiple = r"train_batch_size=30 \(ds.json\) is not a multiple of train_micro_batch_size_per_gpu=4 \(ds.json\)"
    with pytest.raises(ConfigError, match=not_multiple):
        _ds(tmp_path, {"train_batch_size": 30, "train_micro_batch_size_per_gpu": 4}, world=2)


def test_warmup_and_a_user_scheduler_are_one_contradiction(tmp_path):
    user = tmp_path / "ds.json"
    user.write_text(json.dumps({"scheduler": {"type": "WarmupLR", "params": {"warmup_num_steps": 10}}}))
    sets = [f"train.deepspeed_config={json.dumps(str(user))}"]
    assert "scheduler" in plan_deepspeed(load_config(None, sets), 1, False).config
    with pytest.raises(ConfigError, match="warmup_steps=5 .* both set the learning rate"):
        plan_deepspeed(load_config(None, [*sets, "train.warmup_steps=5"]), 1, False)
    with pytest.raises(ConfigError, match="warmup_steps must be >= 0"):
        load_config(None, ["train.warmup_steps=-1"])


def test_sharded_order_disjoint_deterministic_and_resumable():
    n, world, micro = 50, 2, 4
    orders = [ShardedOrder(n, world, r, micro, seed=3) for r in range(world)]
    epoch0 = [torch.cat([o.next() for _ in range(o.batches_per_epoch)]) for o in orders]
    assert len(set(epoch0[0].tolist()) & set(epoch0[1].tolist())) == 0  # ranks read different samples
    assert len(epoch0[0]) == len(epoch0[1]) == (n // (world * micro)) * micro
    nxt = orders[0].next()  # rolls into epoch 1: a new permutation
    assert orders[0].epoch == 1 and not torch.equal(nxt, epoch0[0][:micro])
    again = ShardedOrder(n, world, 0, micro, seed=3)
    assert torch.equal(torch.cat([again.next() for _ in range(again.batches_per_epoch)]), epoch0[0])
    # resume mid-epoch from the saved position
    a = ShardedOrder(n, world, 1, micro, seed=3)
    [a.next() for _ in range(5)]
    b = ShardedOrder(n, world, 1, micro, seed=3)
    b.load_state_dict(a.state_dict())
    assert all(torch.equal(a.next(), b.next()) for _ in range(7))


def test_ema_warmup_decay_and_update():
    net = nn.Linear(3, 2)
    ema = EMA(net, decay=0.9999, warmup=True)
    assert ema.current_decay() == pytest.approx(0.1)  # (1 + 0) / (10 + 0)
    before = ema.model.weight.clone()
    with torch.no_grad():
        net.weight.add_(1.0)
    ema.update(net)
    assert torch.allclose(ema.model.weight, 0.1 * before + 0.9 * net.weight)
    assert ema.current_decay() == pytest.approx(2 / 11)
    ema.num_updates = 10**6
    assert ema.current_decay() == 0.9999
    plain = EMA(net, decay=0.5, warmup=False)
    assert plain.current_decay() == 0.5 and not plain.model.training
    assert all(not p.requires_grad for p in plain.model.parameters())


def test_rng_roundtrip_through_weights_only_load(tmp_path):
    gen = torch.Generator().manual_seed(5)
    torch.save(capture_rng(gen), tmp_path / "rng.pt")
    first = (random.random(), float(np.random.rand()), torch.rand(2).tolist(), torch.rand(2, generator=gen).tolist())
    restore_rng(torch.load(tmp_path / "rng.pt", weights_only=True), gen)
    again = (random.random(), float(np.random.rand()), torch.rand(2).tolist(), torch.rand(2, generator=gen).tolist())
    assert first == again


def test_config_toml_roundtrip_and_run_dir_name():
    cfg = load_config(None, ['objective.name="vfm"', 'backbone.name="dit-xl/2"', "objective.options.z_loss_weight=0.0"])
    back = from_dict(RunConfig, tomllib.loads(to_toml(to_dict(cfg))))
    assert back == cfg
    name = default_run_dir(cfg).name
    assert name.startswith("vfm-dit-xl_2-") and "/" not in name


def test_jsonl_truncation_drops_lines_after_checkpoint(tmp_path):
    log = JsonlLog(tmp_path / "m.jsonl")
    for s in (2, 4, 6, 8):
        log.append({"step": s, "loss": float(s)})
    with open(log.path, "a") as fh:
        fh.write('{"step": 10, "lo')  # torn line of a killed writer
    assert log.truncate_after(5) == 2
    assert [r["step"] for r in log.records()] == [2, 4]


def test_world_of_one_replaces_an_inherited_port_that_is_taken():
    """A child of a process that trained in-process inherits MASTER_PORT while the parent still
    listens on it; a world of one then takes another port instead of failing with EADDRINUSE."""
    import os
    import socket
    import subprocess
    import sys

    code = (
        "from flowbench.engine.distributed import init_process_group; import os; "
        "d = init_process_group(); print(d.world_size, os.environ['MASTER_PORT'])"
    )
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0"}
        env.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), OMP_NUM_THREADS="1")
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    world, used = done.stdout.split()[-2:]
    assert world == "1" and int(used) != port


def test_eval_progress_line_is_short():
    from flowbench.engine.trainer import eval_summary

    record = {"step": 100, "fid": 123.456789, "kid_mean": 3.0, "run_dir": "/x", "seed": 0, "ok": True}

    class Named:
        summary_keys = ("fid", "missing")

    assert eval_summary(record, Named()) == "fid=123.5 (all fields: evals.jsonl)"
    assert eval_summary(record, object()) == "fid=123.5, kid_mean=3, seed=0 (all fields: evals.jsonl)"
