"""The sampler contract: what every :class:`~flowbench.interfaces.Sampler` must do.

Subclass :class:`SamplerContract` in a pytest file::

    from flowbench.testing import SamplerContract
    from my_package.sampler import MySampler

    class TestMySampler(SamplerContract):
        component_class = MySampler
        component_name = "my-sampler"

The checks run the sampler on analytic oracles (:mod:`flowbench.testing.oracle`): the exact
posterior of data whose codes are drawn independently per position, so no network is trained and
no built-in objective is needed. A point-mass prior must be hit exactly; a spread prior must be
reproduced in distribution. Set ``objective_name`` to also run it with a registered objective.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import torch
from torch import Tensor

from flowbench.build import create
from flowbench.errors import ConfigError, IncompatibleError
from flowbench.interfaces import BackboneSpec, Objective, Sampler, SampleResult
from flowbench.testing.backbone import make_tiny_backbone
from flowbench.testing.base import ContractBase
from flowbench.testing.data import tiny_batch, tiny_codebook
from flowbench.testing.oracle import OracleMaskedObjective, OracleModel, OracleObjective, point_mass_prior

__all__ = ["SamplerContract"]


class SamplerContract(ContractBase):
    """Contract tests for a sampler (see the module docstring).

    Class attributes beyond :class:`~flowbench.testing.base.ContractBase`'s:
        codebook_size, embed_dim, grid_shape, num_classes, batch_size: the tiny problem.
        steps: steps of most sampling runs.
        distribution_steps, distribution_batch, tv_tolerance: the distribution check draws
            ``distribution_batch`` grids with ``distribution_steps`` steps; the total-variation distance
            between the code frequencies and the prior must stay below ``tv_tolerance``.
        objective_name, objective_options: a registered objective to run end to end as well.
    """

    kind: ClassVar[str] = "sampler"
    codebook_size: ClassVar[int] = 8
    embed_dim: ClassVar[int] = 4
    grid_shape: ClassVar[tuple[int, int]] = (4, 4)
    num_classes: ClassVar[int] = 4
    batch_size: ClassVar[int] = 4
    steps: ClassVar[int] = 8
    distribution_steps: ClassVar[int] = 32
    distribution_batch: ClassVar[int] = 64
    tv_tolerance: ClassVar[float] = 0.1
    objective_name: ClassVar[str | None] = None
    objective_options: ClassVar[dict[str, Any]] = {}

    # -- helpers ----------------------------------------------------------------------------------

    def make_sampler(self, **overrides: Any) -> Sampler:
        return self.build(**overrides)

    def make_oracle(self, sampler: Sampler, prior_logits: Tensor | None = None) -> tuple[Objective, OracleModel]:
        """An oracle objective of the sampler's state kind and its model (uniform prior by default)."""
        codebook = tiny_codebook(self.codebook_size, self.embed_dim)
        objective: Objective
        if sampler.state_kind == "masked":
            objective = OracleMaskedObjective(codebook)
        else:
            objective = OracleObjective(codebook)
        if prior_logits is None:
            prior_logits = torch.zeros(self.num_classes + 1, self.codebook_size, *self.grid_shape)
        spec = objective.backbone_spec(self.grid_shape, self.num_classes)
        return objective, OracleModel(spec, codebook, prior_logits)

    def spread_prior(self) -> Tensor:
        """A prior with unequal code probabilities, different per label (so guidance matters)."""
        g = torch.Generator().manual_seed(7)
        per_label = 1.5 * torch.randn(self.num_classes + 1, self.codebook_size, generator=g)
        return per_label[:, :, None, None].expand(-1, -1, *self.grid_shape).clone()

    def labels(self, batch: int | None = None) -> Tensor:
        return torch.arange(batch or self.batch_size) % self.num_classes

    def run(self, sampler: Sampler, objective: Objective, model: torch.nn.Module, **kwargs: Any) -> SampleResult:
        kwargs.setdefault("grid_shape", self.grid_shape)
        kwargs.setdefault("generator", torch.Generator().manual_seed(0))
        labels = kwargs.pop("labels", None)
        steps = kwargs.pop("steps", self.steps)
        with torch.no_grad():
            return sampler.sample(model, objective, self.labels() if labels is None else labels, steps, **kwargs)

    def assert_valid(self, result: SampleResult, batch: int) -> None:
        assert isinstance(result, SampleResult)
        assert result.indices.shape == (batch, *self.grid_shape), f"indices shape {tuple(result.indices.shape)}"
        assert result.indices.dtype == torch.int64, f"indices dtype {result.indices.dtype}"
        assert ((result.indices >= 0) & (result.indices < self.codebook_size)).all(), "indices outside [0, K)"

    # -- the contract -----------------------------------------------------------------------------

    def test_registered(self) -> None:
        self.check_registered()

    def test_declares_its_kind(self) -> None:
        sampler = self.make_sampler()
        assert isinstance(sampler, Sampler)
        assert sampler.state_kind in ("continuous", "masked"), f"state_kind {sampler.state_kind!r}"

    def test_nfe_is_a_count(self) -> None:
        sampler = self.make_sampler()
        counts = [sampler.nfe(n) for n in range(1, 11)]
        assert all(isinstance(c, int) and c >= 1 for c in counts), f"nfe(1..10) = {counts}"
        assert counts == sorted(counts), f"nfe must not decrease with steps: {counts}"

    def test_reaches_a_point_mass_target(self) -> None:
        sampler = self.make_sampler()
        target = tiny_batch(1, self.grid_shape, self.codebook_size, self.num_classes, seed=5)[0][0]
        prior = point_mass_prior(target, self.codebook_size, self.num_classes)
        objective, model = self.make_oracle(sampler, prior)
        for steps in (1, 2, self.steps):
            result = self.run(sampler, objective, model, steps=steps)
            self.assert_valid(result, self.batch_size)
            wrong = int((result.indices != target).sum())
            assert wrong == 0, f"{wrong} of {result.indices.numel()} codes miss a certain target ({steps} steps)"

    def test_samples_valid_indices(self) -> None:
        sampler = self.make_sampler()
        objective, model = self.make_oracle(sampler, self.spread_prior())
        for guidance, temperature in ((1.0, 1.0), (3.0, 0.5), (1.0, 2.0)):
            result = self.run(sampler, objective, model, guidance=guidance, temperature=temperature)
            self.assert_valid(result, self.batch_size)

    def test_samples_follow_the_posterior(self) -> None:
        sampler = self.make_sampler()
        prior = self.spread_prior()
        objective, model = self.make_oracle(sampler, prior)
        labels = torch.full((self.distribution_batch,), 1)
        result = self.run(sampler, objective, model, labels=labels, steps=self.distribution_steps)
        self.assert_valid(result, self.distribution_batch)
        freq = torch.bincount(result.indices.flatten(), minlength=self.codebook_size).float()
        freq = freq / freq.sum()
        expected = torch.softmax(prior[1, :, 0, 0], dim=0)
        tv = 0.5 * float((freq - expected).abs().sum())
        assert tv < self.tv_tolerance, (
            f"code frequencies {freq.tolist()} differ from the posterior {expected.tolist()} (TV {tv:.3f})"
        )

    def test_reported_nfe_matches_network_calls(self) -> None:
        sampler = self.make_sampler()
        for guidance in (1.0, 2.5):
            objective, model = self.make_oracle(sampler, self.spread_prior())
            result = self.run(sampler, objective, model, guidance=guidance)
            assert result.nfe == sampler.nfe(self.steps), f"result.nfe {result.nfe} != nfe({self.steps})"
            assert model.calls == result.nfe, (
                f"{model.calls} network calls for a reported nfe of {result.nfe} (guidance {guidance}; "
                "guidance doubles the batch, not the calls)"
            )

    def test_passes_guidance_and_temperature(self) -> None:
        sampler = self.make_sampler()
        objective, model = self.make_oracle(sampler, self.spread_prior())
        self.run(sampler, objective, model, guidance=2.5, temperature=0.7)
        calls = objective.predict_calls  # type: ignore[attr-defined]
        assert calls, "the sampler never called objective.predict"
        assert all(c.guidance == 2.5 and c.temperature == 0.7 for c in calls), (
            "guidance/temperature not passed to objective.predict: "
            f"{sorted({(c.guidance, c.temperature) for c in calls})}"
        )
        times = [t for c in calls for t in c.t]
        assert min(times) >= 0.0 and max(times) <= 1.0, f"times outside [0, 1]: {min(times)}..{max(times)}"
        assert calls[0].t[0] == 0.0, f"the first step starts at t = {calls[0].t[0]}, not 0"

    def test_hands_the_last_prediction_to_finalize(self) -> None:
        sampler = self.make_sampler()
        objective, model = self.make_oracle(sampler, self.spread_prior())
        self.run(sampler, objective, model)
        recorder = objective.recorder  # type: ignore[attr-defined]
        assert recorder.finalized_with, "the sampler never called objective.finalize(x, last)"
        assert recorder.finalized_with[-1] is recorder.last_prediction, (
            "objective.finalize(x, last) must get the last Prediction objective.predict returned (objectives "
            "keep no state between calls: e.g. an argmax final reads last.codes)"
        )

    def test_is_seeded(self) -> None:
        sampler = self.make_sampler()
        objective, model = self.make_oracle(sampler, self.spread_prior())

        def draw(seed: int) -> Tensor:
            return self.run(sampler, objective, model, generator=torch.Generator().manual_seed(seed)).indices

        assert torch.equal(draw(0), draw(0)), "same generator seed, different samples"
        assert not torch.equal(draw(0), draw(1)), "samples ignore the generator"

    def test_records_the_trajectory(self) -> None:
        sampler = self.make_sampler()
        objective, model = self.make_oracle(sampler, self.spread_prior())
        asked = (0.25, 0.75)
        result = self.run(sampler, objective, model, record_times=asked)
        assert len(result.trajectory) == len(asked), f"{len(result.trajectory)} snapshots for {len(asked)} times"
        for want, point in zip(asked, result.trajectory):
            assert abs(point.t - want) <= 1.0 / self.steps + 1e-6, f"snapshot at t={point.t} for {want}"
            assert point.entropy is not None, "a categorical objective's snapshots carry the posterior entropy"
            assert point.entropy.shape == (self.batch_size, *self.grid_shape)

    def test_rejects_the_other_state_kind(self) -> None:
        import pytest

        sampler = self.make_sampler()
        codebook = tiny_codebook(self.codebook_size, self.embed_dim)
        other = OracleObjective(codebook) if sampler.state_kind == "masked" else OracleMaskedObjective(codebook)
        with pytest.raises(IncompatibleError):
            sampler.check_compatible(other)
        sampler.check_compatible(self.make_oracle(sampler)[0])

    def test_config_round_trip(self) -> None:
        sampler = self.make_sampler()
        config = sampler.config()
        json.dumps(config)
        clone = type(sampler)(**config)
        assert clone.config() == config and clone.nfe(self.steps) == sampler.nfe(self.steps)
        objective, model = self.make_oracle(sampler, self.spread_prior())
        a = self.run(sampler, objective, model).indices
        b = self.run(clone, objective, model).indices
        assert torch.equal(a, b), "type(sampler)(**sampler.config()) samples differently"

    def test_unknown_option_is_rejected(self) -> None:
        import pytest

        with pytest.raises((ConfigError, TypeError)):
            self.make_sampler(not_an_option_of_anything=1)
        if self.component_name is not None:
            with pytest.raises(ConfigError):
                create("sampler", self.component_name, not_an_option_of_anything=1)

    def test_with_a_registered_objective(self) -> None:
        import pytest

        if self.objective_name is None:
            pytest.skip(f"{type(self).__name__} sets no objective_name: ran on oracles only")
        sampler = self.make_sampler()
        codebook = tiny_codebook(self.codebook_size, self.embed_dim)
        objective = create("objective", self.objective_name, codebook, **self.objective_options)
        sampler.check_compatible(objective)
        spec: BackboneSpec = objective.backbone_spec(self.grid_shape, self.num_classes)
        model = make_tiny_backbone(spec).eval()
        result = self.run(sampler, objective, model, guidance=2.0)
        self.assert_valid(result, self.batch_size)
        assert result.nfe == sampler.nfe(self.steps)
