"""Sample-quality metrics: FID, KID, precision/recall and class accuracy through torch-fidelity.

- :mod:`~flowbench.metrics.extractor`: feature extractors backed by torch-fidelity's registry.
- :mod:`~flowbench.metrics.fidelity`: the metric maths (torch-fidelity's functions on features).
- :mod:`~flowbench.metrics.reference`: cached reference features.
- :mod:`~flowbench.metrics.accuracy`: class accuracy of class-conditional samples.
- :mod:`~flowbench.metrics.classifier` (+ ``_features``, ``_train``): the small dataset classifier.
- :mod:`~flowbench.metrics.result`: :class:`EvalResult`, the metrics with their provenance.
- :mod:`~flowbench.metrics.evaluate`: generate-and-score for a run (``flowbench eval``, ``fid``).
"""

from flowbench.metrics.accuracy import ClassAccuracy, class_accuracy
from flowbench.metrics.evaluate import (
    EvalSettings,
    ImageScores,
    RunEvaluator,
    build_extractor,
    default_extractor_name,
    score_images,
)
from flowbench.metrics.extractor import (
    FidelityExtractor,
    UInt8Images,
    register_fidelity_extractor,
    to_fidelity_uint8,
)
from flowbench.metrics.fidelity import FidelityScores, FidStatistics, compute_scores, fid_statistics, kid_subset_size
from flowbench.metrics.reference import ReferenceFeatures, ReferenceSpec, reference_features, refstats_dir
from flowbench.metrics.result import EvalResult
from flowbench.weights import file_sha256  # (re-exported: it used to live here)

__all__ = [
    "ClassAccuracy",
    "class_accuracy",
    "EvalSettings",
    "ImageScores",
    "RunEvaluator",
    "build_extractor",
    "default_extractor_name",
    "score_images",
    "FidelityExtractor",
    "UInt8Images",
    "file_sha256",
    "register_fidelity_extractor",
    "to_fidelity_uint8",
    "FidelityScores",
    "FidStatistics",
    "compute_scores",
    "fid_statistics",
    "kid_subset_size",
    "ReferenceFeatures",
    "ReferenceSpec",
    "reference_features",
    "refstats_dir",
    "EvalResult",
]
