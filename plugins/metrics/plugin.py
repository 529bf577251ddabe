"""Registration hooks of the built-in metrics plugin.

Feature extractors ``inception-v3`` (torch-fidelity's FID Inception) and ``fmnist-classifier`` (a
small CNN trained on Fashion-MNIST, shipped in ``weights/``), and the ``fid`` evaluator.
"""

from flowbench.builtin.metrics.evaluator import FidEvaluator
from flowbench.builtin.metrics.fmnist import FmnistClassifier
from flowbench.builtin.metrics.inception import InceptionV3

from flowbench import hookimpl


@hookimpl
def register_feature_extractors(register):
    register("inception-v3", InceptionV3, aliases=("inception",))
    register("fmnist-classifier", FmnistClassifier, aliases=("fashion-mnist-classifier",))


@hookimpl
def register_evaluators(register):
    register("fid", FidEvaluator)
