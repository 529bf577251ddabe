"""Training-time distributions over ``t`` in ``[t_min, 1]`` (time runs from noise, 0, to data, 1).

* ``"uniform"``: ``t = t_min + (1 - t_min) u``, ``u ~ U(0, 1)`` (Purrception's authors use
  ``t_min = 1e-3``);
* ``"logit-normal"``: ``t = t_min + (1 - t_min) sigmoid(n)``, ``n ~ N(mean, std^2)`` (Esser et al.,
  2024), which puts more weight on intermediate times.

Objectives own their time distribution (the engine never draws times); this module is the shared,
objective-agnostic part. Bad names or values raise :class:`~flowbench.errors.ConfigError`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor

from flowbench.errors import ConfigError

__all__ = ["TIME_SAMPLINGS", "TimeSampler"]

TIME_SAMPLINGS: tuple[str, ...] = ("uniform", "logit-normal")


@dataclass(frozen=True)
class TimeSampler:
    """A distribution over training times.

    Attributes:
        time_sampling: ``"uniform"`` or ``"logit-normal"``.
        logit_normal_mean: mean of the normal before the sigmoid.
        logit_normal_std: standard deviation of the normal before the sigmoid (> 0).
        t_min: smallest time (the map ``t_min + (1 - t_min) * s`` is applied to both).
    """

    time_sampling: str = "uniform"
    logit_normal_mean: float = 0.0
    logit_normal_std: float = 1.0
    t_min: float = 1e-3

    def __post_init__(self) -> None:
        if self.time_sampling not in TIME_SAMPLINGS:
            raise ConfigError(
                f"time_sampling must be one of {', '.join(repr(s) for s in TIME_SAMPLINGS)}, got {self.time_sampling!r}"
            )
        if not self.logit_normal_std > 0:
            raise ConfigError(f"logit_normal_std must be > 0, got {self.logit_normal_std!r}")
        if not 0.0 <= self.t_min < 1.0:
            raise ConfigError(f"t_min must be in [0, 1), got {self.t_min!r}")

    def sample(
        self, batch: int, device: torch.device | str | None = None, generator: torch.Generator | None = None
    ) -> Tensor:
        """``(batch,)`` float32 times in ``[t_min, 1]``."""
        if self.time_sampling == "uniform":
            s = torch.rand(batch, device=device, generator=generator)
        else:
            n = torch.randn(batch, device=device, generator=generator)
            s = torch.sigmoid(self.logit_normal_mean + self.logit_normal_std * n)
        return self.t_min + (1.0 - self.t_min) * s

    def config(self) -> dict[str, Any]:
        """The options that rebuild this sampler (``TimeSampler(**config)``)."""
        return asdict(self)
