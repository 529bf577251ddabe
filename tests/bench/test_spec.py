"""Benchmark files: schema, validation (one clear line), profiles and matrix expansion."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from click.testing import CliRunner

from flowbench.bench.spec import load_spec, parse_spec
from flowbench.cli.main import cli
from flowbench.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]

SPEC = {
    "bench": {
        "name": "tiny",
        "objectives": ["vfm", "cfm", "dfm"],
        "seeds": [0, 1],
        "temperatures": [0.8, 1.0],
        "guidance": [1.0, 2.0],
    },
    "base": {
        "backbone": "dit-micro/1",
        "train": {"steps": 40, "batch_size": 8},
        "sample": {"steps": 4},
        "eval": {"every": 20, "num_samples": 40},
    },
    "overrides": {"dfm": {"sample": {"sampler": "dfm-euler"}}, "vfm": {"sample": {"temperature": 0.9}}},
    "report": {"reference": "vfm"},
    "profiles": {"quick": {"bench": {"seeds": [0]}, "base": {"train": {"steps": 20}}}},
}


def spec(**changes):
    data = copy.deepcopy(SPEC)
    for dotted, value in changes.items():
        node = data
        *path, last = dotted.split("__")
        for part in path:
            node = node.setdefault(part, {})
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value
    return data


def test_matrix_is_objectives_times_seeds_with_overrides():
    s = parse_spec(spec())
    assert [c.name for c in s.cells] == [
        "vfm-seed0",
        "cfm-seed0",
        "dfm-seed0",
        "vfm-seed1",
        "cfm-seed1",
        "dfm-seed1",
    ]  # seed-major: a stopped benchmark has every objective on its finished seeds
    by = {c.name: c for c in s.cells}
    assert by["vfm-seed1"].config.train.seed == 1 and by["vfm-seed1"].config.objective.name == "vfm"
    assert by["dfm-seed0"].config.sample.sampler == "dfm-euler"
    assert by["cfm-seed0"].config.sample.sampler is None  # the objective's default
    assert by["vfm-seed0"].config.sample.temperature == 0.9 and by["cfm-seed0"].config.sample.temperature == 1.0
    assert all(c.config.train.steps == 40 and c.config.backbone.name == "dit-micro/1" for c in s.cells)
    # temperature is swept only where the objective says temperature has an effect
    assert set(by["vfm-seed0"].sweep) == {(0.8, 1.0), (0.8, 2.0), (1.0, 1.0), (1.0, 2.0)}
    assert set(by["cfm-seed0"].sweep) == {(1.0, 1.0), (1.0, 2.0)}
    assert s.report.reference == "vfm"


def test_quick_profile_merges_over_the_file():
    s = parse_spec(spec(), profile="quick")
    assert [c.name for c in s.cells] == ["vfm-seed0", "cfm-seed0", "dfm-seed0"]
    assert s.cells[0].config.train.steps == 20 and s.cells[0].config.train.batch_size == 8
    assert s.profile == "quick"


def test_a_label_can_name_a_variant_of_a_registered_objective():
    s = parse_spec(spec(bench__objectives=["vfm", "vfm-noz"], overrides={"vfm-noz": {"objective": {"name": "vfm"}}}))
    assert [c.config.objective.name for c in s.cells if c.label == "vfm-noz"] == ["vfm", "vfm"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"colour": 1}, "unknown key 'colour'"),
        ({"bench__seed": [0]}, "did you mean 'bench.seeds'"),
        ({"bench__objectives": ["vfm", "dfm", "flow"]}, "unknown objective 'flow'"),
        ({"bench__objectives": []}, "bench.objectives must be a non-empty list"),
        ({"bench__seeds": [0, 0]}, "bench.seeds has duplicates"),
        ({"bench__temperatures": [0.0]}, "bench.temperatures must hold positive numbers"),
        ({"overrides": {"dmf": {}}}, "unknown key 'overrides.dmf'; did you mean 'overrides.dfm'"),
        ({"base__train__stepz": 3}, "did you mean 'train.steps'"),
        ({"base__train__lr": "fast"}, "train.lr must be a number"),
        ({"base__backbone": "dit-huge/1"}, "unknown backbone 'dit-huge/1'"),
        ({"base__objective": "vfm"}, "base.objective is not allowed"),
        ({"overrides__dfm__sample__sampler": "euler"}, "sampler 'euler' integrates continuous states"),
        ({"overrides__vfm__objective": {"options": {"z_weight": 1}}}, "has no option 'z_weight'"),
        ({"base__eval__every": 0}, "eval.every must be > 0"),
        ({"base__eval__feature_extractor": "vgg"}, "unknown feature extractor 'vgg'"),
        ({"report__reference": "sit"}, "report.reference 'sit' is not one of"),
        ({"report__interval": "median"}, "report.interval must be"),
    ],
)
def test_bad_specs_fail_with_one_line_naming_the_key(changes, message):
    with pytest.raises(ConfigError) as info:
        parse_spec(spec(**changes), where="b.toml")
    text = str(info.value)
    assert message in text and "\n" not in text and text.startswith("b.toml: ")


def test_unknown_profile():
    with pytest.raises(ConfigError, match="no profile 'fast'; profiles: quick"):
        parse_spec(spec(), profile="fast")


def test_cli_bad_file_is_one_line_exit_2(tmp_path):
    bad = tmp_path / "b.toml"
    bad.write_text('[bench]\nobjectives = ["vfm"]\n[base.train]\nstpes = 3\n')
    runner = CliRunner()
    for args in (["bench", str(bad)], ["bench", str(tmp_path / "none.toml")], ["bench", str(bad), "--gpus", "a"]):
        result = runner.invoke(cli, args)
        assert result.exit_code == 2, result.output
        assert result.output.strip().count("\n") == 0 and "Error" in result.output, result.output
    broken = tmp_path / "broken.toml"
    broken.write_text("[bench\n")
    result = runner.invoke(cli, ["bench", str(broken)])
    assert result.exit_code == 2 and "not valid TOML" in result.output


def test_dry_run_lists_cells_and_trains_nothing(tmp_path):
    f = tmp_path / "b.toml"
    f.write_text(
        '[bench]\nobjectives = ["vfm", "cfm"]\nseeds = [0, 1]\n[base]\nbackbone = "dit-micro/1"\n'
        "[base.eval]\nevery = 100\n"
    )
    result = CliRunner().invoke(cli, ["bench", str(f), "--dry-run", "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    for name in ("vfm-seed0", "vfm-seed1", "cfm-seed0", "cfm-seed1"):
        assert name in result.output
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("name", ["fmnist-cpu.toml", "imagenet-dit-xl.toml"])
@pytest.mark.parametrize("profile", [None, "quick"])
def test_shipped_benchmarks_validate(name, profile):
    s = load_spec(REPO / "benchmarks" / name, profile=profile)
    assert len(s.cells) == len(s.objectives) * len(s.seeds)
