"""Purrception (VFM): the loss, the velocity and where guidance and temperature act, as the paper defines them."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from exact_posteriors import CODEBOOK, GRID, NUM_CLASSES, ExactLogits, exact_logits, log_marginal_density
from flowbench.builtin.vfm import VFM
from recorder import Recorder

from flowbench.build import build_objective
from flowbench.config import ComponentConfig
from flowbench.errors import ConfigError
from flowbench.guidance import guided_output
from flowbench.testing.objective_contract import ObjectiveContract


# The plain contract runs in tests/test_contracts_builtin.py; here, non-default options.
class TestPurrceptionOnDiTContract(ObjectiveContract):
    component_class = VFM
    component_name = "purrception"
    backbone_name = "dit-micro/1"
    options = {"final": "argmax", "z_loss_weight": 1e-3}
    overfit_steps = 120


def _vfm(**options) -> VFM:
    return build_objective(ComponentConfig("vfm", options), CODEBOOK.clone())


def test_loss_is_cross_entropy_plus_z_loss_on_the_gaussian_path():
    obj = _vfm(z_loss_weight=0.01)
    indices = torch.randint(0, 4, (64, *GRID), generator=torch.Generator().manual_seed(1))
    labels = torch.arange(64) % NUM_CLASSES
    model = Recorder(64, 4, GRID, NUM_CLASSES)
    out = obj.loss(model, indices, labels, generator=torch.Generator().manual_seed(2))
    (xt, t, y), logits = model.inputs[0], model.out.detach()
    assert torch.equal(y, labels)
    assert t.shape == (64,) and float(t.min()) >= 1e-3 and float(t.max()) <= 1.0
    ce = F.cross_entropy(logits, indices)
    z = 0.01 * torch.logsumexp(logits, dim=1).pow(2).mean()
    assert torch.allclose(out.parts["ce"], ce, rtol=1e-5) and torch.allclose(out.parts["z_loss"], z, rtol=1e-5)
    assert torch.allclose(out.loss, ce + z, rtol=1e-5)
    # x_t = t x1 + (1 - t) x0 with x1 = E[c] and x0 ~ N(0, I) in embedding space (no rescaling)
    x1 = CODEBOOK[indices].permute(0, 3, 1, 2)
    tt = t.view(-1, 1, 1, 1)
    x0 = (xt - tt * x1) / (1 - tt).clamp_min(1e-6)
    x0 = x0[t < 0.99]
    assert abs(float(x0.mean())) < 0.15 and abs(float(x0.std()) - 1.0) < 0.15
    out.loss.backward()
    assert model.out.grad is not None and torch.isfinite(model.out.grad).all()


def test_z_loss_weight_zero_and_default():
    assert _vfm().z_loss_weight == 1e-5
    obj = _vfm(z_loss_weight=0.0)
    model = Recorder(8, 4, GRID, NUM_CLASSES)
    out = obj.loss(model, torch.zeros(8, *GRID, dtype=torch.long), torch.zeros(8, dtype=torch.long))
    assert float(out.parts["z_loss"]) == 0.0


def test_velocity_is_the_true_marginal_velocity_when_the_posterior_is_exact():
    """(E[x1|x_t] - x_t) / (1 - t) == (x_t + (1 - t)^2 grad log p_t(x_t)) / t  (Tweedie), computed independently."""
    obj = _vfm()
    g = torch.Generator().manual_seed(3)
    x = 2 * torch.randn(16, 2, *GRID, generator=g, dtype=torch.float64)
    t = torch.rand(16, generator=g, dtype=torch.float64) * 0.8 + 0.1
    y = torch.arange(16) % (NUM_CLASSES + 1)
    x.requires_grad_(True)
    score = torch.autograd.grad(log_marginal_density(x, t, y).sum(), x)[0]
    tt = t.view(-1, 1, 1, 1)
    true_v = (x.detach() + (1 - tt) * score) / tt  # E[x0|x_t] = -(1 - t) score; v = (x_t - E[x0|x_t]) / t
    pred = obj.predict(ExactLogits(), x.detach().float(), t.float(), y)
    assert torch.allclose(pred.velocity.double(), true_v, atol=2e-3, rtol=1e-3)


def test_temperature_to_zero_gives_the_argmax_code():
    obj = _vfm()
    g = torch.Generator().manual_seed(4)
    x, t, y = torch.randn(32, 2, *GRID, generator=g), torch.full((32,), 0.3), torch.arange(32) % NUM_CLASSES
    pred = obj.predict(ExactLogits(), x, t, y, temperature=1e-4)
    mu = x + pred.velocity * (1 - t + VFM.eps).view(-1, 1, 1, 1)
    best = CODEBOOK[exact_logits(x, t, y).argmax(dim=1)].permute(0, 3, 1, 2)
    assert torch.allclose(mu, best, atol=1e-4)


def test_guidance_scale_one_is_the_conditional_output():
    obj = _vfm()
    model = Recorder(6, 4, GRID, NUM_CLASSES)
    x, t, y = torch.randn(6, 2, *GRID), torch.rand(6), torch.arange(6) % NUM_CLASSES
    pred = obj.predict(model, x, t, y, guidance=1.0)
    assert len(model.inputs) == 1 and torch.equal(model.inputs[0][2], y), "scale 1 must be one conditional pass"
    assert torch.allclose(pred.velocity, obj.predict(model, x, t, y).velocity)


@pytest.mark.parametrize("scale,tau", [(0.0, 1.0), (2.5, 1.0), (1.5, 0.7)])
def test_guidance_acts_on_the_raw_logits_before_temperature(scale, tau):
    """One batched forward equals two separate passes: l = l_u + s (l_c - l_u), then softmax(l / tau) @ E."""
    obj = _vfm()
    model = ExactLogits()
    g = torch.Generator().manual_seed(5)
    x, t, y = torch.randn(8, 2, *GRID, generator=g), torch.rand(8, generator=g) * 0.9, torch.arange(8) % NUM_CLASSES
    pred = obj.predict(model, x, t, y, guidance=scale, temperature=tau, need_entropy=True)
    calls = model.calls
    lc, lu = model(x, t, y), model(x, t, torch.full_like(y, NUM_CLASSES))
    logits = lu + scale * (lc - lu)
    pi = torch.softmax(logits / tau, dim=1)
    mu = torch.einsum("bkhw,kd->bdhw", pi, CODEBOOK)
    assert torch.allclose(pred.velocity, (mu - x) / (1 - t + 1e-6).view(-1, 1, 1, 1), atol=1e-4, rtol=1e-4)
    assert torch.allclose(pred.entropy, -(pi * pi.clamp_min(1e-30).log()).sum(1), atol=1e-4)
    assert torch.allclose(pred.probs, pi.permute(0, 2, 3, 1), atol=1e-6)
    assert calls == (1 if scale == 1.0 else 1), "guidance must be one batched forward"
    assert torch.allclose(guided_output(model, x, t, y, scale), logits, atol=1e-5)


def test_final_argmax_uses_the_last_posterior_and_nearest_snaps():
    obj = _vfm(final="argmax")
    assert obj.config()["final"] == "argmax"
    model = ExactLogits()
    x, t, y = torch.randn(4, 2, *GRID), torch.full((4,), 0.9), torch.arange(4) % NUM_CLASSES
    last = obj.predict(model, x, t, y)
    assert torch.equal(last.codes, exact_logits(x, t, y).argmax(dim=1))
    assert torch.equal(obj.finalize(torch.zeros_like(x), last), last.codes)
    snapped = obj.finalize(x)  # no last prediction: the nearest code (nothing is remembered from predict)
    assert torch.equal(snapped, ((x[:, None] - CODEBOOK.view(1, 4, 2, 1, 1)) ** 2).sum(2).argmin(1))
    near = _vfm()
    assert near.config()["final"] == "nearest" and near.predict(model, x, t, y).codes is None
    codes = torch.tensor([[[0, 1], [2, 3]]])
    assert torch.equal(near.finalize(1.2 * CODEBOOK[codes].permute(0, 3, 1, 2)), codes)


def test_predict_without_entropy_does_not_build_the_posterior():
    pred = _vfm().predict(
        ExactLogits(), torch.randn(2, 2, *GRID), torch.full((2,), 0.5), torch.zeros(2, dtype=torch.long)
    )
    assert pred.probs is None and pred.entropy is None


@pytest.mark.parametrize(
    "options,match",
    [
        ({"final": "mode"}, "nearest"),
        ({"time_sampling": "cosine"}, "logit-normal"),
        ({"z_loss_weight": -1.0}, "z_loss_weight"),
        ({"logit_normal_std": 0.0}, "logit_normal_std"),
        ({"zloss": 1e-5}, "z_loss_weight"),
    ],
)
def test_bad_options_name_the_allowed_ones(options, match):
    with pytest.raises(ConfigError, match=match):
        _vfm(**options)


def test_logit_normal_time_sampling():
    obj = _vfm(time_sampling="logit-normal", logit_normal_mean=1.0, logit_normal_std=0.5)
    t = obj.times.sample(20000, generator=torch.Generator().manual_seed(0))
    s = (t - 1e-3) / (1 - 1e-3)
    logit = torch.log(s / (1 - s))
    assert abs(float(logit.mean()) - 1.0) < 0.03 and abs(float(logit.std()) - 0.5) < 0.03
    assert type(obj)(CODEBOOK, **obj.config()).config() == obj.config()
    u = _vfm().times.sample(20000, generator=torch.Generator().manual_seed(0))
    assert float(u.min()) >= 1e-3 and abs(float(u.mean()) - (1 + 1e-3) / 2) < 0.01
    assert math.isclose(_vfm().config()["t_min"], 1e-3)
