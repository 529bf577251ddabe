"""``fmnist-classifier``: a small CNN trained on Fashion-MNIST, as a feature extractor.

Its 128-d penultimate features serve FID/KID/precision/recall on Fashion-MNIST (Inception features
mean little for 28x28 grey images and run at 3.5 images/s on a CPU); its logits give the class
accuracy of class-conditional samples and a *classifier score* (the Inception Score formula on this
classifier's logits; not comparable with Inception Scores). The shipped weights in
``weights/fmnist-classifier.safetensors`` were made by ``flowbench classifier train`` (the exact
command, seed and measured test accuracy are in ``weights/README.md`` and the JSON file beside them).
Inputs: uint8 ``(B, 3, 28, 28)``; channel 0 is read, exactly as the tokenizer's decoded images are
converted.
"""

from __future__ import annotations

from pathlib import Path

from flowbench.metrics.classifier_features import ClassifierExtractor, ClassifierFidelityModule
from flowbench.metrics.extractor import register_fidelity_extractor

__all__ = ["FMNIST_WEIGHTS", "FmnistClassifierModule", "FmnistClassifier"]

FMNIST_WEIGHTS = Path(__file__).resolve().parent / "weights" / "fmnist-classifier.safetensors"


class FmnistClassifierModule(ClassifierFidelityModule):
    """torch-fidelity feature extractor ``fmnist-classifier`` (layers ``features``, ``logits``)."""

    default_weights = FMNIST_WEIGHTS


class FmnistClassifier(ClassifierExtractor):
    """flowbench feature extractor ``fmnist-classifier``; ``weights_path`` defaults to the shipped file."""

    name = "fmnist-classifier"
    fidelity_name = "fmnist-classifier"
    default_for_datasets = ("fashion-mnist",)

    def __init__(self, weights_path: str | None = None) -> None:
        super().__init__(weights_path or FMNIST_WEIGHTS)


register_fidelity_extractor("fmnist-classifier", FmnistClassifierModule)
