"""CFM baselines: velocity and endpoint regression on the Gaussian path, as the paper defines them."""

from __future__ import annotations

import pytest
import torch
from exact_posteriors import CODEBOOK, GRID, NUM_CLASSES, ExactRegression
from flowbench.builtin.cfm import CFMEndpoint
from recorder import Recorder

from flowbench.build import build_objective
from flowbench.config import ComponentConfig
from flowbench.errors import ConfigError
from flowbench.testing.objective_contract import ObjectiveContract


# The plain contract runs in tests/test_contracts_builtin.py; here, non-default options.
class TestCFMEndpointContract(ObjectiveContract):
    component_class = CFMEndpoint
    component_name = "cfm-endpoint"
    options = {"time_sampling": "logit-normal"}


def _obj(name: str, **options):
    return build_objective(ComponentConfig(name, options), CODEBOOK.clone())


@pytest.mark.parametrize("name", ["cfm", "cfm-endpoint"])
def test_loss_is_mse_to_the_paper_target(name):
    obj = _obj(name)
    indices = torch.randint(0, 4, (32, *GRID), generator=torch.Generator().manual_seed(1))
    model = Recorder(32, 2, GRID, NUM_CLASSES)
    out = obj.loss(model, indices, torch.arange(32) % NUM_CLASSES, generator=torch.Generator().manual_seed(2))
    xt, t, _ = model.inputs[0]
    tt = t.view(-1, 1, 1, 1)
    x1 = CODEBOOK[indices].permute(0, 3, 1, 2)
    x0 = (xt - tt * x1) / (1 - tt)
    target = x1 - x0 if name == "cfm" else x1
    expected = (model.out.detach() - target).pow(2).mean()
    assert torch.allclose(out.loss, expected, rtol=1e-4) and torch.allclose(out.parts["mse"], expected, rtol=1e-4)
    assert float(t.min()) >= 1e-3


def test_velocity_and_endpoint_parametrisations_agree_for_exact_models():
    """v = f for CFM; v = (f - x) / (1 - t + eps) for the endpoint model: the exact models give one field."""
    g = torch.Generator().manual_seed(3)
    x, t, y = torch.randn(8, 2, *GRID, generator=g), torch.rand(8, generator=g) * 0.9, torch.arange(8) % NUM_CLASSES
    v = _obj("cfm").predict(ExactRegression("velocity"), x, t, y).velocity
    e = _obj("cfm-endpoint").predict(ExactRegression("endpoint"), x, t, y).velocity
    assert torch.allclose(v, e, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name,target", [("cfm", "velocity"), ("cfm-endpoint", "endpoint")])
@pytest.mark.parametrize("scale", [0.0, 1.0, 3.0])
def test_guidance_is_on_the_velocity(name, target, scale):
    obj, model = _obj(name), ExactRegression(target)
    g = torch.Generator().manual_seed(4)
    x, t, y = torch.randn(6, 2, *GRID, generator=g), torch.rand(6, generator=g) * 0.9, torch.arange(6) % NUM_CLASSES
    pred = obj.predict(model, x, t, y, guidance=scale)
    assert model.calls == 1, "guidance must be one batched forward"
    vc = obj.predict(model, x, t, y).velocity
    vu = obj.predict(model, x, t, torch.full_like(y, NUM_CLASSES)).velocity
    assert torch.allclose(pred.velocity, vu + scale * (vc - vu), atol=1e-4, rtol=1e-4)
    assert pred.probs is None and pred.entropy is None
    assert obj.guidance_on == "velocity" and obj.temperature_on is None and not obj.categorical


def test_bad_options():
    with pytest.raises(ConfigError, match="time_sampling"):
        _obj("cfm", time_sampling="beta")
    with pytest.raises(ConfigError, match="options"):
        _obj("cfm-endpoint", z_loss_weight=1e-5)
