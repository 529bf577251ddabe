"""Samplers: exact NFE, pairing errors, guidance in one pass, trajectories.

The shared sampler contract (analytic oracles) runs on every built-in sampler in
``tests/test_contracts_builtin.py``; the toy-exactness tests in ``tests/objectives`` run each sampler
with the real objectives and exact posteriors.
"""

from __future__ import annotations

import pytest
import torch

from flowbench.build import build_objective, build_sampler, create
from flowbench.config import ComponentConfig
from flowbench.errors import ConfigError, IncompatibleError
from flowbench.testing.data import tiny_codebook


@pytest.mark.parametrize(
    "name,counts", [("euler", [1, 2, 10]), ("heun", [1, 3, 19]), ("midpoint", [2, 4, 20]), ("dfm-euler", [1, 2, 10])]
)
def test_nfe(name, counts):
    sampler = create("sampler", name)
    assert [sampler.nfe(n) for n in (1, 2, 10)] == counts
    with pytest.raises(ConfigError, match="positive"):
        sampler.nfe(0)


class _Counter(torch.nn.Module):
    """A posterior-logit model for VFM/DFM that records its calls and the times it sees."""

    def __init__(self, k: int, num_classes: int) -> None:
        super().__init__()
        self.k, self.null_class, self.calls = k, num_classes, []

    def forward(self, x, t, y):
        self.calls.append((x.shape[0], t.clone(), y.clone()))
        logits = torch.zeros(x.shape[0], self.k, *x.shape[-2:])
        logits[:, 0] = y.float()[:, None, None]  # depends on the label, so guidance is visible
        return logits


@pytest.mark.parametrize(
    "objective,sampler,steps",
    [("vfm", "euler", 5), ("vfm", "heun", 5), ("vfm", "midpoint", 5), ("dfm", "dfm-euler", 5)],
)
def test_guidance_is_one_batched_forward_per_evaluation(objective, sampler, steps):
    obj = build_objective(ComponentConfig(objective), tiny_codebook(8, 4))
    s = build_sampler(sampler, obj)
    model = _Counter(8, 3)
    labels = torch.tensor([0, 1, 2])
    result = s.sample(model, obj, labels, steps, grid_shape=(2, 2), guidance=2.0)
    assert result.nfe == s.nfe(steps) == len(model.calls)
    for batch, t, y in model.calls:
        assert batch == 6 and torch.equal(y, torch.tensor([0, 1, 2, 3, 3, 3])) and torch.equal(t[:3], t[3:])
    times = sorted({round(float(t[0]), 6) for _, t, _ in model.calls})
    assert times[0] == 0.0 and times[-1] < 1.0, "no evaluation at t = 1, where the velocity is singular"


def test_heun_evaluates_where_it_says():
    obj = build_objective(ComponentConfig("vfm"), tiny_codebook(8, 4))
    model = _Counter(8, 3)
    create("sampler", "heun").sample(model, obj, torch.tensor([0]), 4, grid_shape=(2, 2))
    assert [round(float(t[0]), 4) for _, t, _ in model.calls] == [0.0, 0.25, 0.25, 0.5, 0.5, 0.75, 0.75]
    model = _Counter(8, 3)
    create("sampler", "midpoint").sample(model, obj, torch.tensor([0]), 2, grid_shape=(2, 2))
    assert [round(float(t[0]), 4) for _, t, _ in model.calls] == [0.0, 0.25, 0.5, 0.75]


@pytest.mark.parametrize(
    "objective,sampler",
    [("dfm", "euler"), ("dfm", "heun"), ("dfm", "midpoint"), ("vfm", "dfm-euler"), ("cfm", "dfm-euler")],
)
def test_pairing_a_sampler_with_the_other_state_kind_is_one_clear_error(objective, sampler):
    obj = build_objective(ComponentConfig(objective), tiny_codebook(8, 4))
    with pytest.raises(IncompatibleError, match=f"sampler '{sampler}'.*objective '{objective}'"):
        build_sampler(sampler, obj, objective_name=objective)
    with pytest.raises(IncompatibleError):  # also when a caller skips build_sampler
        create("sampler", sampler).sample(_Counter(8, 3), obj, torch.tensor([0]), 2, grid_shape=(2, 2))


@pytest.mark.parametrize("objective,sampler", [("vfm", "euler"), ("vfm", "heun"), ("dfm", "dfm-euler")])
def test_trajectory_entropy_maps(objective, sampler):
    obj = build_objective(ComponentConfig(objective), tiny_codebook(8, 4))
    s = build_sampler(sampler, obj)
    result = s.sample(_Counter(8, 3), obj, torch.tensor([0, 1]), 4, grid_shape=(2, 2), record_times=[0.0, 0.5, 1.0])
    assert [p.t for p in result.trajectory] == [0.0, 0.5, 0.75]
    assert all(p.entropy.shape == (2, 2, 2) for p in result.trajectory)
    # the first prediction reads all-MASK or pure noise: label 0 gives uniform logits -> entropy log 8
    assert torch.allclose(result.trajectory[0].entropy[0], torch.full((2, 2), torch.log(torch.tensor(8.0))), atol=1e-5)
    with pytest.raises(ConfigError, match="record"):
        s.sample(_Counter(8, 3), obj, torch.tensor([0]), 4, grid_shape=(2, 2), record_times=[1.5])


def test_dfm_euler_last_step_fills_every_mask():
    obj = build_objective(ComponentConfig("dfm", {"kappa": "poly", "power": 4.0}), tiny_codebook(8, 4))
    result = create("sampler", "dfm-euler").sample(
        _Counter(8, 3), obj, torch.zeros(64, dtype=torch.long), 3, grid_shape=(4, 4)
    )
    assert ((result.indices >= 0) & (result.indices < 8)).all()
