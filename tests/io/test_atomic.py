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


def test_a_frame_written_meanwhile_by_another_chunk_is_kept(tmp_path: Path, monkeypatch) -> None:
    # issue 11 case 5: two comps on the same frames failed with "pass overwrite=True",
    # once both, leaving 53 of 120 frames
    import numpy as np

    from vfx_double.io import streaming
    from vfx_double.io.exr import ExrImage, read_exr, write_exr

    def image(value: float) -> ExrImage:
        return ExrImage(pixels=np.full((4, 4, 3), value, np.float16), channels=("R", "G", "B"),
                        data_window=(0, 0, 4, 4), display_window=(0, 0, 4, 4), attributes=[])

    path = tmp_path / "comp.1001.exr"
    real = streaming.write_exr

    def racing(target, img, **kw):  # the other chunk links its frame first
        write_exr(target, image(0.25), overwrite=True)
        return real(target, img, **kw)

    monkeypatch.setattr(streaming, "write_exr", racing)
    assert streaming.write_frame(path, image(0.5)) is False
    assert read_exr(path).pixels[0, 0, 0] == 0.25
    monkeypatch.setattr(streaming, "write_exr", real)
    # complete: kept; broken: replaced
    assert streaming.write_frame(path, image(0.5)) is False
    path.write_bytes(b"half a frame")
    assert streaming.write_frame(path, image(0.5)) is True
    assert read_exr(path).pixels[0, 0, 0] == 0.5
