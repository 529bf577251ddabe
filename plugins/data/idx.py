"""Reading and verifying the IDX files of (Fashion-)MNIST.

An IDX file is a big-endian header -- two zero bytes, a type code (``0x08`` = uint8), the number
of dimensions ``n`` -- then ``n`` big-endian uint32 sizes, then the data. Files may be gzipped.
Every file is checked against its published decompressed size and SHA-256 before it is parsed,
so a truncated, corrupt or foreign file is one :class:`~flowbench.errors.DataError` naming it.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from flowbench.errors import DataError

__all__ = ["Expected", "read_bytes", "verify", "parse_idx", "load_idx"]


@dataclass(frozen=True)
class Expected:
    """What a decompressed file must be: its size in bytes, SHA-256 and array shape."""

    size: int
    sha256: str
    shape: tuple[int, ...]


def read_bytes(path: Path) -> bytes:
    """The decompressed content of ``path`` (gzip if it ends in ``.gz``)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None
    if path.suffix != ".gz":
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as exc:
        raise DataError(f"{path} is truncated or not a valid gzip file ({exc}); delete it and fetch it again") from None


def verify(path: Path, data: bytes, expected: Expected) -> None:
    """Check decompressed size and SHA-256; raise :class:`DataError` naming ``path`` otherwise."""
    if len(data) != expected.size:
        what = "truncated" if len(data) < expected.size else "too long"
        raise DataError(
            f"{path} is {what}: {len(data)} bytes decompressed, expected {expected.size}; delete it and fetch it again"
        )
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected.sha256:
        raise DataError(
            f"{path} is corrupt: SHA-256 {digest[:16]}... does not match the published file "
            f"({expected.sha256[:16]}...); delete it and fetch it again"
        )


def parse_idx(path: Path, data: bytes) -> np.ndarray:
    """Parse IDX bytes into a uint8 array (a read-only view of ``data``)."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DataError(f"{path} is not an IDX file (bad magic number)")
    dtype_code, ndim = data[2], data[3]
    if dtype_code != 0x08:
        raise DataError(f"{path}: IDX type 0x{dtype_code:02x} is not supported (expected 0x08, uint8)")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path} is truncated inside its IDX header")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    count = int(np.prod(shape)) if shape else 0
    if len(data) - header != count:
        raise DataError(f"{path}: IDX header says {shape} ({count} bytes) but {len(data) - header} bytes follow")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def load_idx(path: Path, expected: Expected) -> np.ndarray:
    """Read, verify and parse one IDX file."""
    data = read_bytes(path)
    verify(path, data, expected)
    array = parse_idx(path, data)
    if array.shape != expected.shape:
        raise DataError(f"{path}: shape {array.shape}, expected {expected.shape}")
    return array
