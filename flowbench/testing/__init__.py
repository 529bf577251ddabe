"""Contract tests for flowbench plugins, and tiny components to run them with.

A plugin's test file subclasses the suite for its kind of component; pytest collects the inherited
``test_*`` methods::

    from flowbench.testing import ObjectiveContract
    from my_package.objective import MyObjective

    class TestMyObjective(ObjectiveContract):
        component_class = MyObjective
        component_name = "my-objective"

or builds the class from a registered name: ``TestMine = ObjectiveContract.configure("my-objective")``.

Suites: :class:`ObjectiveContract`, :class:`SamplerContract`, :class:`BackboneContract`,
:class:`TokenizerContract`. They need pytest (``pip install flowbench[dev]``) but no built-in plugin,
except where a check is about pairing with one (an objective's default sampler). Helpers:
:class:`TinyBackbone` (a real network small enough to overfit a batch on a CPU), :func:`tiny_codebook`,
:func:`tiny_batch`, and the analytic oracles of :mod:`flowbench.testing.oracle`.
See ``docs/plugins.md``.
"""

from flowbench.testing.backbone import TinyBackbone, make_tiny_backbone
from flowbench.testing.backbone_contract import BackboneContract
from flowbench.testing.base import ContractBase
from flowbench.testing.data import tiny_batch, tiny_codebook
from flowbench.testing.objective_contract import ObjectiveContract
from flowbench.testing.oracle import OracleMaskedObjective, OracleModel, OracleObjective, point_mass_prior
from flowbench.testing.sampler_contract import SamplerContract
from flowbench.testing.tokenizer_contract import TokenizerContract

__all__ = [
    "BackboneContract",
    "ContractBase",
    "ObjectiveContract",
    "OracleMaskedObjective",
    "OracleModel",
    "OracleObjective",
    "SamplerContract",
    "TinyBackbone",
    "TokenizerContract",
    "make_tiny_backbone",
    "point_mass_prior",
    "tiny_batch",
    "tiny_codebook",
]
