"""Shared test setup: a private cache directory and a fresh plugin manager per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# DeepSpeed compiles a communication op on first start; keep it (and flowbench's caches) in one
# place that CI can keep between runs.
os.environ.setdefault("TORCH_EXTENSIONS_DIR", str(REPO / ".cache" / "torch_extensions"))
os.environ.setdefault("FLOWBENCH_CACHE", str(REPO / ".cache" / "flowbench"))


@pytest.fixture
def fresh_plugins(monkeypatch):
    """Reload plugins from entry points for one test, and again afterwards."""
    from flowbench import plugins

    plugins.reset()
    yield plugins
    plugins.reset()
