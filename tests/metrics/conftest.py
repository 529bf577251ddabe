"""Fixtures of the metrics tests: real Fashion-MNIST test images (uint8) and the shipped classifier."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="session")
def fmnist_test():
    """``(images uint8 (10000, 1, 28, 28), labels (10000,))`` of the Fashion-MNIST test split."""
    from flowbench.metrics.classifier_train import load_uint8_split

    images, labels, _ = load_uint8_split("fashion-mnist", "test")
    return images, labels


@pytest.fixture(scope="session")
def classifier():
    """The shipped ``fmnist-classifier`` feature extractor."""
    from flowbench.metrics import build_extractor

    return build_extractor("fmnist-classifier")


@pytest.fixture
def random_classifier(tmp_path):
    """Path of a randomly initialised classifier saved like the shipped one (seeded)."""
    from flowbench.metrics.classifier import ClassifierConfig, SmallCNN, save_classifier

    torch.manual_seed(0)
    weights, _ = save_classifier(tmp_path / "random-classifier", SmallCNN(ClassifierConfig()), {"seed": 0})
    return weights
