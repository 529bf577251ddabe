"""image-folder: an ImageNet-style tree made with PIL in a temporary directory."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from flowbench.build import build_dataset
from flowbench.errors import DataError


def write(path, size, colour, fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path, format=fmt)


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "imgs"
    write(root / "train" / "zebra" / "a.png", (40, 20), (255, 0, 0))
    write(root / "train" / "zebra" / "sub" / "b.jpg", (20, 40), (0, 255, 0))
    write(root / "train" / "ant" / "c.png", (16, 16), (0, 0, 255))
    (root / "train" / "ant" / "notes.txt").write_text("not an image")
    write(root / "val" / "ant" / "d.png", (16, 16), (10, 10, 10))
    write(root / "val" / "zebra" / "e.png", (16, 16), (10, 10, 10))
    return root


def test_labels_from_sorted_class_folders(tree):
    ds = build_dataset("image-folder", "train", root=str(tree), image_size=8)
    assert ds.classes == ["ant", "zebra"] and ds.num_classes == 2 and len(ds) == 3
    assert [label for _, label in ds.samples] == [0, 1, 1]
    x, y = ds[0]
    assert x.shape == (3, 8, 8) and x.dtype == torch.float32 and y == 0
    assert torch.allclose(x[2], torch.ones(8, 8)) and torch.allclose(x[0], -torch.ones(8, 8))  # pure blue


def test_resize_and_center_crop(tmp_path):
    img = np.zeros((20, 40, 3), dtype=np.uint8)  # 40 wide, 20 high: left half black, right half white
    img[:, 20:] = 255
    (tmp_path / "c").mkdir()
    Image.fromarray(img).save(tmp_path / "c" / "x.png")
    ds = build_dataset("image-folder", "train", root=str(tmp_path), image_size=10)
    x, _ = ds[0]
    assert x.shape == (3, 10, 10)
    assert x[:, :, 0].max() < -0.9 and x[:, :, -1].min() > 0.9  # the centre crop keeps both halves


def test_split_folder_is_used_when_present(tree):
    assert len(build_dataset("image-folder", "val", root=str(tree), image_size=8)) == 2
    # no such split folder: the root itself is the tree
    flat = build_dataset("image-folder", "test", root=str(tree / "train"), image_size=8)
    assert len(flat) == 3 and flat.root == tree / "train"


def test_default_size_is_256(tree):
    assert build_dataset("image-folder", "val", root=str(tree))[0][0].shape == (3, 256, 256)


def test_corrupt_image_names_the_file(tree):
    bad = tree / "train" / "ant" / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    ds = build_dataset("image-folder", "train", root=str(tree), image_size=8)
    index = [p for p, _ in ds.samples].index(bad)
    with pytest.raises(DataError) as exc:
        ds[index]
    assert str(bad) in str(exc.value) and "\n" not in str(exc.value)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: None, "needs a root directory"),
        (lambda p: str(p / "missing"), "is not a directory"),
        (lambda p: (p / "empty").mkdir() or str(p / "empty"), "no class folders"),
        (lambda p: (p / "e" / "cls").mkdir(parents=True) or str(p / "e"), "no images"),
    ],
)
def test_bad_roots_are_one_line(tmp_path, make, message):
    with pytest.raises(DataError, match=message) as exc:
        build_dataset("image-folder", "train", root=make(tmp_path), image_size=8)
    assert "\n" not in str(exc.value)
