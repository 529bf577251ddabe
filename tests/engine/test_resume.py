"""Kill -9 mid-run, resume, and end with the metrics of an uninterrupted run; SIGTERM saves first."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from flowbench.engine.checkpoint import latest_step
from flowbench.io import read_jsonl

from .conftest import cli_env, flowbench_cmd, run_cli, tiny_overrides

pytestmark = pytest.mark.slow


def _args(tokens: Path, out: Path, **extra) -> list[str]:
    sets = tiny_overrides("vfm", tokens, **{"train.log_every": 1, "train.sample_every": 0, **extra})
    return ["run", *sum((["--set", s] for s in sets), []), "--out", str(out)]


def _start(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [*flowbench_cmd(), *args],
        cwd=cwd,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(pred, proc: subprocess.Popen, timeout: float = 240.0) -> None:
    end = time.monotonic() + timeout
    while not pred():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"run ended (rc {proc.returncode}) before the condition held:\n{out}\n{err}")
        if time.monotonic() > end:
            proc.kill()
            pytest.fail("timed out waiting for the run")
        time.sleep(0.02)


def _last_metric_step(run: Path) -> int:
    rows = read_jsonl(run / "metrics.jsonl")
    return rows[-1]["step"] if rows else 0


def test_sigkill_then_resume_matches_an_uninterrupted_run(tmp_path, token_cache):
    steps = {"train.steps": 60, "train.checkpoint_every": 10}
    ref = run_cli(_args(token_cache, tmp_path / "ref", **steps), tmp_path)
    assert ref.returncode == 0, ref.stderr
    run = tmp_path / "killed"
    proc = _start(_args(token_cache, run, **steps), tmp_path)
    # kill once a checkpoint exists and some steps after it are logged (those lines must go)
    _wait_for(lambda: (latest_step(run) or 0) >= 10 and _last_metric_step(run) > (latest_step(run) or 0) + 1, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    killed_at = _last_metric_step(run)
    assert killed_at < 60, "the run finished before it could be killed"
    resumed = run_cli(["run", "--resume", str(run)], tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    a, b = read_jsonl(tmp_path / "ref" / "metrics.jsonl"), read_jsonl(run / "metrics.jsonl")
    assert [r["step"] for r in b] == list(range(1, 61)) == [r["step"] for r in a]
    for x, y in zip(a, b):
        for key in ("loss", "ce", "z_loss", "grad_norm", "epoch"):
            assert y[key] == pytest.approx(x[key], rel=1e-5, abs=1e-7), (x["step"], key)
    assert all(y["wall_s"] < z["wall_s"] for y, z in zip(b, b[1:]))  # wall time continues across the kill
    assert (run / "environment.json").is_file() and list(run.glob("environment-resume-step*.json"))
    # only the last train.keep_checkpoints (3) checkpoints remain
    assert sorted(p.name for p in (run / "checkpoints").glob("step*")) == ["step40", "step50", "step60"]
    assert sorted(p.name for p in (run / "ema").glob("*.safetensors")) == [
        "step40.safetensors",
        "step50.safetensors",
        "step60.safetensors",
    ]


def test_sigterm_saves_a_checkpoint_and_resume_extends_the_run(tmp_path, token_cache):
    run = tmp_path / "run"
    proc = _start(_args(token_cache, run, **{"train.steps": 100000, "train.checkpoint_every": 100000}), tmp_path)
    _wait_for(lambda: _last_metric_step(run) >= 3, proc)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err
    saved = latest_step(run)
    assert saved is not None and saved >= 3
    assert f"saved a checkpoint at step {saved}" in err and "--resume" in err
    more = run_cli(["run", "--resume", str(run), "--steps", str(saved + 4)], tmp_path)
    assert more.returncode == 0, more.stderr
    steps = [r["step"] for r in read_jsonl(run / "metrics.jsonl")]
    assert steps == list(range(1, saved + 5))
    assert latest_step(run) == saved + 4
    again = run_cli(["run", "--resume", str(run)], tmp_path)
    assert again.returncode == 2 and f"already at step {saved + 4}" in again.stderr
