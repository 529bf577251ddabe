"""Our metrics equal torch_fidelity.calculate_metrics on the same images and extractor."""

import pytest
import torch_fidelity

from flowbench.metrics import UInt8Images, compute_scores, to_fidelity_uint8


def test_same_numbers_as_calculate_metrics(classifier, fmnist_test):
    images = fmnist_test[0]
    generated = to_fidelity_uint8(images[:300])
    real = to_fidelity_uint8(images[300:600])
    ours_g = classifier.extract(generated, ["features", "logits"])
    ours_r = classifier.extract(real, ["features"])
    ours = compute_scores(
        ours_g["features"], ours_r["features"], generated_logits=ours_g["logits"], score_name="x", kid_subsets=10
    )
    theirs = torch_fidelity.calculate_metrics(
        input1=UInt8Images(generated),
        input2=UInt8Images(real),
        cuda=False,
        isc=True,
        fid=True,
        kid=True,
        prc=True,
        feature_extractor="fmnist-classifier",
        kid_subsets=10,
        kid_subset_size=300,
        cache=False,
        save_cpu_ram=True,
        verbose=False,
    )
    assert ours.kid_subset_size == 300
    assert ours.fid == pytest.approx(theirs["frechet_inception_distance"], rel=1e-6)
    assert ours.kid_mean == pytest.approx(theirs["kernel_inception_distance_mean"], rel=1e-6)
    assert ours.kid_std == pytest.approx(theirs["kernel_inception_distance_std"], rel=1e-6)
    assert ours.precision == pytest.approx(theirs["precision"])
    assert ours.recall == pytest.approx(theirs["recall"])
    assert ours.score_mean == pytest.approx(theirs["inception_score_mean"], rel=1e-6)
    assert ours.fid > 0.0


def test_noised_images_score_monotonically_worse(classifier, fmnist_test):
    """Real images against real reference: FID grows with the noise added to one side."""
    import torch

    images = fmnist_test[0]
    ref = classifier.features(to_fidelity_uint8(images[1000:1600]))
    base = images[:600].float() / 127.5 - 1.0
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(base.shape, generator=g)
    fids = []
    for sigma in (0.0, 0.1, 0.3, 0.6):
        feats = classifier.features(to_fidelity_uint8((base + sigma * noise).clamp(-1, 1)))
        fids.append(compute_scores(feats, ref, kid_subsets=2).fid)
    assert fids == sorted(fids)
    assert fids[-1] > 5 * fids[0]
