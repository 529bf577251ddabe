"""The contract suite of :mod:`flowbench.testing`, run on every built-in component it covers.

Third-party plugins run the same classes (see docs/plugins.md); a built-in that stops meeting the
contract fails here. Built-ins are named explicitly: a missing one fails its ``test_registered``.
"""

from __future__ import annotations

import torch

from flowbench.testing import BackboneContract, ObjectiveContract, SamplerContract, TokenizerContract

# Objectives, each with its own default sampler (the sampling checks use it).
TestVfmObjective = ObjectiveContract.configure("vfm")
TestCfmObjective = ObjectiveContract.configure("cfm")
TestCfmEndpointObjective = ObjectiveContract.configure("cfm-endpoint")
TestDfmObjective = ObjectiveContract.configure("dfm")

# Objectives with a registered backbone instead of the tiny reference one. A one-block DiT memorises
# a batch more slowly than the reference conv net (measured: VFM 2.09 -> 1.19 in 60 steps, 0.99 in
# 150), so its bar is "clearly lower" (0.7x) after 100 steps.
_DIT_ON_OBJECTIVE = {
    "backbone_name": "dit-micro/1",
    "backbone_options": {"depth": 1, "width": 32, "heads": 2, "class_dropout_prob": 0.0},
    "overfit_steps": 100,
    "overfit_ratio": 0.7,
}
TestVfmObjectiveOnDiT = ObjectiveContract.configure("vfm", **_DIT_ON_OBJECTIVE)
TestDfmObjectiveOnDiT = ObjectiveContract.configure("dfm", **_DIT_ON_OBJECTIVE)

# Samplers, on the analytic oracles and with a registered objective of their state kind.
TestEulerSampler = SamplerContract.configure("euler", objective_name="cfm")
TestHeunSampler = SamplerContract.configure("heun", objective_name="vfm")
TestMidpointSampler = SamplerContract.configure("midpoint", objective_name="cfm-endpoint")
TestDfmEulerSampler = SamplerContract.configure("dfm-euler", objective_name="dfm")

# Backbones, tiny options (the registered sizes only change depth/width/heads/patch).
_TINY = {"depth": 1, "width": 32, "heads": 2}
TestDitMicro1Backbone = BackboneContract.configure("dit-micro/1", options=_TINY)
TestDitMicro2Backbone = BackboneContract.configure("dit-micro/2", options=_TINY)
TestDitTiny1Backbone = BackboneContract.configure("dit-tiny/1", options=_TINY)
TestDitS2Backbone = BackboneContract.configure("dit-s/2", options=_TINY)


class TestVqvaeTokenizer(TokenizerContract):
    """The shipped Fashion-MNIST VQ-VAE, on real test images.

    Measured re-encode agreement (codes of the first 16/32/48 test images): 0.876, 0.883, 0.851.
    """

    component_name = "vqvae"
    batch_size = 16
    min_reencode_agreement = 0.8

    def images(self, tokenizer, seed=0):
        from flowbench.build import build_dataset

        data = build_dataset("fashion-mnist", "test", image_size=tokenizer.image_size)
        return torch.stack([data[i][0] for i in range(self.batch_size)])
