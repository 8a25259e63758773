"""H.264 movies and contact sheets (io/movie.py, io/contact.py), the shared writers that
track's QC uses and review will: real ffmpeg, real decode."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from vfx_double.errors import ConfigError, MediaError
from vfx_double.io import movie
from vfx_double.io.contact import write_sheet
from vfx_double.io.movie import MovieWriter


def ramp(i: int, w: int = 64, h: int = 48) -> np.ndarray:
    """A frame whose left half brightens with ``i``: decodable, and frames differ."""
    frame = np.zeros((h, w, 3), np.uint8)
    frame[:, : w // 2] = 40 + 30 * i
    frame[:, w // 2:] = (0, 200, 0)
    return frame


def test_ntsc_rates_are_exact() -> None:
    assert movie._rate(23.976) == "24000/1001"
    assert movie._rate(29.97) == "30000/1001"
    assert movie._rate(25.0) == "25/1"


def test_frames_go_in_and_come_back_out(tmp_path: Path) -> None:
    path = tmp_path / "dailies" / "sh010.mp4"
    with MovieWriter(path, 24.0) as writer:
        for i in range(5):
            writer.add(ramp(i))
    assert writer.size == (64, 48) and writer.frames == 5
    cap = cv2.VideoCapture(str(path))
    got = []
    ok, frame = cap.read()
    while ok:
        got.append(frame[:, :, ::-1])
        ok, frame = cap.read()
    assert len(got) == 5 and got[0].shape == (48, 64, 3)
    # the left half brightens frame by frame, the right half stays green (OpenCV decodes
    # with its own matrix, so levels shift a little; the order and the hue do not)
    left = [int(g[:, :20].mean()) for g in got]
    assert all(b > a + 15 for a, b in zip(left, left[1:])), left
    r, g, b = (int(got[2][:, 40:, c].mean()) for c in range(3))
    assert g > 150 and g > r + 100 and g > b + 100, (r, g, b)
    assert [p.name for p in path.parent.iterdir()] == ["sh010.mp4"]


def _decode16(path: Path) -> tuple[str, list[np.ndarray]]:
    """ffmpeg's description of the movie's video stream, and its frames as 16-bit RGB."""
    import subprocess

    exe = movie._ffmpeg_exe()
    info = subprocess.run([exe, "-hide_banner", "-i", str(path)], capture_output=True,
                          text=True).stderr
    stream = next(ln for ln in info.splitlines() if "Video:" in ln)
    raw = subprocess.run([exe, "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt",
                          "rgb48le", "-"], capture_output=True, check=True).stdout
    frames = np.frombuffer(raw, np.uint16).reshape(-1, 48, 64, 3)
    return stream, list(frames)


def test_prores_422_hq_keeps_more_than_8_bits(tmp_path: Path) -> None:
    # a smooth 16-bit ramp: 8 bits would leave steps of 257, ProRes' 10 bits steps of ~64
    ramp16 = np.broadcast_to(np.linspace(20000, 21000, 64, dtype=np.float64)[None, :, None],
                             (48, 64, 3)).astype(np.uint16)
    path = tmp_path / "sh010.mov"
    with MovieWriter(path, 24.0, codec="prores") as writer:
        for _ in range(3):
            writer.add(ramp16)
    stream, frames = _decode16(path)
    assert "prores (HQ)" in stream and "yuv422p10le" in stream and "bt709" in stream, stream
    assert len(frames) == 3
    got = frames[1][24, 4:60, 1].astype(int)
    assert np.abs(got - ramp16[24, 4:60, 1]).max() < 200
    assert len(np.unique(got)) > 8  # more distinct levels than an 8-bit encode could keep
    with pytest.raises(MediaError, match="uint16"):
        MovieWriter(tmp_path / "b.mov", 24.0, codec="prores").add(ramp(0))
    with pytest.raises(ConfigError, match="one of h264, prores"):
        MovieWriter(tmp_path / "c.avi", 24.0, codec="mpeg2")


def test_bad_frames_and_sizes_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="even width and height"):
        MovieWriter(tmp_path / "odd.mp4", 24.0, (63, 48))
    writer = MovieWriter(tmp_path / "a.mp4", 24.0)
    writer.add(ramp(0))
    with pytest.raises(MediaError, match="64x48 RGB uint8"):
        writer.add(ramp(0, w=32, h=32))
    writer.abort()
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(MediaError, match="at least one frame"):
        MovieWriter(tmp_path / "empty.mp4", 24.0).close()


def test_contact_sheet_grid(tmp_path: Path) -> None:
    thumbs = [ramp(i, 40, 30) for i in range(7)]
    path = write_sheet(thumbs, tmp_path / "sheet.png", ["sh010 review", "7 frames"],
                       columns=3, gap=4)
    sheet = cv2.imread(str(path))[:, :, ::-1]
    assert sheet.shape[1] == 3 * 40 + 4 * 4
    bar = sheet.shape[0] - (3 * 30 + 4 * 4)
    assert bar > 0 and (sheet[:bar] > 200).any()  # the title lines are drawn
    # thumbnail 4 (row 1, column 1) is where the grid puts it
    y, x = bar + 4 + 30 + 4, 4 + 40 + 4
    assert (sheet[y:y + 30, x:x + 40] == thumbs[4]).all()
    with pytest.raises(MediaError, match="at least one frame"):
        write_sheet([], tmp_path / "none.png", ["x"], columns=3, gap=4)
