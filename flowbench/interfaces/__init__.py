"""The core interfaces: tokenizer, backbone, objective, sampler (and datasets, metrics)."""

from flowbench.interfaces.backbone import Backbone, BackboneSpec, InputKind
from flowbench.interfaces.dataset import ImageDataset
from flowbench.interfaces.gaussian_path import GaussianPathObjective
from flowbench.interfaces.metrics import Evaluator, FeatureExtractor
from flowbench.interfaces.objective import (
    LossOutput,
    MaskedObjective,
    Objective,
    Prediction,
    StateKind,
)
from flowbench.interfaces.sampler import Sampler, SampleResult, SamplingRun, TrajectoryPoint
from flowbench.interfaces.tokenizer import Tokenizer

__all__ = [
    "Backbone",
    "BackboneSpec",
    "InputKind",
    "ImageDataset",
    "GaussianPathObjective",
    "Evaluator",
    "FeatureExtractor",
    "LossOutput",
    "MaskedObjective",
    "Objective",
    "Prediction",
    "StateKind",
    "SampleResult",
    "Sampler",
    "SamplingRun",
    "TrajectoryPoint",
    "Tokenizer",
]
