"""The flowbench contract suite, run on this package's objective, plus its own maths."""

import pytest
import torch
from flowbench_x0_rectified import X0Rectified

from flowbench.errors import ConfigError
from flowbench.testing import ObjectiveContract, make_tiny_backbone, tiny_batch, tiny_codebook


class TestX0Rectified(ObjectiveContract):
    """Everything a flowbench objective must do (shapes, loss, overfitting, config, registration)."""

    component_class = X0Rectified
    component_name = "x0-rectified"


class TestX0RectifiedEndpointWeighting(ObjectiveContract):
    """The same contract with the other weighting and uniform times."""

    component_class = X0Rectified
    options = {"weighting": "endpoint", "time_sampling": "uniform"}


def test_velocity_weighting_is_the_velocity_error():
    """With weighting="velocity" the loss equals ||v_hat - v||^2 (away from the clip)."""
    codebook = tiny_codebook()
    obj = X0Rectified(codebook, min_gap=1e-4)
    model = make_tiny_backbone(obj.backbone_spec((4, 4), 4))
    indices, labels = tiny_batch(4, (4, 4), 8, 4)
    loss = obj.loss(model, indices, labels, generator=torch.Generator().manual_seed(0)).loss
    # Redraw the same times and noise (the path flowbench's GaussianPathObjective samples).
    path = obj.sample_path(indices, torch.Generator().manual_seed(0))
    torch.testing.assert_close(path.x_1, codebook[indices].permute(0, 3, 1, 2))
    v_hat = obj.predict(model, path.x_t, path.t, labels).velocity
    expected = (v_hat - path.dx_t).pow(2).mean()
    torch.testing.assert_close(loss, expected, rtol=1e-4, atol=1e-5)


def test_a_perfect_endpoint_reaches_the_code_in_one_euler_step():
    codebook = tiny_codebook()
    obj = X0Rectified(codebook)
    indices, labels = tiny_batch(2, (4, 4), 8, 4)
    x1 = codebook[indices].permute(0, 3, 1, 2)

    def oracle(x, t, y):
        return x1

    x0 = obj.initial_state(2, (4, 4), generator=torch.Generator().manual_seed(0))
    v = obj.predict(oracle, x0, torch.zeros(2), labels).velocity
    assert torch.equal(obj.finalize(x0 + v), indices)


def test_bad_options_name_the_allowed_values():
    with pytest.raises(ConfigError, match="'velocity', 'endpoint'"):
        X0Rectified(tiny_codebook(), weighting="snr")
    with pytest.raises(ConfigError, match="min_gap"):
        X0Rectified(tiny_codebook(), min_gap=0.0)
