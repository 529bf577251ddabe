"""SHA-256 of checkpoint files (provenance for results and token caches), cached per process."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import torch
from safetensors.torch import save

__all__ = ["file_sha256", "state_sha256"]

_cache: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes (memoised on path, size and modification time)."""
    p = Path(path).resolve()
    st = p.stat()
    key = (str(p), st.st_size, st.st_mtime_ns)
    if key not in _cache:
        h = hashlib.sha256()
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        _cache[key] = h.hexdigest()
    return _cache[key]


def state_sha256(state: dict[str, torch.Tensor]) -> str:
    """Hex SHA-256 of a state dict serialised as safetensors (for weights that have no file)."""
    buf = io.BytesIO(save({k: v.detach().contiguous().cpu() for k, v in sorted(state.items())}))
    return hashlib.sha256(buf.getvalue()).hexdigest()
