"""Temp files of killed writers are swept when a version is continued (issue 11)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from vfx_double.io import atomic


def test_sweep_removes_only_dead_writers_temp_files(tmp_path: Path) -> None:
    dead = _finished_pid()
    stale = tmp_path / f".face.1001.tmp-{dead}-0.exr"
    mine = tmp_path / f".face.1002.tmp-{os.getpid()}-0.exr"
    frame = tmp_path / "face.1003.exr"
    for path in (stale, mine, frame):
        path.write_bytes(b"x")
    assert atomic.sweep_stale(tmp_path) == [stale]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([mine.name, frame.name])


def _finished_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid
