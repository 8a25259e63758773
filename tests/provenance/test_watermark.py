"""The review frames' watermark on real footage (lp_d3, a talking head, scaled into a
1920x1080 letterboxed frame): it reads back after a real H.264 encode at crf 23, from
ProRes, after a resize to 1280x720, from any single frame of an excerpt; an unmarked movie reads None and
another licence's or version's mark is not read as ours."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import SHARED_DATA
from vfx_double.errors import ConfigError, MediaError
from vfx_double.io import movie
from vfx_double.provenance import watermark as wm

HD = (1920, 1080)
FRAMES = 8
OURS = wm.payload_for("LIC-0001", 3)


def _footage(count: int) -> list[np.ndarray]:
    """``count`` frames of lp_d3 as 1920x1080 uint8 RGB: the 512x512 talking head scaled to
    1080 high, black bars left and right (a letterboxed plate: flat black where the mark
    is half clipped)."""
    clip = SHARED_DATA / "video" / "lp_d3.mp4"
    if not clip.is_file():
        pytest.skip(f"real test data not found at {clip} (see DESIGN.md, Test data)")
    raw = subprocess.run([movie._ffmpeg_exe(), "-v", "error", "-i", str(clip), "-frames:v",
                          str(count), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         capture_output=True, check=True).stdout
    frames = []
    for square in np.frombuffer(raw, np.uint8).reshape(-1, 512, 512, 3):
        hd = np.zeros((HD[1], HD[0], 3), np.uint8)
        hd[:, 420:1500] = cv2.resize(square, (1080, 1080), interpolation=cv2.INTER_CUBIC)
        frames.append(hd)
    return frames


def _mark(frames: list[np.ndarray], payload: bytes) -> list[np.ndarray]:
    """Marked in float (as review does before its encoders), back to 8 bits."""
    embedder = wm.Embedder(payload, (frames[0].shape[1], frames[0].shape[0]))
    return [np.rint(embedder.embed(f.astype(np.float32) / 255) * 255).astype(np.uint8)
            for f in frames]


def _h264(frames: list[np.ndarray], path: Path, *, crf: int, size: tuple[int, int] | None = None,
          start: int = 0) -> Path:
    """A real libx264 yuv420p encode (BT.709), optionally resized by ffmpeg first and
    starting ``start`` frames in (an excerpt)."""
    h, w = frames[0].shape[:2]
    vf = "scale=out_color_matrix=bt709:out_range=tv,format=yuv420p"
    if size is not None:
        vf = f"scale={size[0]}:{size[1]}:flags=bicubic," + vf
    cmd = [movie._ffmpeg_exe(), "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
           "-s", f"{w}x{h}", "-r", "30", "-i", "-", "-vf", vf, "-c:v", "libx264",
           "-preset", "medium", "-crf", str(crf), "-pix_fmt", "yuv420p", str(path)]
    subprocess.run(cmd, input=b"".join(f.tobytes() for f in frames[start:]), check=True)
    return path


@pytest.fixture(scope="module")
def footage() -> list[np.ndarray]:
    return _footage(FRAMES)


@pytest.fixture(scope="module")
def marked(footage: list[np.ndarray]) -> list[np.ndarray]:
    return _mark(footage, OURS)


def test_payload_is_the_licence_hash_and_the_version() -> None:
    payload = wm.payload_for("LIC-0001", 3)
    assert payload == hashlib.sha256(b"LIC-0001").digest()[:6] + b"\x00\x03"
    assert wm.describe(payload) == {"payload": payload.hex(),
                                    "licence_hash": payload[:6].hex(), "version": 3}
    with pytest.raises(ConfigError, match="0..65535"):
        wm.payload_for("LIC-0001", 70000)
    with pytest.raises(ConfigError, match="8 bytes"):
        wm.describe(b"short")
    with pytest.raises(ConfigError, match="8 bytes"):
        wm.Embedder(b"\x00" * 9, HD)
    with pytest.raises(ConfigError, match="width >= 256"):
        wm.Embedder(OURS, (200, 200))


def test_the_mark_is_faint_luma_only_and_deterministic(footage, marked) -> None:
    frame = footage[0].astype(np.float32) / 255
    embedder = wm.Embedder(OURS, HD)
    once, again = embedder.embed(frame), wm.Embedder(OURS, HD).embed(frame)
    assert once.dtype == np.float32 and once.shape == frame.shape
    assert np.array_equal(once, again)
    assert 0.0 <= once.min() and once.max() <= 1.0
    delta = once - frame
    inside = (frame > 0.02).all(axis=2) & (frame < 0.98).all(axis=2)  # not clipped
    # R, G and B change alike: luma moves, chroma (which yuv420p halves) does not
    assert np.abs(delta[..., 0] - delta[..., 1])[inside].max() < 1e-6
    assert np.abs(delta[..., 2] - delta[..., 1])[inside].max() < 1e-6
    mse = np.mean((marked[0].astype(np.float64) - footage[0]) ** 2)
    assert 10 * np.log10(255 ** 2 / mse) > 44.0
    with pytest.raises(MediaError, match="1920x1080 RGB float32"):
        embedder.embed(frame.astype(np.float64))
    with pytest.raises(MediaError, match="1920x1080 RGB float32"):
        embedder.embed(frame[:720, :1280])


def test_reads_back_after_h264_crf23(marked, tmp_path) -> None:
    reading = wm.read_movie(_h264(marked, tmp_path / "crf23.mp4", crf=23), expected=OURS)
    assert reading.payload == OURS and reading.frames == FRAMES
    assert reading.raw_bit_accuracy is not None and reading.raw_bit_accuracy > 0.97
    assert reading.confidence > 0.9


def test_reads_back_from_prores(marked, tmp_path) -> None:
    # review's other movie: ProRes 422 HQ, 10-bit 4:2:2
    path = tmp_path / "review.mov"
    h, w = marked[0].shape[:2]
    subprocess.run([movie._ffmpeg_exe(), "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt",
                    "rgb24", "-s", f"{w}x{h}", "-r", "24", "-i", "-", "-c:v", "prores_ks",
                    "-profile:v", "3", "-pix_fmt", "yuv422p10le", str(path)],
                   input=b"".join(f.tobytes() for f in marked[:3]), check=True)
    assert wm.read_movie(path, expected=OURS).payload == OURS


def test_reads_back_after_a_resize_to_720p(marked, tmp_path) -> None:
    path = _h264(marked, tmp_path / "720p.mp4", crf=23, size=(1280, 720))
    assert wm.read_movie(path, expected=OURS).payload == OURS


def test_one_frame_of_an_excerpt_is_enough(marked, tmp_path) -> None:
    # the excerpt starts mid-movie and is read one frame at a time: nothing depends on
    # the first frame or the frame index
    path = _h264(marked, tmp_path / "excerpt.mp4", crf=23, start=5)
    one = wm.read_movie(path, max_frames=1, expected=OURS)
    assert one.payload == OURS and one.frames == 1


def test_an_unmarked_movie_reads_none(footage, tmp_path) -> None:
    reading = wm.read_movie(_h264(footage, tmp_path / "plate.mp4", crf=18), expected=OURS)
    assert reading.payload is None and reading.confidence == 0.0
    assert reading.frames == FRAMES
    assert reading.raw_bit_accuracy is not None and reading.raw_bit_accuracy < 0.75
    assert all(wm.read_frames([f]).payload is None for f in footage)


@pytest.mark.parametrize("licence_id, version", [("LIC-0002", 3), ("LIC-0001", 4)])
def test_another_mark_is_not_read_as_ours(footage, tmp_path, licence_id, version) -> None:
    theirs = wm.payload_for(licence_id, version)
    frames = _mark(footage[:3], theirs)
    reading = wm.read_frames(frames, expected=OURS)
    assert reading.payload == theirs != OURS
    # Reed-Solomon codewords differ in at least 9 of 16 bytes, so the bits disagree widely
    assert reading.raw_bit_accuracy is not None and reading.raw_bit_accuracy < 0.93


def test_voting_across_frames_reads_what_no_single_frame_does(marked) -> None:
    rng = np.random.Generator(np.random.PCG64(5))
    small = [cv2.resize(f, (640, 360), interpolation=cv2.INTER_AREA) for f in marked]
    noisy = [np.clip(f + rng.normal(0.0, 45.0, f.shape), 0, 255).astype(np.uint8)
             for f in small]
    alone = [wm.read_frames([f], expected=OURS) for f in noisy]
    assert all(r.payload is None for r in alone)
    assert max(r.raw_bit_accuracy or 0.0 for r in alone) < 0.95
    together = wm.read_frames(noisy, expected=OURS)
    assert together.payload == OURS and together.frames == FRAMES


def test_error_correction_repairs_flipped_bits(marked) -> None:
    small = cv2.resize(marked[0], (640, 360), interpolation=cv2.INTER_AREA)
    readings = []
    for seed in range(4):
        rng = np.random.Generator(np.random.PCG64(seed))
        noisy = np.clip(small + rng.normal(0.0, 13.0, small.shape), 0, 255).astype(np.uint8)
        readings.append(wm.read_frames([noisy], expected=OURS))
    assert all(r.payload == OURS for r in readings)
    flipped = [r for r in readings if (r.raw_bit_accuracy or 0.0) < 1.0]
    assert flipped and all(r.confidence < 1.0 for r in flipped)


def test_any_frame_size_reads_back() -> None:
    rng = np.random.Generator(np.random.PCG64(1))
    for size in [(640, 360), (512, 512), (2048, 858)]:
        # smooth noise: a picture with structure at every scale, not a flat field
        grey = cv2.resize(rng.random((24, 24), np.float32), size, interpolation=cv2.INTER_CUBIC)
        frame = np.repeat(np.clip(0.2 + 0.6 * grey, 0, 1)[..., None], 3, axis=2)
        marked = wm.Embedder(OURS, size).embed(frame)
        assert wm.read_frames([np.rint(marked * 255).astype(np.uint8)]).payload == OURS


def test_read_movie_refuses_what_is_not_a_movie(tmp_path) -> None:
    with pytest.raises(MediaError, match="no such file"):
        wm.read_movie(tmp_path / "missing.mp4")
    text = tmp_path / "notes.mp4"
    text.write_text("not a movie")
    with pytest.raises(MediaError, match="ffmpeg exit status"):
        wm.read_movie(text)
    with pytest.raises(ConfigError, match=">= 1"):
        wm.read_movie(text, max_frames=0)
