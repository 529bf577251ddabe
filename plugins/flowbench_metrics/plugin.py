"""Registration hooks of the built-in metrics plugin.

Feature extractors ``inception-v3`` (torch-fidelity's FID Inception) and ``fmnist-classifier`` (a
small CNN trained on Fashion-MNIST, shipped in ``weights/``), and the ``fid`` evaluator.
"""

from flowbench import hookimpl
from flowbench_metrics.evaluator import FidEvaluator
from flowbench_metrics.fmnist import FmnistClassifier
from flowbench_metrics.inception import InceptionV3


@hookimpl
def register_feature_extractors(register):
    register("inception-v3", InceptionV3, aliases=("inception",))
    register("fmnist-classifier", FmnistClassifier, aliases=("fashion-mnist-classifier",))


@hookimpl
def register_evaluators(register):
    register("fid", FidEvaluator)
