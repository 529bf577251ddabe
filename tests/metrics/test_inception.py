"""inception-v3 offline: one clear line, never a network traceback."""

import pytest
import torch
from click.testing import CliRunner

from flowbench.cli.main import cli
from flowbench.errors import CheckpointError


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    """An empty torch-hub directory and a download address on the loopback that refuses connections."""
    import flowbench_metrics.inception as inception

    old = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))
    monkeypatch.delenv(inception.WEIGHTS_ENV, raising=False)
    monkeypatch.setattr(inception, "WEIGHTS_URL", "http://127.0.0.1:9/" + inception.WEIGHTS_URL.rsplit("/", 1)[-1])
    yield tmp_path / "hub"
    torch.hub.set_dir(old)


def test_offline_without_weights_is_one_clear_line(empty_hub):
    from flowbench.metrics import build_extractor

    with pytest.raises(CheckpointError) as info:
        build_extractor("inception-v3")
    message = str(info.value)
    assert "\n" not in message
    assert "cannot be downloaded" in message and "--fid-weights" in message


def test_missing_weights_file_is_one_clear_line(tmp_path):
    from flowbench.metrics import build_extractor

    with pytest.raises(CheckpointError, match="does not exist.*--fid-weights"):
        build_extractor("inception-v3", str(tmp_path / "nope.pth"))


def test_bad_weights_file_is_one_clear_line(tmp_path):
    from flowbench.metrics import build_extractor

    bad = tmp_path / "bad.pth"
    torch.save({"not": torch.zeros(1)}, bad)
    fe = build_extractor("inception-v3", str(bad))
    with pytest.raises(CheckpointError, match="cannot load the weights of feature extractor 'inception-v3'") as info:
        fe.features(torch.zeros(2, 3, 28, 28, dtype=torch.uint8))
    assert "\n" not in str(info.value)


def test_eval_cli_offline_exits_2_with_one_line(empty_hub, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.toml").write_text('objective = "x"\n')
    result = CliRunner().invoke(cli, ["eval", str(run), "--feature-extractor", "inception-v3"])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: inception-v3 weights")
