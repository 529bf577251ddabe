"""The training engine: DeepSpeed training, EMA, checkpoints, sampling from runs.

Public API (see each function's docstring):

* :func:`train` -> :class:`TrainResult`: train a :class:`~flowbench.config.RunConfig`.
* :func:`load_run` -> :class:`LoadedRun`: a trained run's EMA model and components.
* :func:`generate` -> :class:`Generated`: samples (codes, images, labels) from a loaded run.

Heavy imports (DeepSpeed) happen only when training starts.
"""

from flowbench.engine.run import TrainResult, train
from flowbench.engine.sampling import Generated, LoadedRun, generate, load_run
from flowbench.engine.trainer import NonFiniteLossError, TrainingInterrupted

__all__ = [
    "train",
    "TrainResult",
    "load_run",
    "LoadedRun",
    "generate",
    "Generated",
    "NonFiniteLossError",
    "TrainingInterrupted",
]
