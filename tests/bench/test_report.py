"""The report builds from a synthetic results set with a known answer."""

from __future__ import annotations

import base64
import re

import pandas as pd
import pytest
from bench_synthetic import RATES, SEEDS, STEPS, TEMPERATURES, make_results
from click.testing import CliRunner

from flowbench.bench.collect import PROVENANCE, collect
from flowbench.bench.report import build_report
from flowbench.cli.main import cli

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return make_results(tmp_path_factory.mktemp("bench"))


def test_collect_one_row_per_cell_step_and_sweep_point_with_provenance(results):
    df = collect(results)
    sweeps = len(SEEDS) * (len(TEMPERATURES) - 1)
    assert len(df) == len(RATES) * len(SEEDS) * len(STEPS) + sweeps
    for col in PROVENANCE:
        assert col in df.columns
    row = df[(df.objective == "beta") & (df.seed == 1) & (df.step == 300)].iloc[0]
    assert row["backbone"] == "dit-micro/1" and row["feature_extractor"] == "fmnist-classifier"
    assert row["effective_batch"] == 32 and row["numeric_precision"] == "fp32"
    assert row["hardware"] == "synthetic CPU" and row["sampler"] == "euler" and row["nfe"] == 20
    assert row["s_per_step"] == pytest.approx(0.5)  # 32 samples at 64 samples/s
    assert set(df[df.source == "sweep"].temperature) == {0.8, 1.2}


def test_report_files_rows_and_known_speedups(results, tmp_path):
    out = tmp_path / "report"
    files = build_report(results, out)
    assert files.reference == "alpha"  # from the benchmark's [report] table
    csv = pd.read_csv(files.csv)
    assert len(csv) == len(collect(results))
    assert {"objective", "seed", "step", "fid", "hardware", "nfe", "temperature"} <= set(csv.columns)

    md = files.markdown.read_text()
    # speed-up = ratio of decay rates (exact for exponential curves): 2x over beta, 3.5x over gamma
    assert re.search(r"\| alpha \| beta \|[^\n]*\| 2x \|", md), md
    assert re.search(r"\| alpha \| gamma \|[^\n]*\| 3\.5x \|", md), md
    assert "bootstrap 90% interval" in md
    for label in RATES:
        assert f"| {label} |" in md
        assert (out / f"samples_{label}.png").read_bytes().startswith(PNG)
    assert "FID against temperature" in md and "temperature 0.8" in md

    for name in ("fid_vs_iterations.png", "speedup.png", "fid_vs_temperature.png"):
        assert (out / name).read_bytes().startswith(PNG)
        assert f"]({name})" in md

    html = files.html.read_text()
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(images) == len(files.figures)
    assert all(base64.b64decode(i).startswith(PNG) for i in images)
    assert 'src="http' not in html and "<link" not in html  # self-contained


def test_target_and_reference_from_the_command_line(results, tmp_path):
    result = CliRunner().invoke(
        cli,
        [
            "report",
            str(results),
            "--out",
            str(tmp_path),
            "--reference",
            "beta",
            "--target-fid",
            "60",
            "--interval",
            "minmax",
        ],
    )
    assert result.exit_code == 0, result.output
    md = (tmp_path / "report.md").read_text()
    assert "min-max interval" in md and "Target FID 60" in md
    # beta vs gamma at any target: 350 / 200
    assert re.search(r"\| beta \| gamma \|[^\n]*\| 1\.75x \|", md), md
    assert re.search(r"\| beta \| alpha \|[^\n]*\| 0\.5x \|", md), md


def test_bad_input_is_one_line_exit_2(results, tmp_path):
    runner = CliRunner()
    for args in (
        ["report", str(tmp_path / "missing")],
        ["report", str(tmp_path)],  # exists but holds no results
        ["report", str(results), "--out", str(tmp_path / "r"), "--reference", "delta"],
        ["report", str(results), "--out", str(tmp_path / "r"), "--target-fid", "-1"],
    ):
        result = runner.invoke(cli, args)
        assert result.exit_code == 2, (args, result.output)
        assert result.output.startswith("Error: ") and result.output.count("\n") == 1, result.output
