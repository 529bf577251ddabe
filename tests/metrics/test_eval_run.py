"""``flowbench eval`` and the ``fid`` evaluator on a tiny real run (DeepSpeed on the CPU, 6 steps).

The run is the engine tests' tiny configuration (a randomly initialised vqvae tokenizer, dit-micro/1 cut
to one block); its samples are noise, so the numbers only need to be real and reproducible here.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from flowbench.cli.main import cli
from flowbench.config import load_config
from flowbench.interfaces import ImageDataset
from flowbench.io import read_jsonl
from flowbench.metrics import EvalResult

pytestmark = pytest.mark.slow

NUM_TOKENS = 128
EVAL = {"eval.every": 6, "eval.num_samples": 20, "eval.batch_size": 20}
EVAL_OPTIONS = {"eval.options.num_reference": 200, "eval.options.kid_subsets": 5}


class Head(ImageDataset):
    """The first ``n`` items of a dataset."""

    def __init__(self, base: ImageDataset, n: int) -> None:
        self.base, self.n = base, n
        self.num_classes, self.image_size = base.num_classes, base.image_size
        self.channels, self.split = base.channels, base.split

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        return self.base[i]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    import torch

    from flowbench.build import build_dataset, build_tokenizer
    from flowbench.config import ComponentConfig
    from flowbench.engine import train
    from flowbench.tokens import build_token_cache

    torch.manual_seed(0)
    tok = build_tokenizer(ComponentConfig("vqvae", {"pretrained": False}))
    data = Head(build_dataset("fashion-mnist", "test"), NUM_TOKENS)
    tokens = build_token_cache(
        data,
        tok,
        tmp_path_factory.mktemp("tokens") / "t",
        dataset_name="fashion-mnist",
        tokenizer_name="vqvae",
        progress=False,
    )
    items = {
        "objective.name": '"cfm"',
        "backbone.name": '"dit-micro/1"',
        "backbone.options.depth": 1,
        "backbone.options.width": 64,
        "tokenizer.name": '"vqvae"',
        "tokenizer.options.pretrained": "false",
        "data.tokens": f'"{tokens}"',
        "train.steps": 6,
        "train.batch_size": 8,
        "train.checkpoint_every": 3,
        "train.sample_every": 0,
        "sample.steps": 2,
        **EVAL,
        **EVAL_OPTIONS,
    }
    out = tmp_path_factory.mktemp("runs") / "cfm"
    train(load_config(None, [f"{k}={v}" for k, v in items.items()]), out=out)
    return out


def test_training_appends_a_flat_eval_row(run_dir):
    rows = read_jsonl(run_dir / "evals.jsonl")
    assert [r["step"] for r in rows] == [6]
    row = rows[0]
    for key in ("fid", "kid_mean", "kid_std", "precision", "recall", "class_accuracy", "eval_wall_s"):
        assert isinstance(row[key], float) and math.isfinite(row[key]), key
    assert row["fid"] > 0 and 0 <= row["class_accuracy"] <= 1
    assert row["nfe"] == 2 and row["num_samples"] == 20 and row["reference_images"] == 200
    assert row["feature_extractor"] == "fmnist-classifier" and row["objective"] == "cfm"
    assert row["score_name"] == "classifier_score" and row["effective_batch"] == 8
    assert len(row["feature_extractor_weights_sha256"]) == 64
    assert all(not isinstance(v, (dict, list)) for v in row.values())


def test_eval_command_writes_json_with_provenance(run_dir, tmp_path):
    out = tmp_path / "e.json"
    args = ["eval", str(run_dir), "--num-samples", "20", "--steps", "2", "--seed", "1", "--num-reference", "200"]
    result = CliRunner().invoke(cli, [*args, "--checkpoint", "3", "--cfg", "1.5", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "FID" in result.output and "precision" in result.output and f"wrote {out}" in result.output
    data = json.loads(out.read_text())
    res = EvalResult.from_dict(data)
    assert set(data) == {f for f in EvalResult.__dataclass_fields__}
    assert res.step == 3 and res.guidance == 1.5 and res.seed == 1 and res.steps == 2 and res.nfe == 2
    assert res.num_samples == 20 and res.reference_split == "test" and res.reference_images == 200
    assert res.objective == "cfm" and res.backbone == "dit-micro/1" and res.tokenizer == "vqvae"
    assert res.backbone_options == {"depth": 1, "width": 64} and res.hardware.startswith(("cpu", "cuda"))
    assert len(res.tokenizer_checkpoint_sha256) == 64  # the tokenizer's own weights hash (random weights here)
    assert res.torch_fidelity_version == "0.4.0" and res.eval_wall_s >= res.sample_wall_s > 0
    again = tmp_path / "again.json"
    CliRunner().invoke(cli, [*args, "--checkpoint", "3", "--cfg", "1.5", "--out", str(again)])
    assert json.loads(again.read_text())["fid"] == data["fid"]  # same seed, same samples, same numbers


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--feature-extractor", "nope"], "unknown feature extractor 'nope'"),
        (["--sampler", "nope"], "unknown sampler 'nope'"),
        (["--fid-weights", "/no/such/file.pth"], "--fid-weights '/no/such/file.pth' is not a file"),
        (["--checkpoint", "999"], "999"),
        (["--num-samples", "2"], "--num-samples"),
        (["--num-reference", "20000"], "reference images"),
        (["--device", "gpu0"], "is not a device"),
    ],
)
def test_eval_command_bad_input_exits_2(run_dir, extra, message):
    result = CliRunner().invoke(cli, ["eval", str(run_dir), "--num-samples", "8", *extra])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_eval_command_not_a_run_dir(tmp_path):
    result = CliRunner().invoke(cli, ["eval", str(tmp_path / "missing")])
    assert result.exit_code == 2 and "does not exist" in result.output
    result = CliRunner().invoke(cli, ["eval", str(tmp_path)])
    assert result.exit_code == 2 and "not a flowbench run directory" in result.output
