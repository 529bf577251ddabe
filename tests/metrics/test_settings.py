"""Evaluation settings, the extractor chosen for a dataset, and the fid evaluator's options."""

import dataclasses

import pytest

from flowbench.build import create
from flowbench.config import load_config
from flowbench.errors import ConfigError, UnknownNameError
from flowbench.interfaces import ImageDataset
from flowbench.metrics import EvalSettings, default_extractor_name
from flowbench.plugins import register_plugin, unregister_plugin


def test_settings_come_from_the_config_then_options_then_overrides():
    cfg = load_config(
        None,
        [
            "sample.steps=7",
            "sample.guidance=2.0",
            "eval.num_samples=300",
            "eval.feature_extractor=inception-v3",
            "eval.options.num_reference=500",
            "eval.options.seed=4",
        ],
    )
    s = EvalSettings.from_config(cfg, seed=9, batch_size=None)
    assert s.sample == cfg.sample and (s.sample.steps, s.sample.guidance) == (7, 2.0)
    assert (s.num_samples, s.feature_extractor, s.batch_size) == (300, "inception-v3", cfg.eval.batch_size)
    assert s.num_reference == 500 and s.seed == 9
    swept = EvalSettings.from_config(cfg, dataclasses.replace(cfg.sample, temperature=0.5))
    assert swept.sample.temperature == 0.5 and swept.sample.steps == 7


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["eval.options.bogus=1"], "unknown evaluation option 'bogus'"),
        (["eval.options.kid_subsets=0"], "kid subsets must be >= 1"),
        (["eval.options.steps=5"], r"sampling settings are the run's \[sample\]: sample.steps"),
    ],
)
def test_bad_settings(overrides, message):
    with pytest.raises(ConfigError, match=message):
        EvalSettings.from_config(load_config(None, overrides))


def test_fid_evaluator_rejects_unknown_options_before_training():
    cfg = load_config(None, [])
    with pytest.raises(ConfigError, match="unknown evaluation option 'nope'"):
        create("evaluator", "fid", cfg, nope=1)
    with pytest.raises(UnknownNameError, match="unknown feature extractor 'nope'"):
        create("evaluator", "fid", load_config(None, ["eval.feature_extractor=nope"]))
    with pytest.raises(UnknownNameError, match="unknown sampler 'nope'"):
        create("evaluator", "fid", load_config(None, ["sample.sampler=nope"]))


class Declares(ImageDataset):
    """A dataset class naming its own default feature extractor."""

    default_feature_extractor = "fmnist-classifier"

    def __len__(self):
        return 0

    def __getitem__(self, index):
        raise IndexError(index)


class DeclaringPlugin:
    from flowbench import hookimpl

    @staticmethod
    @hookimpl
    def register_datasets(register):
        register("declares-extractor", Declares)


def test_default_extractor_per_dataset():
    assert default_extractor_name("fashion-mnist") == "fmnist-classifier"
    assert default_extractor_name("fmnist") == "fmnist-classifier"  # an alias of the dataset
    assert default_extractor_name("image-folder") == "inception-v3"
    plugin = DeclaringPlugin()
    register_plugin(plugin, name="declares-extractor-test")
    try:
        assert default_extractor_name("declares-extractor") == "fmnist-classifier"
    finally:
        unregister_plugin(plugin)
