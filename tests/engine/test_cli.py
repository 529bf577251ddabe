"""``flowbench run`` / ``flowbench sample`` from the command line: bad input fails in one line, writes nothing."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from flowbench.cli.main import cli

from .conftest import tiny_overrides


def _invoke(args, cwd):
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(cwd)
        return CliRunner().invoke(cli, args)


def _one_error_line(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


def test_unknown_objective_names_the_close_one_and_writes_nothing(tmp_path):
    line = _one_error_line(_invoke(["run", "--objective", "vmf"], tmp_path))
    assert "'vfm'" in line and "vmf" in line
    assert list(tmp_path.iterdir()) == []


def test_deepspeed_launchers_local_rank_argument_is_accepted(tmp_path):
    # the deepspeed launcher appends --local_rank=N to the script's arguments
    line = _one_error_line(_invoke(["run", "--objective", "vmf", "--local_rank=0"], tmp_path))
    assert "'vfm'" in line


def test_deepspeed_launcher_local_rank_before_the_command_is_accepted(tmp_path, capsys, monkeypatch):
    # `deepspeed $(which flowbench) run ...` runs `flowbench --local_rank=N run ...`
    from flowbench.cli.main import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LOCAL_RANK", "0")  # records the original value, restored after the test
    monkeypatch.delenv("LOCAL_RANK")
    with pytest.raises(SystemExit) as exc:
        main(["--local_rank=1", "run", "--objective", "vmf"])
    assert exc.value.code == 2 and "'vfm'" in capsys.readouterr().err
    import os

    assert os.environ["LOCAL_RANK"] == "1"
    assert list(tmp_path.iterdir()) == []


def test_config_file_is_read_and_flags_override_it(tmp_path):
    (tmp_path / "run.toml").write_text('objective = "vmf"\n[train]\nsteps = 5\n')
    line = _one_error_line(_invoke(["run", "--config", "run.toml"], tmp_path))
    assert "'vmf'" in line and "'vfm'" in line
    line = _one_error_line(_invoke(["run", "--config", "run.toml", "--objective", "cfm", "--steps", "-1"], tmp_path))
    assert "train.steps must be > 0" in line  # the flag won over the file's objective and steps
    line = _one_error_line(_invoke(["run", "--config", "missing.toml"], tmp_path))
    assert "missing.toml" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.toml"]


def test_missing_objective_lists_choices(tmp_path):
    line = _one_error_line(_invoke(["run"], tmp_path))
    assert "--objective" in line and "vfm" in line and "dfm" in line and "cfm" in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "args, words",
    [
        (["--set", "train.lr=abc"], ["train.lr", "number"]),
        (["--set", "train.zero_stage=5"], ["zero_stage", "0, 1, 2 or 3"]),
        (["--set", "train.stepz=5"], ["train.steps"]),
        (["--backbone", "dit-xxl"], ["backbone", "dit-"]),
        (["--steps", "0"], ["train.steps", "> 0"]),
    ],
)
def test_bad_values_fail_in_one_line(tmp_path, args, words):
    line = _one_error_line(_invoke(["run", "--objective", "vfm", *args], tmp_path))
    assert all(w in line for w in words), line
    assert list(tmp_path.iterdir()) == []


def test_errors_found_after_deepspeed_starts_still_write_nothing(tmp_path, token_cache):
    base = ["run", *sum((["--set", s] for s in tiny_overrides("vfm", token_cache)), [])]
    line = _one_error_line(_invoke([*base, "--set", "train.grad_accum=3", "--out", "r1"], tmp_path))
    assert "train.batch_size=8" in line and "divisible" in line
    line = _one_error_line(_invoke([*base, "--tokens", str(tmp_path / "nope"), "--out", "r2"], tmp_path))
    assert "does not exist" in line
    line = _one_error_line(_invoke([*base, "--set", "objective.options.no_such_option=1", "--out", "r3"], tmp_path))
    assert "no_such_option" in line
    assert list(tmp_path.iterdir()) == []


def test_a_finished_run_says_where_its_run_dir_and_sample_grid_are(tmp_path, token_cache):
    base = ["run", *sum((["--set", s] for s in tiny_overrides("cfm", token_cache)), [])]
    result = _invoke([*base, "--out", "r"], tmp_path)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert any(line.startswith("done: 6 steps") and line.endswith("run dir r") for line in lines), result.stdout
    grid = tmp_path / "r" / "samples" / "step6.png"
    assert grid.is_file() and f"sample grid (EMA weights, step 6): {grid.relative_to(tmp_path)}" in lines


def test_out_over_an_existing_run_and_resume_of_a_non_run_are_refused(tmp_path, trained_runs):
    _, run_dir = trained_runs("cfm")
    line = _one_error_line(_invoke(["run", "--objective", "cfm", "--out", str(run_dir)], tmp_path))
    assert "--resume" in line
    line = _one_error_line(_invoke(["run", "--resume", str(tmp_path)], tmp_path))
    assert "not a flowbench run directory" in line
    line = _one_error_line(_invoke(["run", "--resume", str(run_dir), "--objective", "vfm"], tmp_path))
    assert "cannot change objective" in line


def test_sample_writes_grid_npz_and_entropy_maps(tmp_path, trained_runs):
    _, run_dir = trained_runs("vfm")
    out = tmp_path / "grid.png"
    args = ["sample", str(run_dir), "--num", "6", "--steps", "3", "--seed", "4", "--temperature", "0.9"]
    result = _invoke([*args, "--cfg", "1.5", "--uncertainty", "--out", str(out)], tmp_path)
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 0 and (tmp_path / "grid-uncertainty.png").stat().st_size > 0
    data = np.load(tmp_path / "grid.npz")
    assert data["indices"].shape == (6, 7, 7) and data["images"].dtype == np.uint8
    assert data["images"].shape == (6, 1, 28, 28) and data["labels"].tolist() == [0, 1, 2, 3, 4, 5]
    assert data["entropy"].shape[1:] == (6, 7, 7) and len(data["entropy_times"]) == data["entropy"].shape[0]
    again = _invoke([*args, "--cfg", "1.5", "--out", str(tmp_path / "again.png")], tmp_path)
    assert again.exit_code == 0 and np.array_equal(np.load(tmp_path / "again.npz")["images"], data["images"])


def test_sample_refuses_bad_pairings(tmp_path, trained_runs):
    _, dfm_dir = trained_runs("dfm")
    line = _one_error_line(_invoke(["sample", str(dfm_dir), "--sampler", "euler", "--steps", "2"], tmp_path))
    assert "euler" in line and "masked" in line
    _, cfm_dir = trained_runs("cfm")
    line = _one_error_line(_invoke(["sample", str(cfm_dir), "--uncertainty", "--steps", "2"], tmp_path))
    assert "categorical" in line
    line = _one_error_line(_invoke(["sample", str(cfm_dir), "--checkpoint", "5"], tmp_path))
    assert "step 5" in line and "3" in line
    assert list(tmp_path.iterdir()) == []


def test_users_deepspeed_json_is_merged_and_written_into_the_run_dir(tmp_path, token_cache):
    import json
    import tomllib

    ds = tmp_path / "ds.json"
    ds.write_text(json.dumps({"train_micro_batch_size_per_gpu": 4, "gradient_clipping": "auto"}))
    sets = tiny_overrides("cfm", token_cache, **{"train.steps": 2, "train.sample_every": 0})
    base = ["run", *sum((["--set", s] for s in sets), [])]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"train_batch_size": 16}))
    line = _one_error_line(_invoke([*base, "--deepspeed_config", str(bad), "--out", "r0"], tmp_path))
    assert "train_batch_size=16 (bad.json) contradicts train.batch_size=8" in line
    assert not (tmp_path / "r0").exists()
    result = _invoke([*base, "--deepspeed_config", "ds.json", "--out", "r"], tmp_path)
    assert result.exit_code == 0, result.output
    merged = json.loads((tmp_path / "r" / "deepspeed_config.json").read_text())
    assert (merged["train_batch_size"], merged["train_micro_batch_size_per_gpu"]) == (8, 4)
    assert merged["gradient_accumulation_steps"] == 2  # derived: 8 = 4 x accum x 1 process
    saved = tomllib.loads((tmp_path / "r" / "config.toml").read_text())["train"]
    assert saved["grad_accum"] == 2 and saved["deepspeed_config"] == str(ds.resolve())
