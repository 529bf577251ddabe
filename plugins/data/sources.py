"""Where the Fashion-MNIST files come from: local directories first, then a verified download.

Search order for each split's two files (``<name>`` or ``<name>.gz``):

1. ``root`` if given (and only there);
2. ``$FLOWBENCH_DATA/fashion-mnist/`` then ``$FLOWBENCH_DATA/``;
3. ``/usr/share/datasets/fashion-mnist/`` (Debian package ``dataset-fashion-mnist``);
4. ``~/.cache/flowbench/data/fashion-mnist/`` (or ``$FLOWBENCH_CACHE/data/fashion-mnist/``);
5. a download of the official files into that cache, checked against the upstream ``.gz`` MD5 and
   the decompressed SHA-256.

The first directory holding a file is used; a bad file there is an error, not a reason to look
further, so a user is never silently handed different data than they pointed at.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from flowbench.builtin.data.idx import Expected

from flowbench.errors import DataError
from flowbench.io import atomic_path

__all__ = [
    "FILES",
    "EXPECTED",
    "UPSTREAM_GZ_MD5",
    "MIRRORS",
    "DEBIAN_DIR",
    "SplitFiles",
    "search_dirs",
    "cache_dir",
    "locate",
    "download",
]

#: Split -> (images file, labels file), without ``.gz``.
FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

#: Decompressed size and SHA-256 of the published files (identical in the Debian package).
EXPECTED: dict[str, Expected] = {
    "train-images-idx3-ubyte": Expected(
        47040016, "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888", (60000, 28, 28)
    ),
    "train-labels-idx1-ubyte": Expected(
        60008, "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9", (60000,)
    ),
    "t10k-images-idx3-ubyte": Expected(
        7840016, "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b", (10000, 28, 28)
    ),
    "t10k-labels-idx1-ubyte": Expected(
        10008, "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34", (10000,)
    ),
}

#: MD5 of the upstream ``.gz`` files (as torchvision lists them); checked on download only, since
#: the Debian package recompressed its copies.
UPSTREAM_GZ_MD5: dict[str, str] = {
    "train-images-idx3-ubyte": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte": "bb300cfdad3c16e7a12a480ee83cd310",
}

#: Base URLs tried in order for a download.
MIRRORS: list[str] = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
HOW_TO_GET = (
    "install them with `apt-get install dataset-fashion-mnist` or set FLOWBENCH_DATA to a directory "
    "holding the four *-idx?-ubyte[.gz] files"
)


@dataclass(frozen=True)
class SplitFiles:
    """The two files of one split."""

    images: Path
    labels: Path


def cache_dir() -> Path:
    """Per-user download cache: ``$FLOWBENCH_CACHE/data/fashion-mnist`` or ``~/.cache/flowbench/...``."""
    base = os.environ.get("FLOWBENCH_CACHE")
    root = Path(base).expanduser() if base else Path.home() / ".cache" / "flowbench"
    return root / "data" / "fashion-mnist"


def search_dirs(root: str | Path | None = None) -> list[Path]:
    """Directories searched, in order (see module doc)."""
    if root is not None:
        return [Path(root).expanduser()]
    dirs: list[Path] = []
    env = os.environ.get("FLOWBENCH_DATA")
    if env:
        base = Path(env).expanduser()
        dirs += [base / "fashion-mnist", base]
    return [*dirs, DEBIAN_DIR, cache_dir()]


def _find(name: str, dirs: list[Path]) -> Path | None:
    for d in dirs:
        for candidate in (d / name, d / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    return None


def locate(split: str, root: str | Path | None = None, download_missing: bool = True) -> SplitFiles:
    """Paths of ``split``'s files, downloading them into the cache if no directory has them."""
    if split not in FILES:
        raise DataError(f"fashion-mnist has no split {split!r}; splits: {', '.join(FILES)}")
    dirs = search_dirs(root)
    found = [_find(name, dirs) for name in FILES[split]]
    missing = [name for name, path in zip(FILES[split], found) if path is None]
    if missing:
        where = ", ".join(str(d) for d in dirs)
        if root is not None or not download_missing:
            raise DataError(f"fashion-mnist: {', '.join(missing)}[.gz] not found in {where}; {HOW_TO_GET}")
        try:
            for name in missing:
                download(name, cache_dir())
        except DataError as exc:
            raise DataError(
                f"fashion-mnist files not found in {where} and the download failed ({exc}); {HOW_TO_GET}"
            ) from None
        found = [_find(name, dirs) for name in FILES[split]]
    images, labels = found
    assert images is not None and labels is not None
    return SplitFiles(images, labels)


def download(name: str, dest: Path, timeout: float = 15.0) -> Path:
    """Fetch ``name.gz`` from the first mirror that answers; verify it; return its path."""
    target = dest / f"{name}.gz"
    errors = []
    for base in MIRRORS:
        url = base.rstrip("/") + f"/{name}.gz"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - fixed https/http URLs
                payload = response.read()
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            errors.append(f"{url}: {reason}")
            continue
        md5 = hashlib.md5(payload).hexdigest()  # noqa: S324 - published checksum
        if md5 != UPSTREAM_GZ_MD5[name]:
            errors.append(f"{url}: MD5 {md5} does not match the published {UPSTREAM_GZ_MD5[name]}")
            continue
        with atomic_path(target) as tmp:
            tmp.write_bytes(payload)
        return target
    raise DataError("; ".join(errors) or "no mirror configured")
