"""Atomic writes: complete files with the usual permissions, nothing left behind on failure."""

from __future__ import annotations

import os
import stat

import pytest

from flowbench.io import append_jsonl, atomic_open, read_jsonl, write_json


def test_atomic_write_has_umask_permissions(tmp_path):
    path = tmp_path / "a.json"
    write_json(path, {"x": 1})
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask


def test_failed_write_leaves_old_file_and_no_temp(tmp_path):
    path = tmp_path / "b.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError), atomic_open(path) as fh:
        fh.write("half")
        raise RuntimeError("crash mid-write")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["b.txt"]


def test_jsonl_drops_torn_last_line(tmp_path):
    path = tmp_path / "m.jsonl"
    append_jsonl(path, {"step": 1})
    append_jsonl(path, {"step": 2})
    with open(path, "a") as fh:
        fh.write('{"step": 3')  # a crash mid-line
    assert read_jsonl(path) == [{"step": 1}, {"step": 2}]
