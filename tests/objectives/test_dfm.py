"""Masked DFM: the mask-or-keep path, the loss, the unmasking rate and the posterior, as defined."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from exact_posteriors import CODEBOOK, GRID, NUM_CLASSES, ExactMasked, log_prior
from flowbench.builtin.dfm import DFM
from recorder import Recorder

from flowbench.build import build_objective
from flowbench.config import ComponentConfig
from flowbench.errors import ConfigError
from flowbench.testing.objective_contract import ObjectiveContract


# The plain contract runs in tests/test_contracts_builtin.py; here, non-default options.
class TestDFMPolyMaskedOnDiTContract(ObjectiveContract):
    component_class = DFM
    component_name = "dfm"
    backbone_name = "dit-micro/2"
    options = {"kappa": "poly", "power": 3.0, "loss_positions": "masked"}
    overfit_steps = 120


def _dfm(**options) -> DFM:
    return build_objective(ComponentConfig("dfm", options), CODEBOOK.clone())


@pytest.mark.parametrize("options", [{}, {"kappa": "poly", "power": 2.0}])
def test_path_keeps_each_code_with_probability_kappa(options):
    obj = _dfm(**options)
    n = 4096
    indices = torch.randint(0, 4, (n, 4, 4), generator=torch.Generator().manual_seed(1))
    model = Recorder(n, 4, (4, 4), NUM_CLASSES)
    obj.loss(model, indices, torch.zeros(n, dtype=torch.long), generator=torch.Generator().manual_seed(2))
    xt, t, _ = model.inputs[0]
    masked = xt == 4
    assert torch.equal(xt[~masked], indices[~masked]), "unmasked positions must carry the data code"
    kept = (~masked).float().mean(dim=(1, 2))
    power = options.get("power", 1.0)
    # E[kept | t] = t^power: regress over the batch
    assert abs(float((kept - t**power).mean())) < 0.01
    assert float(((kept - t**power) ** 2).mean()) < 0.25 / 16 + 0.01


@pytest.mark.parametrize("positions", ["all", "masked"])
def test_loss_is_cross_entropy_over_codes_plus_z_loss(positions):
    obj = _dfm(loss_positions=positions, z_loss_weight=0.1)
    indices = torch.randint(0, 4, (16, *GRID), generator=torch.Generator().manual_seed(1))
    model = Recorder(16, 4, GRID, NUM_CLASSES)
    out = obj.loss(model, indices, torch.arange(16) % NUM_CLASSES, generator=torch.Generator().manual_seed(3))
    xt = model.inputs[0][0]
    logits = model.out.detach()
    per = F.cross_entropy(logits, indices, reduction="none")
    ce = per.mean() if positions == "all" else per[xt == 4].mean()
    z = 0.1 * torch.logsumexp(logits, dim=1).pow(2).mean()
    assert torch.allclose(out.parts["ce"], ce, rtol=1e-5) and torch.allclose(out.parts["z_loss"], z, rtol=1e-5)
    assert torch.allclose(out.loss, ce + z, rtol=1e-5)


def test_backbone_reads_k_plus_one_tokens_and_writes_k_logits():
    spec = _dfm().backbone_spec(GRID, NUM_CLASSES)
    assert (spec.input_kind, spec.in_channels, spec.out_channels) == ("tokens", 5, 4)
    assert _dfm().mask_index == 4


@pytest.mark.parametrize("power", [1.0, 2.0, 0.5])
def test_unmask_probability_is_the_exact_increment(power):
    obj = _dfm(kappa="poly", power=power) if power != 1.0 else _dfm()
    for t, h in [(0.0, 0.1), (0.3, 0.05), (0.6, 0.2), (0.85, 0.1), (0.9, 0.1)]:
        if t + h >= 1:
            expected = 1.0
        else:
            expected = ((t + h) ** power - t**power) / (1 - t**power)
        assert obj.unmask_probability(t, h) == pytest.approx(expected)
        if power == 1.0:  # linear kappa: the exact increment is the Euler rate h kappa' / (1 - kappa)
            assert obj.unmask_probability(t, h) == pytest.approx(min(1.0, h / (1 - t)))
    assert obj.unmask_probability(1.0, 0.1) == 1.0
    assert obj.unmask_probability(0.75, 0.25) == 1.0, "the last step reveals everything"


def test_sqrt_kappa_does_not_reveal_everything_in_the_first_step():
    """kappa(t) = t^0.5 has kappa'(0) = inf: the Euler rate revealed every position at t = 0."""
    obj = _dfm(kappa="poly", power=0.5)
    assert obj.unmask_probability(0.0, 0.01) == pytest.approx(0.1)  # kappa(0.01) = 0.1
    # the increments over a grid telescope: P(still masked at the last step) = 1 - kappa(1 - h)
    steps, h, masked = 50, 1 / 50, 1.0
    for i in range(steps - 1):
        masked *= 1 - obj.unmask_probability(i * h, h)
    assert masked == pytest.approx(1 - (1 - h) ** 0.5)


@pytest.mark.parametrize("scale,tau", [(1.0, 1.0), (0.0, 1.0), (2.0, 0.5)])
def test_predict_is_the_guided_tempered_posterior(scale, tau):
    obj, model = _dfm(), ExactMasked()
    x = torch.full((6, *GRID), 4)
    t, y = torch.full((6,), 0.25), torch.arange(6) % NUM_CLASSES
    pred = obj.predict(model, x, t, y, guidance=scale, temperature=tau, need_entropy=True)
    assert model.calls == 1
    lc, lu = log_prior(y), log_prior(torch.full_like(y, NUM_CLASSES))
    probs = torch.softmax((lu + scale * (lc - lu)) / tau, dim=1).permute(0, 2, 3, 1)
    assert pred.probs.shape == (6, *GRID, 4) and torch.allclose(pred.probs, probs, atol=1e-6)
    assert torch.allclose(pred.entropy, -torch.special.xlogy(probs, probs).sum(-1), atol=1e-5)
    assert pred.velocity is None


def test_options():
    with pytest.raises(ConfigError, match="poly"):
        _dfm(power=2.0)
    with pytest.raises(ConfigError, match="linear"):
        _dfm(kappa="cosine")
    with pytest.raises(ConfigError, match="masked"):
        _dfm(loss_positions="unmasked")
    with pytest.raises(ConfigError, match="power"):
        _dfm(kappa="poly", power=0)
    poly = _dfm(kappa="poly")
    assert poly.config()["power"] == 2.0 and "power" not in _dfm().config()
    assert type(poly)(CODEBOOK, **poly.config()).config() == poly.config()
    assert _dfm().default_sampler == "dfm-euler" and _dfm().config()["loss_positions"] == "all"


def test_finalize_refuses_masks():
    with pytest.raises(RuntimeError, match="MASK"):
        _dfm().finalize(torch.full((1, *GRID), 4))
