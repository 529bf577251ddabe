"""Model weights on disk, read safely: checkpoint files, strict state-dict loading, SHA-256 provenance.

* :func:`read_checkpoint`: the state dict of a torch checkpoint (``torch.load(..., weights_only=True)``,
  with ``argparse.Namespace`` allowed: training scripts store their arguments beside the weights) or of
  a flat safetensors file, under a given key of the checkpoint dict (or the bare state dict);
* :func:`load_strict`: load a state dict into a module key for key and shape for shape, or fail with
  one :class:`~flowbench.errors.CheckpointError` naming the missing, unexpected and mismatched keys;
* :func:`file_sha256` (memoised on path, size and modification time) and :func:`state_sha256` (the
  hash of weights that have no file), recorded with every result that depends on a checkpoint.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import pickle
import zipfile
from pathlib import Path

import torch
from torch import Tensor, nn

from flowbench.errors import CheckpointError

__all__ = ["file_sha256", "state_sha256", "read_checkpoint", "load_strict"]

_sha_cache: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes (memoised on path, size and modification time)."""
    p = Path(path).resolve()
    st = p.stat()
    key = (str(p), st.st_size, st.st_mtime_ns)
    if key not in _sha_cache:
        h = hashlib.sha256()
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        _sha_cache[key] = h.hexdigest()
    return _sha_cache[key]


def state_sha256(state: dict[str, Tensor]) -> str:
    """Hex SHA-256 of a state dict serialised as safetensors (for weights that have no file)."""
    from safetensors.torch import save

    buf = io.BytesIO(save({k: v.detach().contiguous().cpu() for k, v in sorted(state.items())}))
    return hashlib.sha256(buf.getvalue()).hexdigest()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _read_safetensors(path: Path) -> dict[str, Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path} is not a readable safetensors file ({exc})") from None


def _read_torch(path: Path, key: str) -> object:
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if not zipfile.is_zipfile(path):
            raise CheckpointError(f"{path} is not a readable torch checkpoint ({_first_line(exc)})") from None
        raise CheckpointError(
            f"{path} cannot be loaded with weights_only=True ({_first_line(exc)}); if you trust the file, keep "
            f"only its weights: torch.save({{{key!r}: torch.load(p, weights_only=False)[{key!r}]}}, 'weights.pt')"
        ) from None
    except (RuntimeError, OSError, EOFError, ValueError) as exc:
        raise CheckpointError(f"{path} is not a readable torch checkpoint ({_first_line(exc)})") from None


def read_checkpoint(path: Path, key: str, ignored_prefixes: tuple[str, ...] = ()) -> dict[str, Tensor]:
    """The state dict stored under ``key`` in a torch checkpoint (or a bare state dict, or a flat
    safetensors file), without the keys starting with ``ignored_prefixes``."""
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    if path.suffix == ".safetensors":
        state = _read_safetensors(path)
    else:
        obj = _read_torch(path, key)
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            state = obj[key]
        elif isinstance(obj, dict) and obj and all(isinstance(v, Tensor) for v in obj.values()):
            state = obj  # a bare state dict
        else:
            found = ", ".join(sorted(map(str, obj))[:6]) if isinstance(obj, dict) else type(obj).__name__
            raise CheckpointError(f"{path} has no {key!r} entry holding a state dict (found: {found})")
    return {k: v for k, v in state.items() if not k.startswith(ignored_prefixes)}


def load_strict(model: nn.Module, state: dict[str, Tensor], source: Path | str) -> None:
    """Load ``state`` into ``model``; any missing/unexpected key or shape mismatch is one error."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [
        f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    if missing or unexpected or shapes:
        parts = []
        for label, items in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", shapes)):
            if items:
                more = f" (+{len(items) - 3} more)" if len(items) > 3 else ""
                parts.append(f"{len(items)} {label}: {', '.join(items[:3])}{more}")
        raise CheckpointError(f"{source} does not match the architecture: {'; '.join(parts)}")
    model.load_state_dict(state, strict=True)
