"""``flowbench tokenizer eval`` / ``train`` through click's CliRunner."""

from __future__ import annotations

import json

from click.testing import CliRunner
from PIL import Image

from flowbench.cli import cli

TINY = ["-o", "patch=2", "-o", "channels=8", "-o", "channel_mult=[1,2]", "-o", "num_res_blocks=1"]
TINY += ["-o", "codebook_size=16", "-o", "embed_dim=4"]


def error_lines(output: str) -> list[str]:
    assert "Traceback" not in output
    return [line for line in output.splitlines() if line.startswith("Error")]


def test_eval_json_and_grid_for_a_random_vqvae(tmp_path):
    grid = tmp_path / "grid.png"
    args = ["tokenizer", "eval", "-o", "pretrained=false", *TINY, "--num", "40", "--batch-size", "16"]
    result = CliRunner().invoke(cli, [*args, "--grid", str(grid), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["num_images"] == 40 and report["codebook_size"] == 16 and report["split"] == "test"
    assert 0 < report["codebook_usage"] <= 100 and 1 <= report["perplexity"] <= 16
    assert report["psnr"] > 0 and report["describe"]["name"] == "vqvae" and report["grid"] == str(grid)
    # the first 32 pairs: 4 rows of 8 originals, each above its 8 reconstructions (28px images, 2px padding)
    assert Image.open(grid).size == (8 * 30 + 2, 8 * 30 + 2)


def test_eval_of_the_shipped_vqvae_prints_the_metrics(tmp_path):
    grid = tmp_path / "shipped.png"
    result = CliRunner().invoke(cli, ["tokenizer", "eval", "--num", "64", "--grid", str(grid)])
    assert result.exit_code == 0, result.output
    assert "vqvae on fashion-mnist/test (64 images): PSNR" in result.output
    assert "codebook usage" in result.output and "perplexity" in result.output and grid.is_file()


def test_train_writes_a_loadable_tokenizer(tmp_path):
    out = tmp_path / "vq"
    args = ["tokenizer", "train", "--out", str(out), "--steps", "3", "--batch-size", "4", "--dataset", "fashion-mnist"]
    result = CliRunner().invoke(cli, [*args, "--split", "test", *TINY])
    assert result.exit_code == 0, result.output
    assert f"saved vqvae to {out}" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors", "train_log.jsonl"]
    evaluated = CliRunner().invoke(
        cli, ["tokenizer", "eval", "--tokenizer-checkpoint", str(out), "--num", "8", "--grid", str(tmp_path / "g.png")]
    )
    assert evaluated.exit_code == 0 and "(8 images)" in evaluated.output
    again = CliRunner().invoke(cli, [*args, "--split", "test", *TINY])
    assert again.exit_code == 2 and len(error_lines(again.output)) == 1 and "already holds" in again.output


def test_bad_arguments_exit_2_with_one_error_line(tmp_path):
    bad = CliRunner().invoke(cli, ["tokenizer", "eval", "--num", "0"])
    assert bad.exit_code == 2 and len(error_lines(bad.output)) == 1 and "--num" in bad.output
    untrainable = CliRunner().invoke(cli, ["tokenizer", "train", "--tokenizer", "ldm-vq-f8", "--out", str(tmp_path)])
    assert untrainable.exit_code == 2
    assert untrainable.output.strip().splitlines() == [
        "Error: tokenizer 'ldm-vq-f8' cannot be trained by flowbench; trainable: vqvae"
    ]
    option = CliRunner().invoke(cli, ["tokenizer", "eval", "-o", "nonsense"])
    assert option.exit_code == 2 and error_lines(option.output) == [
        "Error: --option expects NAME=VALUE (e.g. channels=64), got 'nonsense'"
    ]
    no_ckpt = CliRunner().invoke(cli, ["tokenizer", "eval", "--tokenizer", "llamagen-vq8"])
    assert no_ckpt.exit_code == 2 and len(no_ckpt.output.strip().splitlines()) == 1
