"""QC output: overlay drawing, the H.264 preview through ffmpeg, and the contact sheet."""

from __future__ import annotations

import os
import stat
import subprocess
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from vfx_double.errors import MediaError, TrackingError, VfxDoubleError
from vfx_double.io import movie
from vfx_double.track import qc
from vfx_double.track.preview import PreviewWriter
from vfx_double.track.qc import QcFrame, contact_sheet, draw_overlay


def face_points(cx: float, cy: float, r: float) -> np.ndarray:
    """A plausible iBUG 68 layout: jaw, brows, nose, eyes, mouth around (cx, cy)."""
    p = np.zeros((68, 2))
    k = np.arange(17) / 16
    p[0:17] = np.c_[cx - r + 2 * r * k, cy + 0.9 * r * np.sin(np.pi * k)]
    for first, sign in ((17, -1), (22, 1)):
        p[first:first + 5] = np.c_[cx + sign * np.linspace(0.75, 0.15, 5) * r,
                                   np.full(5, cy - 0.5 * r)]
    p[27:31] = np.c_[np.full(4, cx), cy + np.linspace(-0.4, 0.1, 4) * r]
    p[31:36] = np.c_[cx + np.linspace(-0.2, 0.2, 5) * r, np.full(5, cy + 0.2 * r)]
    ring6 = np.linspace(0, 2 * np.pi, 6, endpoint=False)
    for first, ex in ((36, -0.4), (42, 0.4)):
        p[first:first + 6] = np.c_[cx + ex * r + 0.15 * r * np.cos(ring6),
                                   cy - 0.25 * r + 0.07 * r * np.sin(ring6)]
    for first, n, rx, ry in ((48, 12, 0.35, 0.15), (60, 8, 0.25, 0.06)):
        a = np.linspace(0, 2 * np.pi, n, endpoint=False)
        p[first:first + n] = np.c_[cx + rx * r * np.cos(a), cy + 0.5 * r + ry * r * np.sin(a)]
    return p


def make_frame(frame: int = 1001, w: int = 512, h: int = 512, face: bool = True,
               **kwargs: object) -> QcFrame:
    image = np.full((h, w, 3), 90, np.uint8)
    # a gradient so scaled frames are not flat, and frames differ from each other
    image[..., 1] = (np.arange(w) * 200 // w).astype(np.uint8)[None, :]
    image[..., 2] = (frame * 7) % 200
    if not face:
        return QcFrame(frame, image, None, **kwargs)
    cx, cy, r = 0.58 * w, 0.6 * h, 0.16 * min(w, h)
    pts = face_points(cx, cy, r)
    box = (cx - 1.2 * r, cy - 1.0 * r, cx + 1.2 * r, cy + 1.2 * r)
    kwargs.setdefault("confidence", 0.93)
    return QcFrame(frame, image, pts, raw_points=pts + 1.5, box=box, **kwargs)


def no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if ".tmp-" in p.name]


def probe(path: Path) -> str:
    # ffmpeg with no output file exits 1 but still prints the input's streams
    result = subprocess.run([movie._ffmpeg_exe(), "-hide_banner", "-i", str(path)],
                            check=False, capture_output=True, text=True)
    return result.stderr


# ---------------------------------------------------------------- overlay


def test_overlay_draws_near_landmarks_and_nowhere_far() -> None:
    qcf = make_frame(others=[(20.0, 330.0, 110.0, 430.0)])
    before = qcf.image.copy()
    out = draw_overlay(qcf, label="SH010 mediapipe")
    assert out.shape == before.shape and out.dtype == np.uint8
    assert np.array_equal(qcf.image, before), "the input image must not be drawn on"
    changed = (out != before).any(axis=2)
    for x, y in np.round(qcf.points).astype(int):
        assert changed[y - 2:y + 3, x - 2:x + 3].any(), f"nothing drawn at landmark ({x}, {y})"
    assert changed[int(qcf.box[3]), int(qcf.box[0]):int(qcf.box[2])].mean() > 0.8  # box edge
    assert changed[430, 20:110].mean() > 0.8  # the ignored face's box
    # far from every drawing: right of the box's bottom, and the top-right corner
    assert not changed[470:, 440:].any()
    assert not changed[:100, 440:].any()


def test_landmark_dots_are_drawn_without_their_lines() -> None:
    # one NaN jaw point drops the jaw polyline; the other 16 jaw points keep their dots
    qcf = make_frame()
    qcf.points[0] = np.nan
    qcf.raw_points = None
    out = draw_overlay(qcf)
    jaw_rgb = np.array([0, 210, 255])
    for x, y in np.round(qcf.points[1:17]).astype(int):
        patch = out[y - 1:y + 2, x - 1:x + 2].astype(int)
        assert (np.abs(patch - jaw_rgb).max(axis=2) < 40).sum() >= 5, f"no dot at ({x}, {y})"
    # halfway between two jaw points, where only the line would be, nothing is drawn
    mid = np.round((qcf.points[8] + qcf.points[9]) / 2).astype(int)
    assert np.array_equal(out[mid[1], mid[0]], qcf.image[mid[1], mid[0]])


def test_raw_points_are_faint_grey_rings() -> None:
    qcf = make_frame()
    qcf.raw_points = qcf.points + (0.0, 150.0)  # well below the face, clear of other drawing
    out = draw_overlay(qcf).astype(int)
    changed = (out != qcf.image).any(axis=2)
    for x, y in np.round(qcf.raw_points[:5]).astype(int):
        ring = out[y - 4:y + 5, x - 4:x + 5]
        assert changed[y - 4:y + 5, x - 4:x + 5].any()
        assert (ring.max(axis=2) - ring.min(axis=2)).min() < 30  # some grey pixel, no colour
        assert not changed[y, x], "a ring, not a filled dot"


def test_overlay_colours_performer_green_and_ignored_grey() -> None:
    qcf = make_frame(others=[(20.0, 330.0, 110.0, 430.0)])
    out = draw_overlay(qcf).astype(int)
    y_bottom = round(qcf.box[3])
    edge = out[y_bottom - 1:y_bottom + 2, int(qcf.box[0]) + 5:int(qcf.box[2]) - 5]
    assert ((edge[..., 1] > 180) & (edge[..., 0] < 100) & (edge[..., 2] < 120)).any()
    grey = out[429:432, 30:100]
    assert ((abs(grey[..., 0] - 150) < 12) & (abs(grey[..., 1] - grey[..., 2]) < 12)).any()


def red_pixels(img: np.ndarray) -> np.ndarray:
    img = img.astype(int)
    return (img[..., 0] > 190) & (img[..., 1] < 90) & (img[..., 2] < 90)


@pytest.mark.parametrize("flags", [["no_face"], ["no face"], []])
def test_no_face_shows_red_flag_in_corner_and_no_points(flags: list[str]) -> None:
    qcf = make_frame(face=False, flags=flags)
    assert qcf.shown_flags() == ["no face"]
    out = draw_overlay(qcf)
    h, w = out.shape[:2]
    assert red_pixels(out[: h // 5, : w // 3]).sum() > 20
    assert not red_pixels(out[h // 5:]).any()
    # nothing but the corner text: the rest of the frame is untouched
    assert np.array_equal(out[h // 5:], qcf.image[h // 5:])
    assert np.array_equal(out[:, w // 2:], qcf.image[:, w // 2:])


def test_interpolated_flag_is_orange_not_red() -> None:
    out = draw_overlay(make_frame(flags=["interpolated"])).astype(int)
    corner = out[:100, :200]
    orange = (corner[..., 0] > 190) & (corner[..., 1] > 100) & (corner[..., 1] < 190) & (
        corner[..., 2] < 60)
    assert orange.sum() > 20
    assert not red_pixels(corner).any()


def corner_panel_height(qcf: QcFrame) -> int:
    out = draw_overlay(qcf)
    darkened = (out[:, 1].astype(int) < qcf.image[:, 1].astype(int) - 20).any(axis=1)
    return int(np.flatnonzero(darkened).max()) + 1


def test_text_scales_with_image_size() -> None:
    small = corner_panel_height(make_frame(face=False, w=512, h=512))
    large = corner_panel_height(make_frame(face=False, w=3840, h=2160))
    assert 20 < small < 100
    assert large > 4 * small


def test_bad_inputs_raise_one_line_errors() -> None:
    image = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(MediaError, match="uint8"):
        QcFrame(1, image.astype(np.float32), None)
    with pytest.raises(TrackingError, match=r"\(68, 2\)"):
        QcFrame(1, image, np.zeros((5, 2)))


# ---------------------------------------------------------------- preview


def test_preview_is_h264_mp4_with_every_frame_and_even_size(tmp_path: Path) -> None:
    out = tmp_path / "qc" / "sh010_track.mp4"
    frames = [make_frame(1001 + i, w=203, h=151, face=i % 4 != 3,
                         flags=["interpolated"] if i == 5 else []) for i in range(10)]
    with PreviewWriter(out, fps=24.0, width=161, label="SH010") as writer:
        for f in frames:
            writer.add(f)
    assert writer.size is not None and writer.size[0] == 160
    assert writer.size[0] % 2 == 0 and writer.size[1] % 2 == 0
    assert out.is_file() and no_temp_files(tmp_path)
    info = probe(out)
    assert "Video: h264" in info and "yuv420p(tv, bt709" in info, info
    cap = cv2.VideoCapture(str(out))
    try:
        size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        count = 0
        while cap.read()[0]:
            count += 1
    finally:
        cap.release()
    assert size == writer.size
    assert count == 10


def test_preview_without_frames_is_an_error_and_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="at least one frame"), \
            PreviewWriter(tmp_path / "empty.mp4", fps=25):
        pass
    assert list(tmp_path.iterdir()) == []


def test_preview_error_in_callers_loop_leaves_no_partial_file(tmp_path: Path) -> None:
    out = tmp_path / "qc.mp4"
    with pytest.raises(KeyError):
        with PreviewWriter(out, fps=24, width=64) as writer:
            # feed frames until ffmpeg has opened its temp output (it starts up asynchronously)
            deadline = time.monotonic() + 5
            while no_temp_files(tmp_path) and time.monotonic() < deadline:
                writer.add(make_frame(1001 + writer.frames, w=64, h=48))
                time.sleep(0.01)
            assert not no_temp_files(tmp_path), "ffmpeg never started writing"
            raise KeyError("the tracker failed mid-shot")
    assert list(tmp_path.iterdir()) == []


def assert_one_line(err: VfxDoubleError, *parts: str) -> None:
    text = str(err)
    assert "\n" not in text
    for part in parts:
        assert part in text, text


def test_preview_into_a_folder_that_cannot_exist(tmp_path: Path) -> None:
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("x")
    with pytest.raises(MediaError) as info:
        PreviewWriter(blocker / "qc.mp4", fps=24)
    assert_one_line(info.value, str(blocker / "qc.mp4"))


def test_preview_ffmpeg_failure_names_file_and_last_ffmpeg_line(tmp_path: Path) -> None:
    out = tmp_path / "shot" / "qc.mp4"
    writer = PreviewWriter(out, fps=24, width=64)
    # the folder vanishes under the writer: real ffmpeg cannot open its output
    out.parent.rmdir()
    with pytest.raises(MediaError) as info, writer:
        for i in range(3):
            writer.add(make_frame(1001 + i, w=64, h=48))
    assert_one_line(info.value, str(out), "ffmpeg exit status")
    assert "No such file or directory" in str(info.value)
    assert not out.parent.exists() or no_temp_files(out.parent)


def test_failing_ffmpeg_binary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "ffmpeg"
    fake.write_text("#!/bin/sh\necho 'first line' >&2\necho 'Unknown encoder libx264' >&2\n"
                    "exit 3\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(movie, "_ffmpeg_exe", lambda: str(fake))
    out = tmp_path / "out" / "qc.mp4"
    with pytest.raises(MediaError) as info:
        with PreviewWriter(out, fps=24, width=64) as writer:
            for i in range(3):
                writer.add(make_frame(1001 + i, w=64, h=48))
    assert_one_line(info.value, str(out), "exit status 3", "Unknown encoder libx264")
    assert list(out.parent.iterdir()) == []

    monkeypatch.setattr(movie, "_ffmpeg_exe", lambda: str(tmp_path / "missing" / "ffmpeg"))
    with pytest.raises(MediaError) as info:
        with PreviewWriter(out, fps=24, width=64) as writer:
            writer.add(make_frame(w=64, h=48))
    assert_one_line(info.value, str(out), "runnable ffmpeg")
    assert list(out.parent.iterdir()) == []


@pytest.mark.parametrize("fps, width", [(0, 960), (float("nan"), 960), (24, 8)])
def test_preview_rejects_bad_settings(tmp_path: Path, fps: float, width: int) -> None:
    with pytest.raises(VfxDoubleError):
        PreviewWriter(tmp_path / "qc.mp4", fps=fps, width=width)


# ---------------------------------------------------------------- contact sheet


def sheet_shape(path: Path) -> tuple[int, int]:
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert img is not None and img.dtype == np.uint8 and img.shape[2] == 3
    return img.shape[0], img.shape[1]


def test_contact_sheet_layout_follows_columns_and_thumb_size(tmp_path: Path) -> None:
    frames = [make_frame(1001 + i, w=320, h=240, face=i != 4,
                         flags=["interpolated"] if i == 2 else []) for i in range(10)]
    ten = contact_sheet(frames, tmp_path / "ten.png", columns=4, thumb_width=100,
                         title="SH010  mediapipe 0.10.21")
    four = contact_sheet(frames[:4], tmp_path / "four.png", columns=4, thumb_width=100)
    gap, thumb_h = 4, 75
    h10, w10 = sheet_shape(ten)
    h4, w4 = sheet_shape(four)
    assert w10 == w4 == 4 * 100 + 5 * gap
    assert h10 - h4 == 2 * (thumb_h + gap)  # three rows against one
    assert h4 > thumb_h + 2 * gap  # and a title bar above them
    assert no_temp_files(tmp_path)


@pytest.mark.parametrize("as_generator", [False, True])
def test_contact_sheet_thins_long_shots(tmp_path: Path, as_generator: bool) -> None:
    frames = [make_frame(1001 + i, w=64, h=48) for i in range(100)]
    one_row = contact_sheet(frames[:6], tmp_path / "one.png", columns=6, thumb_width=64)
    many = contact_sheet((f for f in frames) if as_generator else frames,
                         tmp_path / "many.png", columns=6, thumb_width=64)
    gap, thumb_h = 4, 48
    assert sheet_shape(many)[0] - sheet_shape(one_row)[0] == 5 * (thumb_h + gap)  # 36 thumbs


def test_contact_sheet_summary_counts_flags() -> None:
    text = qc._summary(list(range(1001, 1011)), {"no face": 2, "interpolated": 1}, 10)
    assert text == "10 frames 1001-1010  |  no face 2  |  interpolated 1  |  showing 10"


def test_contact_sheet_errors(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="at least one frame"):
        contact_sheet([], tmp_path / "empty.png")
    with pytest.raises(VfxDoubleError, match="columns"):
        contact_sheet([make_frame()], tmp_path / "bad.png", columns=0)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(MediaError) as info:
        contact_sheet([make_frame(w=64, h=48)], blocker / "sheet.png")
    assert_one_line(info.value, str(blocker / "sheet.png"))
    assert sorted(os.listdir(tmp_path)) == ["file"]
