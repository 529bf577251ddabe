"""Fixtures for the data tests: copies of the Debian Fashion-MNIST files in a temporary directory."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest
from flowbench.builtin.data import sources
from flowbench.builtin.data.fashion_mnist import FashionMNIST

from flowbench import hookimpl
from flowbench.plugins import register_plugin, unregister_plugin

DEBIAN = sources.DEBIAN_DIR
TEST_FILES = sources.FILES["test"]
N = 300


def debian_available() -> bool:
    return all((DEBIAN / f"{name}.gz").is_file() for name in TEST_FILES)


needs_debian = pytest.mark.skipif(
    not debian_available(), reason="needs the Debian package dataset-fashion-mnist (/usr/share/datasets/fashion-mnist)"
)


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """No FLOWBENCH_DATA, an empty Debian directory, a private cache and no reachable mirror."""
    monkeypatch.delenv("FLOWBENCH_DATA", raising=False)
    monkeypatch.setenv("FLOWBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(sources, "DEBIAN_DIR", tmp_path / "no-debian")
    monkeypatch.setattr(sources, "MIRRORS", ["http://127.0.0.1:9/"])  # discard port: refused at once
    return tmp_path


@pytest.fixture
def test_split_copy(tmp_path) -> Path:
    """A directory with the test split's two files, as ``.gz`` copies of the Debian ones."""
    if not debian_available():
        pytest.skip("needs the Debian package dataset-fashion-mnist")
    d = tmp_path / "fmnist"
    d.mkdir()
    for name in TEST_FILES:
        shutil.copy(DEBIAN / f"{name}.gz", d / f"{name}.gz")
    return d


def decompress_into(src_dir: Path, name: str, dest: Path) -> Path:
    """Write ``name`` uncompressed into ``dest`` (removing a ``.gz`` beside it); returns its path."""
    data = gzip.decompress((src_dir / f"{name}.gz").read_bytes())
    (dest / f"{name}.gz").unlink(missing_ok=True)
    out = dest / name
    out.write_bytes(data)
    return out


@pytest.fixture(autouse=True)
def one_torch_thread():
    """One torch thread: on the shared, oversubscribed CPU two threads spin-wait for each other."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class FashionMNISTHead(FashionMNIST):
    """The first ``N`` test images of Fashion-MNIST (a small real dataset for cache tests)."""

    def __init__(self, split="test", root=None, image_size=None):
        super().__init__(split, root=root, image_size=image_size)
        self.images, self.labels = self.images[:N], self.labels[:N]
        self.builds = getattr(type(self), "builds", 0)
        type(self).builds = self.builds + 1


class HeadPlugin:
    @hookimpl
    def register_datasets(self, register):
        register("fmnist-head", FashionMNISTHead)


@pytest.fixture
def head_dataset():
    plugin = HeadPlugin()
    register_plugin(plugin, name="test-fmnist-head")
    FashionMNISTHead.builds = 0
    yield "fmnist-head"
    unregister_plugin(plugin)
