"""The example third-party package, installed without the network and without touching the venv:
flowbench lists it, trains it, benchmarks it against a built-in, reports it, and its own tests pass.
(Blocking with FLOWBENCH_DISABLE_PLUGINS is covered by tests/core and by test_new_plugin's probe.)

Training runs read a small token cache (the first 64 Fashion-MNIST test images, encoded by a
randomly initialised vqvae: the real tokenizer class, whose weights do not matter here).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from plugin_install import env_with, flowbench, run_pytest

DIST = "flowbench-x0-rectified"


@pytest.fixture(scope="module")
def token_cache(tmp_path_factory) -> Path:
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


def test_flowbench_plugins_lists_it_with_its_distribution(example_site):
    site, _ = example_site
    done = flowbench("plugins", "--json", env=env_with(site))
    assert done.returncode == 0, done.stderr
    rows = [r for r in json.loads(done.stdout) if r["distribution"] == DIST]
    assert rows == [
        {
            "kind": "objective",
            "name": "x0-rectified",
            "plugin": "flowbench_x0_rectified.plugin",
            "distribution": DIST,
            "version": "0.1.0",
        }
    ]
    assert "Warning" not in done.stderr, done.stderr


def test_the_venv_does_not_see_it():
    from flowbench.plugins import registry

    assert "x0-rectified" not in registry("objective"), "the example leaked into the shared venv"


@pytest.mark.slow
def test_its_own_tests_pass(example_site):
    site, copy = example_site
    done = run_pytest([copy / "tests"], env_with(site), cwd=copy)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout.strip().splitlines()[-1]


def _tiny(tokens: Path) -> list[str]:
    sets = {
        "backbone.options.depth": "1",
        "backbone.options.width": "64",
        "tokenizer.options.pretrained": "false",
        "data.tokens": json.dumps(str(tokens)),
        "sample.num": "4",
        "sample.steps": "2",
        "train.checkpoint_every": "3",
    }
    return [arg for key, value in sets.items() for arg in ("--set", f"{key}={value}")]


@pytest.mark.slow
def test_flowbench_run_trains_it(example_site, token_cache, tmp_path):
    site, _ = example_site
    run_dir = tmp_path / "run"
    done = flowbench(
        "run", "--objective", "x0-rectified", "--backbone", "dit-micro/1", "--steps", "3", "--batch-size", "8",
        "--set", "objective.options.weighting=endpoint", *_tiny(token_cache), "--out", str(run_dir),
        env=env_with(site), cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    config = (run_dir / "config.toml").read_text()
    assert 'name = "x0-rectified"' in config and 'weighting = "endpoint"' in config
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in rows if "loss" in r]
    assert steps and steps[-1]["step"] == 3
    assert all(isinstance(r["loss"], float) and r["loss"] == r["loss"] for r in steps)
    assert "endpoint_mse" in json.dumps(steps[-1]), "the objective's logged parts reach metrics.jsonl"


BENCH = """
[bench]
name = "x0-tiny"
objectives = ["x0-rectified", "cfm-endpoint"]
seeds = [0]

[base]
backbone = {{ name = "dit-micro/1", options = {{ depth = 1, width = 64 }} }}
tokenizer = {{ name = "vqvae", options = {{ pretrained = false }} }}
data = {{ tokens = {tokens} }}
train = {{ steps = 4, batch_size = 8, checkpoint_every = 4, sample_every = 0 }}
sample = {{ steps = 2, num = 4 }}

[base.eval]
every = 2
num_samples = 16
batch_size = 16
feature_extractor = "fmnist-classifier"
options = {{ num_reference = 64 }}

[overrides.x0-rectified]
objective = {{ options = {{ weighting = "endpoint" }} }}

[report]
reference = "x0-rectified"
"""


@pytest.mark.slow
def test_flowbench_bench_and_report_include_it(example_site, token_cache, tmp_path):
    site, _ = example_site
    env = env_with(site)
    spec = tmp_path / "x0.toml"
    spec.write_text(BENCH.format(tokens=json.dumps(str(token_cache))))
    results = tmp_path / "results"
    done = flowbench("bench", str(spec), "--out", str(results), env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    done = flowbench("report", str(results), env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    import pandas as pd

    rows = pd.read_csv(results / "report" / "results.csv")
    for label in ("x0-rectified", "cfm-endpoint"):
        mine = rows[rows["objective"] == label]
        assert sorted(mine["step"]) == [2, 4], f"{label}: evaluations at {sorted(mine['step'])}"
        assert (mine["objective_name"] == label).all()
        assert mine["fid"].notna().all() and (mine["fid"] > 0).all()
    assert 'weighting = "endpoint"' in (results / "cells" / "x0-rectified-seed0" / "config.toml").read_text()
    report = (results / "report" / "report.md").read_text()
    assert "| x0-rectified | cfm-endpoint |" in report
