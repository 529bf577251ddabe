"""inception-v3 offline: one clear line, never a network traceback."""

import pytest
import torch
from click.testing import CliRunner

from flowbench.cli.main import cli
from flowbench.errors import CheckpointError


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    """An empty torch-hub directory and a download address on the loopback that refuses connections."""
    import flowbench.builtin.metrics.inception as inception

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


@pytest.fixture(scope="module")
def random_inception_weights(tmp_path_factory):
    """A weights file of the right architecture with random values (the real one cannot be fetched here):
    torch-fidelity's module built without loading a file, its state dict saved."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    class Unloaded(FeatureExtractorInceptionV3):
        def load_state_dict(self, state_dict, strict=True, assign=False):  # only while building the file
            return None

    folder = tmp_path_factory.mktemp("inception")
    empty = folder / "empty.pth"
    torch.save({}, empty)
    torch.manual_seed(0)
    module = Unloaded("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(empty))
    path = folder / "weights-inception-2015-12-05-6726825d.pth"
    torch.save(module.state_dict(), path)
    return path


def test_local_weights_file_gives_torch_fidelity_features(random_inception_weights):
    from flowbench.metrics import build_extractor, file_sha256

    fe = build_extractor("inception-v3", str(random_inception_weights))
    assert fe.fidelity_name == "inception-v3-compat" and fe.score_name == "inception_score"
    assert fe.describe()["weights_sha256"] == file_sha256(random_inception_weights)
    images = torch.randint(0, 256, (3, 3, 28, 28), dtype=torch.uint8)
    out = fe.extract(images, ["2048", "logits_unbiased"], batch_size=3)
    assert out["2048"].shape == (3, 2048) and out["logits_unbiased"].shape == (3, 1008)
    assert fe.logits_layer is None  # ImageNet logits say nothing about the dataset's classes


def test_weights_found_in_the_hub_directory_or_the_environment(empty_hub, random_inception_weights, monkeypatch):
    import shutil

    from flowbench.builtin.metrics.inception import WEIGHTS_ENV, resolve_weights

    monkeypatch.setenv(WEIGHTS_ENV, str(random_inception_weights))
    assert resolve_weights() == random_inception_weights
    monkeypatch.delenv(WEIGHTS_ENV)
    target = empty_hub / "checkpoints" / random_inception_weights.name
    target.parent.mkdir(parents=True)
    shutil.copy(random_inception_weights, target)
    assert resolve_weights() == target
