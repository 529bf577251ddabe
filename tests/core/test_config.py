"""Run configuration: TOML loading, --set overrides, validation messages."""

from __future__ import annotations

import pytest

from flowbench.config import RunConfig, load_config, parse_override, to_dict
from flowbench.errors import ConfigError


def test_defaults_validate():
    cfg = load_config()
    assert isinstance(cfg, RunConfig)
    assert cfg.train.lr > 0 and cfg.train.betas == (0.9, 0.999)


def test_toml_file_and_overrides(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text(
        'objective = "cfm"\n'
        'backbone = { name = "dit-xl/2", options = { class_dropout_prob = 0.2 } }\n'
        "[train]\nsteps = 123\nbetas = [0.8, 0.95]\n"
    )
    cfg = load_config(path, ["train.lr=3e-4", "objective.options.z_loss_weight=1e-4", "sample.sampler=heun"])
    assert cfg.objective.name == "cfm"
    assert cfg.objective.options == {"z_loss_weight": 1e-4}
    assert cfg.backbone.name == "dit-xl/2" and cfg.backbone.options["class_dropout_prob"] == 0.2
    assert cfg.train.steps == 123 and cfg.train.betas == (0.8, 0.95) and cfg.train.lr == 3e-4
    assert cfg.sample.sampler == "heun"


def test_resolved_config_round_trips(tmp_path):
    import tomli_w

    cfg = load_config(overrides=["objective.name=dfm", "train.seed=7", "data.tokens=/x"])
    path = tmp_path / "resolved.toml"
    path.write_text(tomli_w.dumps(to_dict(cfg)))
    assert load_config(path) == cfg


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.lrr=1", "unknown config key 'train.lrr'; did you mean 'train.lr'?"),
        ("trian.steps=1", "unknown config key 'trian'"),
        ("train.steps=abc", "train.steps must be an integer, got 'abc'"),
        ("train.steps=0", "train.steps must be > 0, got 0"),
        ("train.precision=fp16", "train.precision must be one of 'auto', 'fp32', 'bf16', got 'fp16'"),
        ("train.ema_decay=1.5", "train.ema_decay must be in [0, 1)"),
        ("train.zero_stage=5", "train.zero_stage must be 0, 1, 2 or 3"),
        ("train.betas=[0.9]", "train.betas must be a list of float, float"),
        ("sample.temperature=0", "sample.temperature must be > 0"),
        ("objective.nme=x", "unknown config key 'objective.nme'; did you mean 'objective.name'?"),
        ("novalue", "--set expects key=value"),
    ],
)
def test_bad_values_name_the_key_and_what_is_allowed(override, message):
    with pytest.raises(ConfigError) as info:
        load_config(overrides=[override])
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_unknown_key_in_file_lists_allowed_keys(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[train]\nstep = 5\n")
    with pytest.raises(ConfigError, match=r"did you mean 'train.steps'\?.*allowed keys: train.steps"):
        load_config(path)


def test_missing_and_invalid_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[train\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_config(bad)


def test_parse_override_literals():
    assert parse_override("a.b=1e-3") == (["a", "b"], 1e-3)
    assert parse_override("a=true") == (["a"], True)
    assert parse_override("a=[1, 2]") == (["a"], [1, 2])
    assert parse_override("a=dit-xl/2") == (["a"], "dit-xl/2")
    assert parse_override("a='quoted'") == (["a"], "quoted")
