"""``flowbench tokenize`` through click's CliRunner."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from flowbench.cli import cli
from flowbench.tokens import TokenDataset

from .conftest import N, debian_available

pytestmark = pytest.mark.skipif(not debian_available(), reason="needs the Debian package dataset-fashion-mnist")
TINY = ["-o", "pretrained=false", "-o", "patch=2", "-o", "channels=8", "-o", "channel_mult=[1,2]"]
TINY += ["-o", "num_res_blocks=1", "-o", "codebook_size=16", "-o", "embed_dim=4"]


def error_lines(output: str) -> list[str]:
    assert "Traceback" not in output
    return [line for line in output.splitlines() if line.startswith("Error")]


def test_tokenize_to_a_directory_then_rerun(head_dataset, tmp_path):
    args = ["tokenize", "--dataset", head_dataset, "--split", "test", "--shard-size", "128"]
    args += ["--out", str(tmp_path / "c")]
    result = CliRunner().invoke(cli, args)  # the shipped vqvae
    assert result.exit_code == 0, result.output
    assert f"{N} images of fmnist-head/test as 7x7 codes (K=512) in {tmp_path / 'c'}" in result.output
    assert len(TokenDataset(tmp_path / "c")) == N and len(TokenDataset(tmp_path / "c").manifest["shards"]) == 3
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 0 and f"{N} images" in again.output
    # the same directory for another tokenizer (a random one) is refused
    other = CliRunner().invoke(cli, [*args, *TINY])
    assert other.exit_code == 2 and error_lines(other.output)[0].endswith("choose another --out or delete it")


def test_tokenize_into_the_default_cache(head_dataset, tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWBENCH_CACHE", str(tmp_path))
    result = CliRunner().invoke(cli, ["tokenize", "--dataset", head_dataset, "--split", "test", *TINY])
    assert result.exit_code == 0, result.output
    (cache,) = [p for p in (tmp_path / "tokens").iterdir() if p.is_dir()]
    assert str(cache) in result.output


def test_bad_arguments_exit_2_with_one_error_line(head_dataset, tmp_path):
    bad = CliRunner().invoke(cli, ["tokenize", "--dataset", head_dataset, "--batch-size", "0"])
    assert bad.exit_code == 2 and len(error_lines(bad.output)) == 1 and "--batch-size" in bad.output
    unknown = CliRunner().invoke(cli, ["tokenize", "--tokenizer", "vqvea", "--out", str(tmp_path / "x")])
    assert unknown.exit_code == 2
    assert unknown.output.strip().splitlines() == [
        "Error: unknown tokenizer 'vqvea'; did you mean 'vqvae'? choices: ldm-vq-f8, llamagen-vq16, llamagen-vq8, vqvae"
    ]
