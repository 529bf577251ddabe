"""Fashion-MNIST: the real files, where they are found, and how bad files fail."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import threading
from functools import partial

import numpy as np
import pytest
import torch
from flowbench.builtin.data import fashion_mnist, sources

from flowbench.build import build_dataset
from flowbench.errors import DataError

from .conftest import DEBIAN, TEST_FILES, debian_available, decompress_into

needs_debian = pytest.mark.skipif(not debian_available(), reason="needs the Debian package dataset-fashion-mnist")
IMAGES, LABELS = TEST_FILES


def one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert "\n" not in message, message
    return message


@needs_debian
def test_splits_from_the_debian_package(monkeypatch):
    monkeypatch.delenv("FLOWBENCH_DATA", raising=False)
    train = build_dataset("fashion-mnist", "train")
    test = build_dataset("fashion-mnist", "test")
    assert (len(train), len(test)) == (60000, 10000)
    assert train.files.images.parent == DEBIAN
    x, y = test[0]
    assert x.shape == (1, 28, 28) and x.dtype == torch.float32
    assert x.min() == -1.0 and x.max() == 1.0  # background 0 and full-intensity pixels
    assert y == 9 and test.classes[y] == "Ankle boot"  # the published first test label
    assert test.num_classes == 10 and len(test.classes) == 10
    counts = np.bincount(test.labels, minlength=10)
    assert (counts == 1000).all(), counts  # Fashion-MNIST's test split is balanced
    # decoded once per process: a second dataset shares the arrays
    assert build_dataset("fashion-mnist", "test").images is test.images


@needs_debian
def test_image_size_pads_or_resizes(monkeypatch):
    monkeypatch.delenv("FLOWBENCH_DATA", raising=False)
    native = build_dataset("fashion-mnist", "test")[3][0]
    padded = build_dataset("fashion-mnist", "test", image_size=32)[3][0]
    assert padded.shape == (1, 32, 32)
    assert torch.equal(padded[:, 2:30, 2:30], native) and (padded[:, :2] == -1).all()
    small = build_dataset("fashion-mnist", "test", image_size=14)[3][0]
    assert small.shape == (1, 14, 14) and small.min() >= -1 and small.max() <= 1
    resized = build_dataset("fashion-mnist", "test", image_size=32, fit="resize")[3][0]
    assert resized.shape == (1, 32, 32) and not torch.equal(resized[:, 2:30, 2:30], native)
    images, labels = build_dataset("fashion-mnist", "test").batch(slice(0, 5))
    assert images.shape == (5, 1, 28, 28) and torch.equal(images[3], native) and labels.dtype == torch.int64


def test_flowbench_data_overrides_and_plain_files(isolated, test_split_copy, monkeypatch):
    decompress_into(test_split_copy, LABELS, test_split_copy)  # mixed: labels plain, images .gz
    monkeypatch.setenv("FLOWBENCH_DATA", str(test_split_copy))
    ds = build_dataset("fashion-mnist", "test")
    assert ds.files.images == test_split_copy / f"{IMAGES}.gz"
    assert ds.files.labels == test_split_copy / LABELS
    assert len(ds) == 10000 and ds[0][1] == 9
    # FLOWBENCH_DATA may also be a parent holding fashion-mnist/
    monkeypatch.setenv("FLOWBENCH_DATA", str(test_split_copy.parent))
    test_split_copy.rename(test_split_copy.parent / "fashion-mnist")
    assert build_dataset("fashion-mnist", "test").files.labels.parent.name == "fashion-mnist"


def test_checksum_mismatch_names_the_file(isolated, test_split_copy):
    path = decompress_into(test_split_copy, LABELS, test_split_copy)
    data = bytearray(path.read_bytes())
    data[100] = (data[100] + 1) % 10  # a different, still valid label
    path.write_bytes(bytes(data))
    with pytest.raises(DataError) as exc:
        build_dataset("fashion-mnist", "test", root=str(test_split_copy))
    msg = one_line(exc)
    assert str(path) in msg and "SHA-256" in msg and "corrupt" in msg


def test_truncated_gzip_names_the_file(isolated, test_split_copy):
    path = test_split_copy / f"{IMAGES}.gz"
    path.write_bytes(path.read_bytes()[:100_000])
    with pytest.raises(DataError) as exc:
        build_dataset("fashion-mnist", "test", root=str(test_split_copy))
    msg = one_line(exc)
    assert str(path) in msg and "truncated" in msg


def test_truncated_plain_file_names_the_file(isolated, test_split_copy):
    path = decompress_into(test_split_copy, LABELS, test_split_copy)
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(DataError) as exc:
        build_dataset("fashion-mnist", "test", root=str(test_split_copy))
    msg = one_line(exc)
    assert str(path) in msg and "5000 bytes" in msg and "expected 10008" in msg


def test_corrupt_file_names_the_file(isolated, test_split_copy):
    path = test_split_copy / f"{LABELS}.gz"
    path.write_bytes(b"this is not gzip data at all" * 10)
    with pytest.raises(DataError) as exc:
        build_dataset("fashion-mnist", "test", root=str(test_split_copy))
    msg = one_line(exc)
    assert str(path) in msg and "gzip" in msg


def test_missing_files_say_how_to_get_them(isolated):
    empty = isolated / "empty"
    empty.mkdir()
    with pytest.raises(DataError) as exc:
        build_dataset("fashion-mnist", "test", root=str(empty))
    msg = one_line(exc)
    assert IMAGES in msg and str(empty) in msg and "apt-get install dataset-fashion-mnist" in msg


def test_no_files_and_no_network_is_one_clear_line(isolated):
    with pytest.raises(DataError) as exc:
        build_dataset("fashion-mnist", "test")
    msg = one_line(exc)
    assert "download failed" in msg and "127.0.0.1:9" in msg
    assert "apt-get install dataset-fashion-mnist" in msg and "FLOWBENCH_DATA" in msg


def test_unknown_split(isolated):
    with pytest.raises(DataError, match="no split 'validation'; splits: train, test"):
        build_dataset("fashion-mnist", "validation")


@pytest.fixture
def mirror(test_split_copy):
    """A local HTTP server serving the test split's ``.gz`` files (the Debian recompressed ones)."""
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(test_split_copy))
    handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


def test_download_checks_the_upstream_md5(isolated, mirror, monkeypatch):
    monkeypatch.setattr(sources, "MIRRORS", [mirror])
    with pytest.raises(DataError) as exc:
        build_dataset("fashion-mnist", "test")
    msg = one_line(exc)
    # the Debian files were recompressed, so their .gz MD5 is not the published one
    assert "MD5" in msg and sources.UPSTREAM_GZ_MD5[IMAGES] in msg
    assert not list((isolated / "cache").rglob("*.gz")), "a file failing its checksum must not be kept"


def test_download_into_the_cache_then_verify(isolated, mirror, test_split_copy, monkeypatch):
    # the served files' own MD5s stand in for the upstream ones; the decompressed SHA-256 is the real check
    md5 = {n: hashlib.md5((test_split_copy / f"{n}.gz").read_bytes()).hexdigest() for n in TEST_FILES}  # noqa: S324
    monkeypatch.setattr(sources, "MIRRORS", [mirror])
    monkeypatch.setattr(sources, "UPSTREAM_GZ_MD5", {**sources.UPSTREAM_GZ_MD5, **md5})
    ds = build_dataset("fashion-mnist", "test")
    cache = isolated / "cache" / "data" / "fashion-mnist"
    assert ds.files.images == cache / f"{IMAGES}.gz" and len(ds) == 10000
    assert np.array_equal(ds.labels[:3], np.frombuffer(gzip.decompress(ds.files.labels.read_bytes())[8:11], np.uint8))
    # the second time it is found in the cache: no mirror needed
    monkeypatch.setattr(sources, "MIRRORS", [])
    fashion_mnist._decoded.clear()
    assert build_dataset("fashion-mnist", "test").files.images == ds.files.images
