"""Token caches: build, manifest, resume, the expect check, ensure_token_cache under concurrency."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
import torch

from flowbench.build import create
from flowbench.errors import DataError
from flowbench.tokens import TokenDataset, build_token_cache, cache_key, ensure_token_cache, index_dtype

from .conftest import FashionMNISTHead, N, debian_available

pytestmark = pytest.mark.skipif(not debian_available(), reason="needs the Debian package dataset-fashion-mnist")
TINY = {"patch": 2, "channels": 8, "channel_mult": [1, 2], "num_res_blocks": 1, "codebook_size": 16, "embed_dim": 4}


@pytest.fixture(scope="module")
def tok():
    torch.manual_seed(0)
    return create("tokenizer", "vqvae", pretrained=False, **TINY)


def test_build_and_read(tok, tmp_path):
    ds = FashionMNISTHead()
    out = build_token_cache(ds, tok, tmp_path / "c", dataset_name="fmnist-head", tokenizer_name="vqvae", shard_size=128)
    cache = TokenDataset(out, expect=tok.describe())
    m = cache.manifest
    assert (m["dataset"], m["split"], m["count"], m["codebook_size"]) == ("fmnist-head", "test", N, 16)
    assert m["grid_shape"] == [7, 7] and m["dtype"] == "int16" and m["num_classes"] == 10
    assert m["tokenizer"] == "vqvae" and m["tokenizer_describe"]["name"] == "vqvae"
    assert m["checkpoint_sha256"] == tok.describe()["checkpoint_sha256"]
    assert [s["count"] for s in m["shards"]] == [128, 128, 44]
    assert (cache.grid_shape, cache.codebook_size, cache.num_classes, len(cache)) == ((7, 7), 16, 10, N)
    expected = tok.encode(ds.batch(slice(0, N))[0])
    for i in (0, 127, 128, 299, -1):
        codes, label = cache[i]
        assert codes.dtype == torch.int64 and codes.shape == (7, 7)
        assert torch.equal(codes, expected[i]) and label == int(ds.labels[i])
    assert isinstance(np.load(out / "indices-00000.npy", mmap_mode="r"), np.memmap)
    with pytest.raises(IndexError):
        cache[N]


def test_expect_mismatch_names_what_differs(tok, tmp_path):
    out = build_token_cache(FashionMNISTHead(), tok, tmp_path / "c", dataset_name="d", tokenizer_name="vqvae")
    other = {**tok.describe(), "checkpoint_sha256": "0" * 64, "codebook_size": 512}
    with pytest.raises(DataError) as exc:
        TokenDataset(out, expect=other)
    msg = str(exc.value)
    assert "checkpoint_sha256" in msg and "codebook_size: cache 16 vs tokenizer 512" in msg and "\n" not in msg
    with pytest.raises(DataError, match="tokenizer name: cache 'vqvae' vs tokenizer 'llamagen-vq8'"):
        TokenDataset(out, expect={**tok.describe(), "name": "llamagen-vq8"})
    other_tok = create("tokenizer", "vqvae", pretrained=False, **TINY)
    with pytest.raises(DataError, match="holds a token cache of something else .*checkpoint_sha256"):
        build_token_cache(FashionMNISTHead(), other_tok, out, dataset_name="d", tokenizer_name="vqvae")


def test_resume_keeps_finished_shards(tok, tmp_path):
    ds = FashionMNISTHead()
    out = build_token_cache(ds, tok, tmp_path / "c", dataset_name="d", tokenizer_name="vqvae", shard_size=128)
    reference = TokenDataset(out)[250][0]
    # simulate an interruption during the last shard: no manifest, last shard missing
    (out / "manifest.json").unlink()
    (out / "indices-00002.npy").unlink()
    first = (out / "indices-00000.npy").stat().st_mtime_ns
    with pytest.raises(DataError, match="unfinished token cache"):
        TokenDataset(out)
    calls = []
    original = tok.encode
    tok.encode = lambda images: calls.append(len(images)) or original(images)
    try:
        build_token_cache(ds, tok, out, dataset_name="d", tokenizer_name="vqvae", shard_size=128)
    finally:
        del tok.encode
    assert calls == [44]  # only the missing shard was encoded
    assert (out / "indices-00000.npy").stat().st_mtime_ns == first
    assert torch.equal(TokenDataset(out)[250][0], reference)
    # a partial cache of something else is refused
    (out / "manifest.json").unlink()
    with pytest.raises(DataError, match="partial token cache of something else .*shard_size"):
        build_token_cache(ds, tok, out, dataset_name="d", tokenizer_name="vqvae", shard_size=100)


def test_corrupt_shard_is_named(tok, tmp_path):
    out = build_token_cache(FashionMNISTHead(), tok, tmp_path / "c", dataset_name="d", tokenizer_name="vqvae")
    shard = out / "indices-00000.npy"
    shard.write_bytes(shard.read_bytes()[:1000])
    with pytest.raises(DataError) as exc:
        TokenDataset(out)
    assert str(shard) in str(exc.value) and "rebuild" in str(exc.value)


def test_not_a_cache(tmp_path):
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(DataError, match="not a token cache"):
        TokenDataset(tmp_path)
    with pytest.raises(DataError, match="exists and is not a token cache"):
        build_token_cache(
            FashionMNISTHead(),
            create("tokenizer", "vqvae", pretrained=False, **TINY),
            tmp_path,
            dataset_name="d",
            tokenizer_name="vqvae",
        )


def test_index_dtype():
    assert index_dtype(16384) == np.int16 and index_dtype(32767) == np.int16 and index_dtype(32768) == np.int32


def test_ensure_token_cache_builds_once_under_concurrency(tok, head_dataset, tmp_path):
    results, errors = [], []

    def call():
        try:
            results.append(ensure_token_cache(head_dataset, "test", tok, "vqvae", cache_root=tmp_path, progress=False))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(results)) == 1
    path = results[0]
    assert path.parent == tmp_path / "tokens" and path.name.startswith("fmnist-head-test-vqvae-")
    assert FashionMNISTHead.builds == 1  # the dataset was built (and encoded) by one caller only
    assert len(TokenDataset(path, expect=tok.describe())) == N
    # found again without rebuilding; another tokenizer gets another cache
    assert ensure_token_cache(head_dataset, "test", tok, "vqvae", cache_root=tmp_path, progress=False) == path
    assert FashionMNISTHead.builds == 1
    other = create("tokenizer", "vqvae", pretrained=False, **TINY)
    assert cache_key(head_dataset, "test", other, "vqvae", None, 28) != path.name
    assert json.loads((path / "manifest.json").read_text())["image_size"] == 28


def test_file_datasets_go_through_a_loader(tmp_path):
    from PIL import Image

    from flowbench.build import build_dataset

    for i in range(5):
        (tmp_path / "imgs" / f"c{i % 2}").mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (20, 20), (40 * i, 0, 255 - 40 * i)).save(tmp_path / "imgs" / f"c{i % 2}" / f"{i}.png")
    ds = build_dataset("image-folder", "train", root=str(tmp_path / "imgs"), image_size=16)
    tok = create("tokenizer", "vqvae", pretrained=False, **{**TINY, "image_size": 16, "image_channels": 3})
    out = build_token_cache(ds, tok, tmp_path / "c", dataset_name="image-folder", tokenizer_name="vqvae", batch_size=2)
    cache = TokenDataset(out)
    assert len(cache) == 5 and cache.grid_shape == (4, 4) and cache.num_classes == 2
    assert [cache[i][1] for i in range(5)] == [label for _, label in ds.samples]
    assert torch.equal(cache[3][0], tok.encode(ds[3][0][None])[0])
