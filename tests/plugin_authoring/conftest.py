"""Fixtures of the plugin-authoring tests (helpers in :mod:`plugin_install`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from plugin_install import EXAMPLE, install_into


@pytest.fixture(scope="session")
def example_site(tmp_path_factory) -> tuple[Path, Path]:
    """``(site, copy)``: the example package installed into ``site``; ``copy`` is its source copy."""
    root = tmp_path_factory.mktemp("x0_rectified")
    site = root / "site"
    copy = install_into(EXAMPLE, site, root)
    return site, copy
