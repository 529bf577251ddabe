"""Reference features are computed once per (dataset, split, size, extractor + weights, count) and reused."""

import os

import pytest
import torch
from safetensors.torch import load_file, save_file

from flowbench.errors import ConfigError
from flowbench.metrics import ReferenceSpec, build_extractor, reference_features

SPEC = ReferenceSpec("fashion-mnist", "test", num_images=300)


def test_second_call_reuses_the_cache(tmp_path, random_classifier):
    fe = build_extractor("fmnist-classifier", str(random_classifier))
    first = reference_features(SPEC, fe, cache_dir=tmp_path / "c")
    assert first.computed and first.path.is_file() and first.num_images == 300
    stamp = first.path.stat().st_mtime_ns
    fresh = build_extractor("fmnist-classifier", str(random_classifier))
    again = reference_features(SPEC, fresh, cache_dir=tmp_path / "c")
    assert not again.computed
    assert again.path == first.path and again.path.stat().st_mtime_ns == stamp
    assert torch.equal(again.features, first.features)
    assert again.class_accuracy == pytest.approx(first.class_accuracy)
    assert again.key["weights_sha256"] == fe.weights_sha256


def test_changed_weights_or_count_invalidate(tmp_path, random_classifier):
    cache = tmp_path / "c"
    first = reference_features(SPEC, build_extractor("fmnist-classifier", str(random_classifier)), cache_dir=cache)
    # the same architecture with one weight changed: a different file hash, so a different entry
    state = load_file(str(random_classifier))
    state["head.bias"] = state["head.bias"] + 1.0
    changed = tmp_path / "changed.safetensors"
    save_file(state, str(changed))
    (tmp_path / "changed.json").write_text(random_classifier.with_suffix(".json").read_text())
    other = reference_features(SPEC, build_extractor("fmnist-classifier", str(changed)), cache_dir=cache)
    assert other.computed and other.path != first.path
    fewer = reference_features(
        ReferenceSpec("fashion-mnist", "test", num_images=200),
        build_extractor("fmnist-classifier", str(random_classifier)),
        cache_dir=cache,
    )
    assert fewer.computed and fewer.path != first.path
    assert torch.allclose(fewer.features, first.features[:200], atol=1e-5)


def test_corrupt_cache_file_is_recomputed(tmp_path, random_classifier):
    fe = build_extractor("fmnist-classifier", str(random_classifier))
    first = reference_features(SPEC, fe, cache_dir=tmp_path)
    first.path.write_bytes(b"not an npz file")
    again = reference_features(SPEC, fe, cache_dir=tmp_path)
    assert again.computed and torch.equal(again.features, first.features)


def test_default_cache_is_under_flowbench_cache(tmp_path, random_classifier, monkeypatch):
    monkeypatch.setenv("FLOWBENCH_CACHE", str(tmp_path / "fc"))
    ref = reference_features(SPEC, build_extractor("fmnist-classifier", str(random_classifier)))
    assert ref.path.parent == tmp_path / "fc" / "refstats"
    assert not any(name.endswith(".tmp") for name in os.listdir(ref.path.parent))


def test_bad_reference_count(tmp_path, random_classifier):
    fe = build_extractor("fmnist-classifier", str(random_classifier))
    with pytest.raises(ConfigError, match="reference images"):
        reference_features(ReferenceSpec("fashion-mnist", "test", num_images=20000), fe, cache_dir=tmp_path)
