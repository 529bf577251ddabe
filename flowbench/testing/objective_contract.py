"""The objective contract: what every :class:`~flowbench.interfaces.Objective` must do.

Subclass :class:`ObjectiveContract` in a pytest file (the class name must start with ``Test``)::

    from flowbench.testing import ObjectiveContract
    from my_package.objective import MyObjective

    class TestMyObjective(ObjectiveContract):
        component_class = MyObjective
        component_name = "my-objective"      # checks the entry point too
        options = {"weighting": "velocity"}

Everything runs on a CPU in seconds: an 8-code codebook in 4 dimensions, a 4x4 grid, and the
:class:`~flowbench.testing.TinyBackbone` (no built-in plugin needed; set ``backbone_name`` to use a
registered backbone instead). Only the sampling checks need a registered sampler: the objective's
``default_sampler`` (or ``sampler_name``).
"""

from __future__ import annotations

import json
import math
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from flowbench.build import build_sampler, create
from flowbench.errors import ConfigError
from flowbench.interfaces import BackboneSpec, LossOutput, MaskedObjective, Objective, Prediction
from flowbench.plugins import registry
from flowbench.testing.backbone import make_tiny_backbone
from flowbench.testing.base import ContractBase
from flowbench.testing.data import tiny_batch, tiny_codebook

__all__ = ["ObjectiveContract"]


def _loss_at(objective: Objective, model: nn.Module, indices: Tensor, labels: Tensor, seeds: range) -> float:
    with torch.no_grad():
        values = [
            objective.loss(model, indices, labels, generator=torch.Generator().manual_seed(s)).loss for s in seeds
        ]
    return float(torch.stack(values).mean())


class ObjectiveContract(ContractBase):
    """Contract tests for an objective (see the module docstring).

    Class attributes beyond :class:`~flowbench.testing.base.ContractBase`'s:
        codebook_size, embed_dim, grid_shape, num_classes, batch_size: the tiny problem.
        backbone_name, backbone_options: a registered backbone to use instead of the tiny one (its
            weights are perturbed by 0.02 N(0, 1) so that a zero-initialised output layer does not
            make every prediction 0).
        sampler_name: the sampler for the sampling checks (default: the objective's own).
        sample_steps: steps of those sampling runs.
        overfit_steps, overfit_lr, overfit_ratio: the one-batch overfitting check: after
            ``overfit_steps`` Adam steps on one batch the loss must fall below ``overfit_ratio`` times
            its initial value (both averaged over the same 4 seeded draws of times and noise).
    """

    kind: ClassVar[str] = "objective"
    codebook_size: ClassVar[int] = 8
    embed_dim: ClassVar[int] = 4
    grid_shape: ClassVar[tuple[int, int]] = (4, 4)
    num_classes: ClassVar[int] = 4
    batch_size: ClassVar[int] = 4
    backbone_name: ClassVar[str | None] = None
    backbone_options: ClassVar[dict[str, Any]] = {}
    sampler_name: ClassVar[str | None] = None
    sample_steps: ClassVar[int] = 4
    overfit_steps: ClassVar[int] = 60
    overfit_lr: ClassVar[float] = 3e-3
    overfit_ratio: ClassVar[float] = 0.5

    # -- helpers a subclass may override --------------------------------------------------------

    def make_codebook(self) -> Tensor:
        return tiny_codebook(self.codebook_size, self.embed_dim)

    def make_objective(self, **overrides: Any) -> Objective:
        return self.build(self.make_codebook(), **overrides)

    def make_backbone(self, objective: Objective, seed: int = 0) -> nn.Module:
        spec = objective.backbone_spec(self.grid_shape, self.num_classes)
        if self.backbone_name is None:
            return make_tiny_backbone(spec, seed=seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = create("backbone", self.backbone_name, spec, **self.backbone_options)
            with torch.no_grad():  # zero-initialised output layers (adaLN-Zero) would hide the objective
                for p in model.parameters():
                    p.add_(0.02 * torch.randn_like(p))
        return model

    def make_batch(self, seed: int = 0) -> tuple[Tensor, Tensor]:
        return tiny_batch(self.batch_size, self.grid_shape, self.codebook_size, self.num_classes, seed=seed)

    def state_at(self, objective: Objective, t: float, seed: int = 1) -> Tensor:
        """A valid state at time ``t``: a point on the path for continuous states, a partly masked grid."""
        indices, _ = self.make_batch(seed)
        g = torch.Generator().manual_seed(seed)
        if objective.state_kind == "masked":
            keep = torch.rand(indices.shape, generator=g) < t
            mask_index = objective.mask_index  # type: ignore[attr-defined]
            return torch.where(keep, indices, torch.full_like(indices, mask_index))
        x1 = objective.codebook[indices].permute(0, 3, 1, 2)
        x0 = torch.randn(x1.shape, generator=g)
        return t * x1 + (1 - t) * x0

    def predict(self, objective: Objective, model: nn.Module, t: float = 0.5, **kwargs: Any) -> Prediction:
        x = self.state_at(objective, t)
        _, labels = self.make_batch()
        with torch.no_grad():
            return objective.predict(model.eval(), x, torch.full((x.shape[0],), t), labels, **kwargs)

    # -- the contract ---------------------------------------------------------------------------

    def test_registered(self) -> None:
        self.check_registered(self.make_codebook())

    def test_declares_its_kind(self) -> None:
        obj = self.make_objective()
        assert isinstance(obj, Objective)
        assert obj.state_kind in ("continuous", "masked"), f"state_kind {obj.state_kind!r}"
        assert (obj.state_kind == "masked") == isinstance(obj, MaskedObjective), (
            "masked objectives subclass MaskedObjective (and only they)"
        )
        assert isinstance(obj.default_sampler, str) and obj.default_sampler
        assert isinstance(obj.guidance_on, str) and obj.guidance_on
        assert obj.temperature_on is None or isinstance(obj.temperature_on, str)
        assert isinstance(obj.categorical, bool)

    def test_keeps_the_codebook(self) -> None:
        codebook = self.make_codebook()
        obj = self.build(codebook)
        assert torch.equal(obj.codebook, codebook), "objective.codebook must be the (K, D) table it was given"
        assert (obj.codebook_size, obj.embed_dim) == (self.codebook_size, self.embed_dim)

    def test_backbone_spec(self) -> None:
        obj = self.make_objective()
        spec = obj.backbone_spec(self.grid_shape, self.num_classes)
        assert isinstance(spec, BackboneSpec)
        assert tuple(spec.grid_shape) == self.grid_shape and spec.num_classes == self.num_classes
        if obj.state_kind == "continuous":
            assert spec.input_kind == "continuous" and spec.in_channels == self.embed_dim
        else:
            assert spec.input_kind == "tokens" and spec.in_channels == self.codebook_size + 1, (
                "a masked objective reads tokens over K codes + MASK"
            )

    def test_initial_state(self) -> None:
        obj = self.make_objective()
        x = obj.initial_state(3, self.grid_shape, generator=torch.Generator().manual_seed(0))
        if obj.state_kind == "continuous":
            assert x.shape == (3, self.embed_dim, *self.grid_shape) and x.dtype == torch.float32
            assert torch.isfinite(x).all()
        else:
            assert x.shape == (3, *self.grid_shape) and x.dtype == torch.int64
            assert (x == obj.mask_index).all(), "a masked objective starts all-MASK"  # type: ignore[attr-defined]

    def test_initial_state_is_seeded(self) -> None:
        obj = self.make_objective()

        def draw(seed: int) -> Tensor:
            return obj.initial_state(3, self.grid_shape, generator=torch.Generator().manual_seed(seed))

        assert torch.equal(draw(0), draw(0)), "same generator seed, different initial states"
        if obj.state_kind == "continuous":
            assert not torch.equal(draw(0), draw(1)), "initial noise ignores the generator"

    def test_loss_is_finite_and_differentiable(self) -> None:
        obj = self.make_objective()
        model = self.make_backbone(obj).train()
        indices, labels = self.make_batch()
        out = obj.loss(model, indices, labels, generator=torch.Generator().manual_seed(0))
        assert isinstance(out, LossOutput)
        assert out.loss.ndim == 0 and out.loss.dtype == torch.float32, "loss must be a float32 scalar"
        assert torch.isfinite(out.loss), f"loss is {out.loss}"
        assert out.loss.requires_grad, "loss does not depend on the model's parameters"
        out.loss.backward()
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        assert grads, "no parameter received a gradient"
        assert all(torch.isfinite(g).all() for g in grads), "non-finite gradients"
        assert any(g.abs().sum() > 0 for g in grads), "all gradients are zero"
        for name, part in out.parts.items():
            assert isinstance(part, Tensor) and part.ndim == 0, f"part {name!r} must be a scalar tensor"
            assert not part.requires_grad, f"part {name!r} must be detached (it is only logged)"
            assert torch.isfinite(part), f"part {name!r} is {part}"

    def test_loss_is_seeded(self) -> None:
        obj = self.make_objective()
        model = self.make_backbone(obj).eval()
        indices, labels = self.make_batch()

        def loss(seed: int) -> Tensor:
            with torch.no_grad():
                return obj.loss(model, indices, labels, generator=torch.Generator().manual_seed(seed)).loss

        assert torch.equal(loss(0), loss(0)), "same generator seed, different losses"
        assert not torch.equal(loss(0), loss(1)), "the loss's times/noise ignore the generator"

    def test_loss_rejects_nothing_valid(self) -> None:
        """Labels may be the null class (classifier-free guidance) and codes span all of [0, K)."""
        obj = self.make_objective()
        model = self.make_backbone(obj).train()
        indices = torch.arange(self.batch_size * math.prod(self.grid_shape)) % self.codebook_size
        indices = indices.reshape(self.batch_size, *self.grid_shape)
        labels = torch.full((self.batch_size,), self.num_classes)
        out = obj.loss(model, indices, labels, generator=torch.Generator().manual_seed(0))
        assert torch.isfinite(out.loss)

    def test_predict(self) -> None:
        obj = self.make_objective()
        model = self.make_backbone(obj)
        for t in (0.0, 0.5, 0.99):
            pred = self.predict(obj, model, t=t, need_entropy=obj.categorical)
            assert isinstance(pred, Prediction)
            if obj.state_kind == "continuous":
                assert pred.velocity is not None, "continuous objectives predict a velocity"
                assert pred.velocity.shape == (self.batch_size, self.embed_dim, *self.grid_shape)
                assert torch.isfinite(pred.velocity).all(), f"non-finite velocity at t={t}"
            if obj.state_kind == "masked" or obj.categorical:
                assert pred.probs is not None, "masked/categorical objectives predict a posterior"
                assert pred.probs.shape == (self.batch_size, *self.grid_shape, self.codebook_size)
                assert (pred.probs >= 0).all() and torch.allclose(pred.probs.sum(-1), torch.ones(1), atol=1e-4)
            if obj.categorical:
                assert pred.entropy is not None, "categorical objectives return entropy when asked"
                assert pred.entropy.shape == (self.batch_size, *self.grid_shape)
                assert (pred.entropy >= -1e-5).all() and (pred.entropy <= math.log(self.codebook_size) + 1e-4).all()

    def test_guidance_changes_the_prediction(self) -> None:
        obj = self.make_objective()
        model = self.make_backbone(obj)
        plain, guided = self.predict(obj, model), self.predict(obj, model, guidance=3.0)
        a = plain.velocity if plain.velocity is not None else plain.probs
        b = guided.velocity if guided.velocity is not None else guided.probs
        assert a is not None and b is not None and torch.isfinite(b).all()
        assert not torch.allclose(a, b), f"guidance 3 has no effect (guidance_on = {obj.guidance_on!r})"

    def test_temperature_is_where_declared(self) -> None:
        obj = self.make_objective()
        model = self.make_backbone(obj)
        plain, cooled = self.predict(obj, model), self.predict(obj, model, temperature=0.5)
        a = plain.velocity if plain.velocity is not None else plain.probs
        b = cooled.velocity if cooled.velocity is not None else cooled.probs
        assert a is not None and b is not None and torch.isfinite(b).all()
        if obj.temperature_on is None:
            assert torch.allclose(a, b), "temperature_on is None but temperature changes the prediction"
        else:
            assert not torch.allclose(a, b), f"temperature_on = {obj.temperature_on!r} but it has no effect"

    def test_finalize_round_trip(self) -> None:
        obj = self.make_objective()
        indices, _ = self.make_batch(seed=3)
        if obj.state_kind == "continuous":
            x1 = obj.codebook[indices].permute(0, 3, 1, 2)
            state = x1 + 1e-3 * torch.randn(x1.shape, generator=torch.Generator().manual_seed(0))
        else:
            state = indices.clone()
        out = obj.finalize(state)
        assert out.dtype == torch.int64 and out.shape == indices.shape
        assert torch.equal(out, indices), "finalize(state of the codes c at t = 1) must give back c"

    def test_finalize_keeps_no_state_between_calls(self) -> None:
        obj = self.make_objective()
        model = self.make_backbone(obj)
        state = self.state_at(obj, 1.0, seed=3)
        before = obj.finalize(state)
        for t in (0.5, 0.9):
            self.predict(obj, model, t=t)  # a batch of the same shape
        assert torch.equal(obj.finalize(state), before), (
            "finalize(x) changed after predict calls: an objective keeps no state between calls; what "
            "finalize needs from the last prediction comes as finalize(x, last) (e.g. Prediction.codes)"
        )

    def test_overfits_one_batch(self) -> None:
        obj = self.make_objective()
        model = self.make_backbone(obj).train()
        indices, labels = self.make_batch()
        before = _loss_at(obj, model, indices, labels, range(100, 104))
        optimizer = torch.optim.Adam(model.parameters(), lr=self.overfit_lr)
        for step in range(self.overfit_steps):
            optimizer.zero_grad()
            obj.loss(model, indices, labels, generator=torch.Generator().manual_seed(step)).loss.backward()
            optimizer.step()
        after = _loss_at(obj, model, indices, labels, range(100, 104))
        assert after < self.overfit_ratio * before, (
            f"loss {before:.4g} -> {after:.4g} after {self.overfit_steps} steps on one batch "
            f"(needs < {self.overfit_ratio} x initial)"
        )

    def test_config_is_plain_data(self) -> None:
        config = self.make_objective().config()
        assert isinstance(config, dict)
        json.dumps(config)  # saved with every run: numbers, strings, booleans, lists, tables

    def test_config_round_trip(self) -> None:
        obj = self.make_objective()
        clone = type(obj)(obj.codebook.clone(), **obj.config())
        assert clone.config() == obj.config()
        model = self.make_backbone(obj).eval()
        indices, labels = self.make_batch()
        with torch.no_grad():
            a = obj.loss(model, indices, labels, generator=torch.Generator().manual_seed(0)).loss
            b = clone.loss(model, indices, labels, generator=torch.Generator().manual_seed(0)).loss
        assert torch.allclose(a, b), "type(obj)(codebook, **obj.config()) computes a different loss"
        pa, pb = self.predict(obj, model, temperature=0.7), self.predict(clone, model, temperature=0.7)
        for name in ("velocity", "probs"):
            va, vb = getattr(pa, name), getattr(pb, name)
            assert (va is None) == (vb is None) and (va is None or torch.allclose(va, vb)), f"{name} differs"

    def test_unknown_option_is_rejected(self) -> None:
        import pytest

        with pytest.raises((ConfigError, TypeError)):
            self.make_objective(not_an_option_of_anything=1)
        if self.component_name is not None:
            with pytest.raises(ConfigError):
                create("objective", self.component_name, self.make_codebook(), not_an_option_of_anything=1)

    def test_compatible_sampler_is_registered(self) -> None:
        obj = self.make_objective()
        name = self.sampler_name or obj.default_sampler
        assert name in registry("sampler"), (
            f"sampler {name!r} (the objective's {'sampler_name' if self.sampler_name else 'default_sampler'}) is "
            f"not registered; registered: {', '.join(registry('sampler').names()) or '(none)'}"
        )
        build_sampler(name, obj)  # raises IncompatibleError for the wrong state kind

    def test_samples_valid_indices(self) -> None:
        obj = self.make_objective()
        sampler = build_sampler(self.sampler_name, obj)
        model = self.make_backbone(obj).eval()
        labels = torch.arange(3) % self.num_classes

        def sample(seed: int):
            with torch.no_grad():
                return sampler.sample(
                    model,
                    obj,
                    labels,
                    self.sample_steps,
                    grid_shape=self.grid_shape,
                    guidance=2.0,
                    generator=torch.Generator().manual_seed(seed),
                )

        result = sample(0)
        assert result.indices.shape == (3, *self.grid_shape) and result.indices.dtype == torch.int64
        assert ((result.indices >= 0) & (result.indices < self.codebook_size)).all(), "indices outside [0, K)"
        assert result.nfe == sampler.nfe(self.sample_steps)
        assert torch.equal(result.indices, sample(0).indices), "same seed, different samples"

    def test_masked_unmask_probability(self) -> None:
        import pytest

        obj = self.make_objective()
        if not isinstance(obj, MaskedObjective):
            pytest.skip("continuous objective: no jump schedule to check")
        steps = 8
        h = 1.0 / steps
        for i in range(steps):
            p = obj.unmask_probability(i * h, h)
            assert 0.0 <= p <= 1.0, f"unmask_probability({i * h}, {h}) = {p}"
        assert obj.unmask_probability(1.0 - h, h) >= 1.0 - 1e-6, "the last step must reveal every masked position"
