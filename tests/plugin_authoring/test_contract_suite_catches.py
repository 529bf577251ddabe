"""The contract suite fails for the right reasons: each check is run on a correct component (it
passes) and on one with a specific defect (that check fails, with its message).

The components are small and local: the example package's objective (imported from its source
tree), a reference Euler sampler, a reference jump sampler, the tiny backbone and a patch tokenizer.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from flowbench.categorical import nearest_code
from flowbench.interfaces import LossOutput, Sampler, SampleResult, Tokenizer, TrajectoryPoint
from flowbench.testing import (
    BackboneContract,
    ObjectiveContract,
    SamplerContract,
    TinyBackbone,
    TokenizerContract,
)

EXAMPLE_SRC = Path(__file__).resolve().parents[2] / "examples" / "flowbench-x0-rectified" / "src"


def run_check(contract: type, check: str) -> None:
    suite = contract()
    suite.setup_method()
    try:
        getattr(suite, check)()
    finally:
        suite.teardown_method()


def assert_fails(contract: type, check: str, match: str) -> None:
    with pytest.raises(AssertionError, match=match):
        run_check(contract, check)


# -- objectives -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def X0Rectified():
    sys.path.insert(0, str(EXAMPLE_SRC))
    try:
        from flowbench_x0_rectified.objective import X0Rectified

        yield X0Rectified
    finally:
        sys.path.remove(str(EXAMPLE_SRC))


def objective_suite(cls: type, **attrs) -> type:
    return ObjectiveContract.configure(component_class=cls, **attrs)


OBJECTIVE_DEFECTS = {
    # check -> (defect, expected message)
    "test_loss_is_seeded": ("global_rng", "same generator seed, different losses"),
    "test_temperature_is_where_declared": ("tempered", "temperature_on is None but temperature changes"),
    "test_loss_is_finite_and_differentiable": ("detached", "does not depend on the model"),
    "test_config_round_trip": ("forgetful", "computes a different loss"),
    "test_overfits_one_batch": ("unlearnable", "after 60 steps on one batch"),
    "test_finalize_round_trip": ("off_by_one", "must give back c"),
    "test_guidance_changes_the_prediction": ("unguided", "guidance 3 has no effect"),
    "test_finalize_keeps_no_state_between_calls": ("stateful", "keeps no state between calls"),
}


def broken_objective(base: type, defect: str) -> type:
    class Broken(base):
        def loss(self, model, indices, labels, generator=None):
            if defect == "global_rng":
                generator = None
            if defect == "unlearnable":  # a target that has nothing to do with the input
                noise = torch.randn(len(labels), self.embed_dim, *indices.shape[1:])
                out = model(noise, torch.rand(len(labels)), labels)
                return LossOutput((out - torch.randn_like(out)).pow(2).mean())
            out = super().loss(model, indices, labels, generator)
            if defect == "detached":
                out.loss = out.loss.detach()
            return out

        def predict(self, model, x, t, labels, *, guidance=1.0, temperature=1.0, need_entropy=False):
            if defect == "unguided":
                guidance = 1.0
            pred = super().predict(model, x, t, labels, guidance=guidance, need_entropy=need_entropy)
            if defect == "tempered":
                pred.velocity = pred.velocity / temperature
            if defect == "stateful":  # the old argmax final: remembered here, read in finalize
                self._remembered = torch.zeros(x.shape[0], *x.shape[2:], dtype=torch.long)
            return pred

        def finalize(self, x, last=None):
            if defect == "stateful" and getattr(self, "_remembered", None) is not None:
                return self._remembered
            out = super().finalize(x, last)
            return (out + 1) % self.codebook_size if defect == "off_by_one" else out

        def config(self):
            return {} if defect == "forgetful" else super().config()

    Broken.__name__ = f"Broken{defect.title().replace('_', '')}"
    return Broken


@pytest.mark.parametrize("check", sorted(OBJECTIVE_DEFECTS))
def test_objective_checks(X0Rectified, check):
    defect, message = OBJECTIVE_DEFECTS[check]
    options = {"weighting": "endpoint", "time_sampling": "uniform"}  # non-default: config must carry them
    run_check(objective_suite(X0Rectified, options=options), check)
    assert_fails(objective_suite(broken_objective(X0Rectified, defect), options=options), check, message)


def test_unregistered_name_fails_with_an_install_hint(X0Rectified):
    suite = objective_suite(X0Rectified, component_name="not-installed-anywhere")
    with pytest.raises(pytest.fail.Exception, match=r"pip install -e \."):
        run_check(suite, "test_registered")


# -- samplers ---------------------------------------------------------------------------------------


class ReferenceEuler(Sampler):
    """Explicit Euler on the uniform grid, as the docs describe it."""

    state_kind = "continuous"
    defect = ""

    def nfe(self, steps):
        return steps + (self.defect == "miscount")

    def sample(self, model, objective, labels, steps, *, grid_shape, guidance=1.0, temperature=1.0,
               generator=None, record_times=()):  # fmt: skip
        self.check_compatible(objective)
        recorded = [min(steps - 1, round(r * steps)) for r in record_times]
        entropies = {}
        x = objective.initial_state(len(labels), grid_shape, generator=None if self.defect == "unseeded" else generator)
        pred = None
        for i in range(steps - 1 if self.defect == "stops_early" else steps):
            t = torch.full((len(labels),), i / steps)
            tau = 1.0 if self.defect == "drops_temperature" else temperature
            need = i in recorded and self.defect != "no_entropy"
            pred = objective.predict(model, x, t, labels, guidance=guidance, temperature=tau, need_entropy=need)
            entropies[i] = pred.entropy
            x = x + pred.velocity / steps
        trajectory = [TrajectoryPoint(i / steps, entropies.get(i)) for i in recorded]
        last = None if self.defect == "drops_last" else pred
        return SampleResult(objective.finalize(x, last), self.nfe(steps), trajectory)


class ReferenceJump(Sampler):
    """Masked jump sampler: reveal with the objective's probability, draw from the posterior."""

    state_kind = "masked"
    defect = ""

    def nfe(self, steps):
        return steps

    def sample(self, model, objective, labels, steps, *, grid_shape, guidance=1.0, temperature=1.0,
               generator=None, record_times=()):  # fmt: skip
        self.check_compatible(objective)
        recorded = [min(steps - 1, round(r * steps)) for r in record_times]
        entropies = {}
        x = objective.initial_state(len(labels), grid_shape, generator=generator)
        for i in range(steps):
            t = torch.full((len(labels),), i / steps)
            pred = objective.predict(model, x, t, labels, guidance=guidance, temperature=temperature,
                                     need_entropy=i in recorded)  # fmt: skip
            entropies[i] = pred.entropy
            p = 1.0 if i == steps - 1 else objective.unmask_probability(i / steps, 1 / steps)
            jump = (x == objective.mask_index) & (torch.rand(x.shape, generator=generator) < p)
            if self.defect == "argmax":
                draw = pred.probs.argmax(-1)
            else:
                draw = torch.multinomial(pred.probs.reshape(-1, pred.probs.shape[-1]), 1, generator=generator)
                draw = draw.reshape(x.shape)
            x = torch.where(jump, draw, x)
        trajectory = [TrajectoryPoint(i / steps, entropies.get(i)) for i in recorded]
        return SampleResult(objective.finalize(x, pred), steps, trajectory)


def broken_sampler(base: type, defect: str) -> type:
    return type(f"{base.__name__}_{defect}", (base,), {"defect": defect})


SAMPLER_DEFECTS = [
    (ReferenceEuler, "drops_temperature", "test_passes_guidance_and_temperature", "not passed to objective.predict"),
    (ReferenceEuler, "miscount", "test_reported_nfe_matches_network_calls", "network calls for a reported nfe"),
    (ReferenceEuler, "unseeded", "test_is_seeded", "same generator seed, different samples"),
    (ReferenceEuler, "stops_early", "test_reaches_a_point_mass_target", "miss a certain target"),
    (ReferenceEuler, "no_entropy", "test_records_the_trajectory", "carry the posterior entropy"),
    (ReferenceEuler, "drops_last", "test_hands_the_last_prediction_to_finalize", "must get the last Prediction"),
    (ReferenceJump, "argmax", "test_samples_follow_the_posterior", "differ from the posterior"),
]


@pytest.mark.parametrize(("base", "defect", "check", "message"), SAMPLER_DEFECTS, ids=[d[1] for d in SAMPLER_DEFECTS])
def test_sampler_checks(base, defect, check, message):
    run_check(SamplerContract.configure(component_class=base), check)
    assert_fails(SamplerContract.configure(component_class=broken_sampler(base, defect)), check, message)


def test_reference_samplers_pass_the_whole_sampler_suite():
    for base in (ReferenceEuler, ReferenceJump):
        suite = SamplerContract.configure(component_class=base)
        for check in [n for n in dir(suite) if n.startswith("test_")]:
            if check not in ("test_registered", "test_with_a_registered_objective"):
                run_check(suite, check)


# -- backbones --------------------------------------------------------------------------------------


class BatchCoupled(TinyBackbone):
    def forward(self, x, t, y):
        out = super().forward(x, t, y)
        return out - out.mean(dim=0, keepdim=True)  # normalises across the batch


class WithUnusedLayer(TinyBackbone):
    def __init__(self, spec, **kw):
        super().__init__(spec, **kw)
        self.unused = nn.Linear(4, 4)


class LabelBlind(TinyBackbone):
    def forward(self, x, t, y):
        return super().forward(x, t, torch.zeros_like(y))


@pytest.mark.parametrize(
    ("broken", "check", "message"),
    [
        (BatchCoupled, "test_samples_are_independent", "batch mates change a sample's output"),
        (WithUnusedLayer, "test_every_parameter_gets_a_gradient", "parameters without a gradient: unused"),
        (LabelBlind, "test_is_conditioned_on_input_time_and_label", "output ignores the label"),
    ],
)
def test_backbone_checks(broken, check, message):
    run_check(BackboneContract.configure(component_class=TinyBackbone), check)
    assert_fails(BackboneContract.configure(component_class=broken), check, message)


# -- tokenizers -------------------------------------------------------------------------------------


class PatchVQ(Tokenizer):
    """8x8 grey images, 2x2 patches quantised against 16 fixed codes in [-1, 1]^4."""

    codebook_size, embed_dim, grid_shape, image_size, image_channels = 16, 4, (4, 4), 8, 1
    scale = 1.0

    def __init__(self, checkpoint=None):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.register_buffer("table", torch.rand(16, 4, generator=g) * 2 - 1)

    def codebook(self):
        return self.table

    def encode(self, images):
        patches = images.unfold(2, 2, 2).unfold(3, 2, 2).reshape(len(images), 4, 4, 4).permute(0, 3, 1, 2)
        return nearest_code(patches, self.table)

    def decode(self, indices):
        patches = self.scale * self.table[indices]  # (B, 4, 4, 4): last dim is the 2x2 patch
        return patches.reshape(len(indices), 4, 4, 2, 2).permute(0, 1, 3, 2, 4).reshape(len(indices), 1, 8, 8)


class LoudPatchVQ(PatchVQ):
    scale = 2.0  # decodes outside [-1, 1]


def test_tokenizer_checks():
    good = TokenizerContract.configure(component_class=PatchVQ, min_reencode_agreement=1.0)
    for check in ("test_declares_its_shapes", "test_codebook", "test_encode", "test_decode", "test_reencode_agreement",
                  "test_batch_independence", "test_describe_is_plain_data"):  # fmt: skip
        run_check(good, check)
    assert_fails(TokenizerContract.configure(component_class=LoudPatchVQ), "test_decode", r"must lie in \[-1, 1\]")
