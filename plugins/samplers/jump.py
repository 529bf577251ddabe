"""Jump sampler for masked token states (Gat et al., 2024; Meta ``flow_matching``'s mixture Euler).

``dfm-euler``: start all-MASK; at step ``i`` (``t = i / steps``, ``h = 1 / steps``) the objective
gives the guided, tempered posterior over codes at every position
(:meth:`~flowbench.interfaces.Objective.predict`, ``Prediction.probs``). Each still-masked position
is revealed with probability ``objective.unmask_probability(t, h)`` (``min(1, h kappa'(t) /
(1 - kappa(t)))``), its code drawn from that posterior; revealed positions never change. At the last
step every remaining MASK is revealed. One network evaluation per step: NFE = ``steps``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import torch
from flowbench.builtin.samplers.grid import check_steps, record_steps
from torch import Tensor, nn

from flowbench.interfaces import MaskedObjective, Objective, Sampler, SampleResult, StateKind, TrajectoryPoint

__all__ = ["MaskedEuler"]


class MaskedEuler(Sampler):
    """Euler jump sampler for masked discrete flow matching."""

    state_kind: ClassVar[StateKind] = "masked"

    def nfe(self, steps: int) -> int:
        return check_steps(steps)

    def sample(
        self,
        model: nn.Module,
        objective: Objective,
        labels: Tensor,
        steps: int,
        *,
        grid_shape: tuple[int, int],
        guidance: float = 1.0,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
        record_times: Sequence[float] = (),
    ) -> SampleResult:
        self.check_compatible(objective)
        assert isinstance(objective, MaskedObjective)
        steps = check_steps(steps)
        device = objective.codebook.device
        labels = labels.to(device)
        batch = labels.shape[0]
        records = record_steps(record_times, steps)
        wanted = set(records)
        entropies: dict[int, Tensor | None] = {}
        mask = objective.mask_index
        h = 1.0 / steps
        with torch.no_grad():
            x = objective.initial_state(batch, grid_shape, generator=generator)
            for i in range(steps):
                t = i * h
                tt = torch.full((batch,), t, device=device, dtype=torch.float32)
                pred = objective.predict(
                    model, x, tt, labels, guidance=guidance, temperature=temperature, need_entropy=i in wanted
                )
                if i in wanted:
                    entropies[i] = pred.entropy
                p = 1.0 if i == steps - 1 else objective.unmask_probability(t, h)
                u = torch.rand(x.shape, device=device, generator=generator)
                jump = (x == mask) & (u < p)
                if bool(jump.any()):
                    probs = pred.probs[jump]
                    x = x.clone()
                    x[jump] = torch.multinomial(probs, 1, generator=generator).squeeze(1)
            indices = objective.finalize(x)
        trajectory = [TrajectoryPoint(t=i * h, entropy=entropies[i]) for i in records]
        return SampleResult(indices=indices, nfe=steps, trajectory=trajectory)
