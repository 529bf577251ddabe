"""A real (tiny) benchmark: stopped after its first cell, it continues without redoing that cell."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

BENCH = """
[bench]
name = "tiny"
objectives = ["vfm", "cfm"]
seeds = [0]
temperatures = [0.9, 1.0]

[base]
backbone = {{ name = "dit-micro/1", options = {{ depth = 1, width = 64 }} }}
tokenizer = {{ name = "vqvae", options = {{ pretrained = false }} }}
data = {{ tokens = {tokens} }}
train = {{ steps = 120, batch_size = 8, log_every = 5, checkpoint_every = 5, sample_every = 120 }}
sample = {{ steps = 2, num = 4 }}

[base.eval]
every = 60
num_samples = 16
batch_size = 16
feature_extractor = "fmnist-classifier"
options = {{ num_reference = 64 }}

[report]
reference = "vfm"
"""


@pytest.fixture(scope="module")
def token_cache(tmp_path_factory) -> Path:
    """64 Fashion-MNIST test images through a randomly initialised VQ-VAE (fast, deterministic)."""
    import torch

    from flowbench.build import build_dataset, build_tokenizer
    from flowbench.config import ComponentConfig
    from flowbench.tokens import build_token_cache

    class Head(torch.utils.data.Dataset):
        def __init__(self, base, n):
            self.base, self.n = base, n
            self.num_classes, self.image_size, self.channels = base.num_classes, base.image_size, base.channels
            self.split = base.split

        def __len__(self):
            return self.n

        def __getitem__(self, i):
            return self.base[i]

        def describe(self):
            return {**self.base.describe(), "size": self.n}

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        tok = build_tokenizer(ComponentConfig("vqvae", {"pretrained": False}))
    data = Head(build_dataset("fashion-mnist", "test"), 64)
    out = tmp_path_factory.mktemp("tokens") / "fmnist-test-64"
    return build_token_cache(data, tok, out, dataset_name="fashion-mnist", tokenizer_name="vqvae", progress=False)


MAIN = "from flowbench.cli.main import main; main()"


def _bench(spec: Path, results: Path) -> list[str]:
    return [sys.executable, "-c", MAIN, "bench", str(spec), "--out", str(results), "--threads", "1"]


def _steps(path: Path) -> list[int]:
    return [json.loads(line)["step"] for line in path.read_text().splitlines()]


@pytest.mark.slow
def test_stopped_benchmark_continues_without_redoing_finished_cells(token_cache, tmp_path):
    spec = tmp_path / "tiny.toml"
    spec.write_text(BENCH.format(tokens=json.dumps(str(token_cache))))
    results = tmp_path / "results"
    vfm, cfm = results / "cells" / "vfm-seed0", results / "cells" / "cfm-seed0"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    # first invocation: stop it (SIGTERM) once the second cell is training
    proc = subprocess.Popen(_bench(spec, results), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 240
    while not ((cfm / "metrics.jsonl").is_file() and (cfm / "metrics.jsonl").read_text().strip()):
        assert proc.poll() is None, proc.stdout.read().decode()[-3000:]
        assert time.monotonic() < deadline, "the second cell never started"
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out1 = proc.communicate(timeout=120)[0].decode()
    assert proc.returncode == 130, out1[-3000:]
    assert "interrupted at step" in out1
    assert (vfm / "done.json").is_file() and not (cfm / "done.json").exists()
    assert not (cfm / "trained.json").exists()
    finished = {p.relative_to(vfm): p.read_bytes() for p in vfm.rglob("*") if p.is_file()}

    # second invocation: the finished cell is skipped untouched, the stopped one resumes
    done = subprocess.run(_bench(spec, results), env=env, capture_output=True, text=True, timeout=300)
    out2 = done.stdout + done.stderr
    assert done.returncode == 0, out2[-3000:]
    assert "vfm-seed0: skipped" in out2 and "training vfm-seed0" not in out2
    assert "resuming cfm-seed0 from step" in out2
    assert {p.relative_to(vfm): p.read_bytes() for p in vfm.rglob("*") if p.is_file()} == finished
    steps = _steps(cfm / "metrics.jsonl")
    assert steps == sorted(set(steps)) and steps[-1] == 120  # every logged step exactly once
    assert _steps(cfm / "evals.jsonl") == [60, 120]
    # the temperature sweep evaluated the final weights of the objective whose temperature acts
    sweeps = [json.loads(line) for line in (vfm / "sweeps.jsonl").read_text().splitlines()]
    assert [(r["step"], r["temperature"]) for r in sweeps] == [(120, 0.9)]
    assert not (cfm / "sweeps.jsonl").exists()

    # a third invocation has nothing left to do; the report reads the real results
    from click.testing import CliRunner

    from flowbench.bench.collect import collect
    from flowbench.cli.main import cli

    again = CliRunner().invoke(cli, _bench(spec, results)[3:])
    assert again.exit_code == 0 and again.output.count(": skipped") == 2, again.output
    from flowbench.bench.report import build_report

    df = collect(results)
    assert len(df) == 2 + 2 + 1  # two evals per cell + one sweep point
    assert set(df["objective_name"]) == {"vfm", "cfm"} and set(df["sample_steps"]) == {2}
    files = build_report(results)
    assert files.html.is_file() and "| vfm | cfm |" in files.markdown.read_text()


@pytest.mark.slow
def test_cpu_workers_share_the_cells_each_trained_once(token_cache, tmp_path):
    spec = tmp_path / "tiny.toml"
    text = BENCH.format(tokens=json.dumps(str(token_cache)))
    text = text.replace("steps = 120,", "steps = 4,").replace("every = 60", "every = 4")
    text = text.replace("sample_every = 120", "sample_every = 0")
    # seed 0 only: the untrained tokenizer is drawn from the training seed and must match the token cache
    spec.write_text(text.replace('objectives = ["vfm", "cfm"]', 'objectives = ["vfm", "cfm", "dfm"]'))
    results = tmp_path / "results"
    cmd = [sys.executable, "-c", MAIN, "bench", str(spec), "--out", str(results), "--workers", "2"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    names = ("vfm-seed0", "cfm-seed0", "dfm-seed0")
    assert all((results / "cells" / n / "done.json").is_file() for n in names)
    logs = "".join(p.read_text() for p in (results / "logs").glob("worker-cpu*.log"))
    assert sorted(re.findall(r"^training (\S+)$", logs, flags=re.M)) == sorted(names)  # each cell once
    assert len(list((results / "logs").glob("worker-cpu*.log"))) == 2
    assert not any((results / "claims").iterdir())  # this invocation's claims are cleaned up


def test_changed_benchmark_over_old_results_is_refused_in_one_line(tmp_path):
    from click.testing import CliRunner

    from flowbench.bench.spec import load_spec
    from flowbench.cli.main import cli
    from flowbench.engine.rundir import write_config

    spec_file = tmp_path / "b.toml"
    spec_file.write_text(
        '[bench]\nobjectives = ["vfm"]\n[base]\nbackbone = "dit-micro/1"\n[base.train]\nsteps = 40\n'
        "[base.eval]\nevery = 20\n"
    )
    cell = load_spec(spec_file).cells[0]
    old = tmp_path / "r" / "cells" / cell.name
    old.mkdir(parents=True)
    write_config(old, cell.config)
    runner = CliRunner()
    assert runner.invoke(cli, ["bench", str(spec_file), "--out", str(tmp_path / "r"), "--dry-run"]).exit_code == 0
    spec_file.write_text(spec_file.read_text().replace("steps = 40", "steps = 80"))
    result = runner.invoke(cli, ["bench", str(spec_file), "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
    assert "other settings (train.steps = 40 there, 80 now)" in result.output


def test_sweep_points_already_evaluated_at_the_last_step_are_not_repeated(tmp_path):
    from flowbench.bench.runner import sweep_todo
    from flowbench.bench.spec import parse_spec
    from flowbench.io import append_jsonl

    spec = parse_spec(
        {
            "bench": {"objectives": ["vfm"], "temperatures": [0.8, 0.9, 1.0], "guidance": [1.0, 1.5]},
            "base": {"train": {"steps": 40}, "eval": {"every": 20}, "sample": {"temperature": 0.9}},
        }
    )
    cell = spec.cells[0]
    assert len(cell.sweep) == 6
    append_jsonl(tmp_path / "evals.jsonl", {"step": 20, "temperature": 0.8, "guidance": 1.0})  # not the last step
    append_jsonl(tmp_path / "evals.jsonl", {"step": 40, "temperature": 0.9, "guidance": 1.0})
    append_jsonl(tmp_path / "sweeps.jsonl", {"step": 40, "temperature": 1.0, "guidance": 1.5})
    assert sweep_todo(cell, tmp_path) == [(0.8, 1.0), (0.8, 1.5), (0.9, 1.5), (1.0, 1.0)]


@pytest.mark.slow
def test_under_torchrun_every_rank_trains_each_cell_and_rank0_sweeps(token_cache, tmp_path):
    spec = tmp_path / "tiny.toml"
    text = BENCH.format(tokens=json.dumps(str(token_cache)))
    text = text.replace("steps = 120,", "steps = 4,").replace("every = 60", "every = 4")
    spec.write_text(text.replace("sample_every = 120", "sample_every = 0"))
    results = tmp_path / "results"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--no-python", "flowbench"]
    cmd += ["bench", str(spec), "--out", str(results)]
    bindir = str(Path(sys.executable).parent)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PATH": bindir + os.pathsep + os.environ.get("PATH", "")}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for name in ("vfm-seed0", "cfm-seed0"):
        cell = results / "cells" / name
        assert (cell / "done.json").is_file()
        assert json.loads((cell / "environment.json").read_text())["world_size"] == 2
    assert len((results / "cells" / "vfm-seed0" / "sweeps.jsonl").read_text().splitlines()) == 1
    assert done.stdout.count("training vfm-seed0\n") == 1  # rank 0 speaks for both
