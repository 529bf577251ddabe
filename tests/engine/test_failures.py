"""A loss that really diverges (learning rate 1e30) stops the run, naming the step, before any save."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from flowbench.cli.main import cli
from flowbench.engine import NonFiniteLossError, train
from flowbench.engine.checkpoint import ema_steps, latest_step
from flowbench.errors import FlowbenchError

from .conftest import tiny_config, tiny_overrides


def test_nonfinite_loss_stops_naming_the_step_and_keeps_the_last_good_checkpoint(tmp_path, token_cache):
    cfg = tiny_config("cfm", token_cache, **{"train.lr": 1e30, "train.checkpoint_every": 1, "train.steps": 8})
    with pytest.raises(NonFiniteLossError, match=r"at step (\d+)") as info:
        train(cfg, out=tmp_path / "run")
    assert isinstance(info.value, FlowbenchError)
    bad = int(re.search(r"at step (\d+)", str(info.value)).group(1))
    assert 1 < bad < 8
    assert latest_step(tmp_path / "run") == bad - 1  # the broken state was not saved
    assert max(ema_steps(tmp_path / "run")) == bad - 1
    assert f"step {bad - 1}" in str(info.value)


def test_nonfinite_loss_from_the_cli_is_one_line_exit_2(tmp_path, token_cache):
    sets = tiny_overrides("vfm", token_cache, **{"train.lr": 1e30})
    args = ["run", *sum((["--set", s] for s in sets), []), "--out", str(tmp_path / "run")]
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path)
        result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1 and "the loss became" in lines[0] and "at step" in lines[0] and "train.lr" in lines[0]
