"""PNG grids and uint8 conversion (flowbench.images)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from flowbench.images import interleave_rows, save_image_grid, to_uint8


def test_to_uint8_maps_the_range_and_clamps():
    x = torch.tensor([-2.0, -1.0, 0.0, 0.5, 1.0, 3.0])
    assert to_uint8(x).tolist() == [0, 0, 128, 191, 255, 255]
    assert to_uint8(x).dtype == torch.uint8


def test_grey_grid_layout_and_pixels(tmp_path):
    images = torch.full((5, 1, 4, 4), -1.0)
    images[3] = 1.0
    path = save_image_grid(images, tmp_path / "g.png", nrow=2, padding=1)
    img = Image.open(path)
    assert img.mode == "L" and img.size == (2 * 5 + 1, 3 * 5 + 1)  # 2 columns, 3 rows
    a = np.asarray(img)
    assert a[1:5, 1:5].max() == 0 and (a[6:10, 6:10] == 255).all()  # image 0 black, image 3 white
    assert a[0].min() == 255  # white padding
    assert [p.name for p in tmp_path.iterdir()] == ["g.png"]  # no temporary file left behind


def test_rgb_grid_default_is_square(tmp_path):
    images = torch.zeros(9, 3, 2, 2)
    images[:, 0] = 1.0  # red
    img = Image.open(save_image_grid(images, tmp_path / "rgb.png", padding=0))
    assert img.mode == "RGB" and img.size == (6, 6)
    assert img.getpixel((0, 0)) == (255, 128, 128)


def test_interleave_and_bad_shapes(tmp_path):
    top, bottom = torch.zeros(4, 1, 2, 2), torch.ones(4, 1, 2, 2)
    rows = interleave_rows(top, bottom, nrow=2)
    assert [float(r.mean()) for r in rows] == [0, 0, 1, 1, 0, 0, 1, 1]
    with pytest.raises(ValueError, match="expects"):
        save_image_grid(torch.zeros(2, 2, 4, 4), tmp_path / "x.png")
