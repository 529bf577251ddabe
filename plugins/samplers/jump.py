"""Jump sampler for masked token states (Gat et al., 2024; Meta ``flow_matching``'s mixture Euler).

``dfm-euler``: start all-MASK; at step ``i`` (``t = i / steps``, ``h = 1 / steps``) the objective
gives the guided, tempered posterior over codes at every position
(:meth:`~flowbench.interfaces.Objective.predict`, ``Prediction.probs``). Each still-masked position
is revealed with probability ``objective.unmask_probability(t, h)`` (for masked DFM the exact
``(kappa(t + h) - kappa(t)) / (1 - kappa(t))``), its code drawn from that posterior; revealed
positions never change. At the last step every remaining MASK is revealed. One network evaluation
per step: NFE = ``steps``.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from flowbench.interfaces import MaskedObjective, Sampler, SamplingRun, StateKind
from flowbench.time_grid import check_steps

__all__ = ["MaskedEuler"]


class MaskedEuler(Sampler):
    """Euler jump sampler for masked discrete flow matching."""

    state_kind: ClassVar[StateKind] = "masked"

    def nfe(self, steps: int) -> int:
        return check_steps(steps)

    def integrate(self, run: SamplingRun) -> Tensor:
        objective = run.objective
        assert isinstance(objective, MaskedObjective)
        mask, steps, h = objective.mask_index, run.steps, run.h
        x = run.initial_state()
        for i in range(steps):
            t = i * h
            pred = run.predict(x, t, step=i)
            p = 1.0 if i == steps - 1 else objective.unmask_probability(t, h)
            u = torch.rand(x.shape, device=run.device, generator=run.generator)
            jump = (x == mask) & (u < p)
            if bool(jump.any()):
                probs = pred.probs[jump]
                x = x.clone()
                x[jump] = torch.multinomial(probs, 1, generator=run.generator).squeeze(1)
        return x
