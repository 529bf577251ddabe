"""Two gloo processes under torchrun: ranks read different shards and end with identical weights."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from flowbench.engine.checkpoint import latest_step, load_rank_state
from flowbench.io import read_jsonl

from .conftest import cli_env, flowbench_cmd, tiny_overrides

pytestmark = pytest.mark.slow


def test_two_process_torchrun_ranks_agree(tmp_path, token_cache):
    torchrun = Path(sys.executable).parent / "torchrun"
    # samples at step 5 fall between log/checkpoint steps: every rank must still flush there together
    sets = tiny_overrides("dfm", token_cache, **{"train.zero_stage": 2, "train.sample_every": 5})
    args = ["run", *sum((["--set", s] for s in sets), []), "--out", str(tmp_path / "run")]
    cmd = [str(torchrun), "--standalone", "--nproc_per_node", "2", flowbench_cmd()[0], *args]
    proc = subprocess.run(cmd, cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    run = tmp_path / "run"
    assert latest_step(run) == 6
    states = [load_rank_state(run, 6, r) for r in (0, 1)]
    assert all(s is not None for s in states)
    a, b = (s["weights_fingerprint"] for s in states)
    assert a.shape[0] > 10 and torch.equal(a, b)  # identical replicas after 6 ZeRO-2 steps
    # the ranks trained on different samples with different noise: their RNG states differ
    assert not torch.equal(states[0]["rng"]["torch"], states[1]["rng"]["torch"])
    env = __import__("json").loads((run / "environment.json").read_text())
    assert env["world_size"] == 2 and env["micro_batch"] == 4 and env["zero_stage"] == 2
    assert [r["step"] for r in read_jsonl(run / "metrics.jsonl")] == [2, 4, 6]  # rank 0 alone writes
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["step5.png", "step6.png"]
    assert proc.stdout.count("done:") == 1
