"""The shipped Fashion-MNIST classifier and the classifier training command."""

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from flowbench.cli.main import cli
from flowbench.errors import CheckpointError, ConfigError
from flowbench.metrics import to_fidelity_uint8
from flowbench.metrics.classifier import load_classifier

MARGIN = 0.025  # 2000-image subsets: the standard error of an accuracy near 0.9 is about 0.007


def test_shipped_weights_reach_their_recorded_accuracy(classifier, fmnist_test):
    images, labels = fmnist_test
    recorded = classifier.info["test_accuracy"]
    assert recorded >= 0.90
    logits = classifier.classify(to_fidelity_uint8(images[:2000]))
    accuracy = float((logits.argmax(1) == labels[:2000]).float().mean())
    assert accuracy >= recorded - MARGIN
    assert classifier.describe()["weights_sha256"] == classifier.info["weights_sha256"]


def test_reads_channel_zero_of_replicated_grey_images(classifier, fmnist_test):
    """torch-fidelity replicates grey images to 3 channels; the classifier must see the grey image."""
    images = fmnist_test[0][:64]
    feats = classifier.extract(to_fidelity_uint8(images), ["features", "logits"])
    net = load_classifier(classifier.weights_path).model
    direct_features, direct_logits = net(images)
    assert torch.allclose(feats["features"], direct_features, atol=1e-5)
    assert torch.allclose(feats["logits"], direct_logits, atol=1e-5)
    assert feats["features"].shape == (64, classifier.feature_dim) == (64, 128)


def test_float_images_map_to_the_same_bytes(classifier, fmnist_test):
    """Float images in [-1, 1] (as the tokenizer decodes them) give the same features as their bytes."""
    images = fmnist_test[0][:32]
    as_float = images.float() / 127.5 - 1.0
    assert torch.equal(to_fidelity_uint8(as_float), to_fidelity_uint8(images))


def test_wrong_image_size_is_a_clear_error(classifier):
    with pytest.raises(ConfigError, match="reads 28x28 images.*got 32x32"):
        classifier.features(torch.zeros(4, 3, 32, 32, dtype=torch.uint8))


def test_missing_weights_are_a_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_classifier(tmp_path / "none.safetensors")


def make_folder(root, n_per_class=24, size=16):
    """A two-class image folder: dark squares and bright squares (with noise), train and test splits."""
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for label, level in (("dark", 40), ("bright", 210)):
            folder = root / split / label
            folder.mkdir(parents=True)
            for i in range(n_per_class):
                pixels = np.clip(level + rng.normal(0, 20, (size, size, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.png")


def test_train_command_learns_saves_and_tests(tmp_path):
    make_folder(tmp_path / "data")
    out = tmp_path / "weights"
    args = ["classifier", "train", "--dataset", "image-folder", "--root", str(tmp_path / "data"), "--image-size", "16"]
    args += ["--out", str(out), "--name", "tiny", "--seed", "3", "--epochs", "3", "--batch-size", "16"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "test accuracy 1.0000" in result.output
    info = json.loads((out / "tiny.json").read_text())
    assert info["seed"] == 3 and info["epochs"] == 3 and info["test_accuracy"] == 1.0
    assert info["config"]["in_channels"] == 3 and info["config"]["num_classes"] == 2
    assert sorted(p.name for p in out.iterdir()) == ["tiny.json", "tiny.safetensors"]
    args = ["classifier", "test", str(out / "tiny.safetensors"), "--dataset", "image-folder"]
    tested = CliRunner().invoke(cli, [*args, "--root", str(tmp_path / "data")])
    assert tested.exit_code == 0, tested.output
    assert "accuracy 1.0000 on 48 images" in tested.output


def test_train_command_bad_input_exits_2(tmp_path):
    result = CliRunner().invoke(cli, ["classifier", "train", "--dataset", "no-such-data", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "unknown dataset 'no-such-data'" in result.output
    result = CliRunner().invoke(cli, ["classifier", "test", str(tmp_path / "missing.safetensors")])
    assert result.exit_code == 2 and "not found" in result.output
