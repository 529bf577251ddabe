"""``inception-v3``: torch-fidelity's standard FID Inception (``inception-v3-compat``).

The TensorFlow FID Inception weights converted by torch-fidelity (``pool3`` 2048-d features for
FID/KID/PR; ``logits_unbiased`` for the Inception Score). torch-fidelity downloads them on first use;
offline, they must be a local file: ``weights_path=`` (CLI ``--fid-weights PATH``, config
``eval.options.weights_path``), ``$FLOWBENCH_FID_WEIGHTS``, or torch-hub's checkpoint directory
(``~/.cache/torch/hub/checkpoints/``). When none is there and the download fails, the error is one
line saying so and how to fix it.
"""

from __future__ import annotations

import os
from pathlib import Path

from flowbench.errors import CheckpointError
from flowbench.metrics.extractor import FidelityExtractor

__all__ = ["InceptionV3", "WEIGHTS_URL", "WEIGHTS_ENV", "resolve_weights"]

#: torch-fidelity's download address of the converted weights (its ``URL_INCEPTION_V3``).
WEIGHTS_URL = (
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth"
)
WEIGHTS_ENV = "FLOWBENCH_FID_WEIGHTS"


def _hub_file() -> Path:
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_URL.rsplit("/", 1)[-1]


def resolve_weights(weights_path: str | Path | None = None, url: str | None = None) -> Path:
    """The local weights file: the given path, ``$FLOWBENCH_FID_WEIGHTS``, torch-hub's cache, or a
    download into torch-hub's cache (torch-fidelity's own behaviour)."""
    hint = (
        f"download {WEIGHTS_URL.rsplit('/', 1)[-1]} (torch-fidelity's FID Inception weights) where there is "
        f"internet and pass --fid-weights PATH (or set {WEIGHTS_ENV}), or use another feature extractor"
    )
    given = weights_path or os.environ.get(WEIGHTS_ENV)
    if given:
        path = Path(given).expanduser()
        if not path.is_file():
            raise CheckpointError(f"inception-v3 weights file {str(path)!r} does not exist; {hint}")
        return path
    target = _hub_file()
    if target.is_file():
        return target
    import torch.hub

    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        torch.hub.download_url_to_file(url or WEIGHTS_URL, str(target), progress=False)
    except Exception as exc:  # URLError, HTTPError, timeouts: all mean "not available here"
        reason = getattr(exc, "reason", None) or exc
        raise CheckpointError(
            f"inception-v3 weights are not on this machine and cannot be downloaded ({reason}); {hint}"
        ) from None
    return target


class InceptionV3(FidelityExtractor):
    """torch-fidelity's ``inception-v3-compat`` (299x299 bilinear resize inside, any input size)."""

    name = "inception-v3"
    fidelity_name = "inception-v3-compat"
    feature_layer = "2048"
    feature_dim = 2048
    score_layer = "logits_unbiased"
    score_name = "inception_score"

    def __init__(self, weights_path: str | None = None) -> None:
        super().__init__(resolve_weights(weights_path))
