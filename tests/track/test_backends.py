"""Landmark backends: detection at 4K and on small faces, accuracy on the annotated
photos, crop-to-image mapping, no-face frames, the registry, and fan's plumbing."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from vfx_double.errors import ConfigError, TrackingError
from vfx_double.face import ibug68
from vfx_double.track.backends import (
    BACKENDS,
    FaceBox,
    FanBackend,
    Landmarks,
    MediaPipeBackend,
    get_backend,
)
from vfx_double.track.backends._base import crop_square, from_crop
from vfx_double.track.backends.fan import WEIGHTS_FILE, decode_heatmaps
from vfx_double.track.backends.mediapipe import nms, quiet_native_logs, tile_sizes

#: NME-68 bounds: measured (benchmarks/bench_landmarks.py) 0.094, 0.096, 0.042, plus
#: about 30% so a mediapipe or OpenCV patch release does not fail the suite.
NME_BOUND = {"breakingbad": 0.115, "einstein": 0.125, "takeo": 0.055}
#: the astronaut's face box in skimage's 512x512 image (mediapipe's detector box)
ASTRONAUT_FACE = FaceBox(174.0, 68.0, 278.0, 172.0, 1.0)


@pytest.fixture(scope="module")
def backend() -> MediaPipeBackend:
    with MediaPipeBackend() as made:
        yield made


def load_rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)  # grey files come back as 3 channels
    assert bgr is not None, path
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def canvas(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A frame with no face: a gradient with grain, like an empty plate."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = 60 + 80 * xx / width + 40 * yy / height
    grain = np.random.default_rng(seed).normal(0, 6, (height, width, 3))
    return np.clip(base[:, :, None] + grain, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("name", sorted(NME_BOUND))
def test_annotated_photo_found_and_accurate(backend: MediaPipeBackend, shared_data: Path,
                                            name: str) -> None:
    folder = shared_data / "landmarks"
    truth_all = json.loads((folder / "ground_truth_68_xy0.json").read_text())[name]
    truth = np.asarray(truth_all["landmarks_xy_0based"], dtype=np.float64)
    image = load_rgb(folder / truth_all["file"])
    boxes = backend.detect(image)
    target = FaceBox.around(truth, 1.0)
    assert boxes, f"{name}: no face found"
    box = max(boxes, key=target.iou)
    assert box.iou(target) > 0.3, f"{name}: annotated face not among {boxes}"
    marks = backend.landmarks(image, box)
    assert marks is not None
    assert marks.points.shape == (68, 2) and marks.points.dtype == np.float64
    assert 0.5 < marks.confidence <= 1.0
    assert marks.dense is not None and marks.dense.shape == (478, 2)
    assert marks.box == FaceBox.around(marks.points, marks.confidence)
    assert ibug68.nme(marks.points, truth) < NME_BOUND[name]


def test_small_face_in_4k_frame(backend: MediaPipeBackend) -> None:
    scale = 70.0 / ASTRONAUT_FACE.width  # a ~70 px face on a 3840x2160 frame
    face = cv2.resize(data.astronaut(), None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    frame = canvas(2160, 3840)
    x0, y0 = 2711, 1402  # off the tile grid's symmetry lines
    frame[y0:y0 + face.shape[0], x0:x0 + face.shape[1]] = face
    truth = FaceBox(x0 + ASTRONAUT_FACE.x0 * scale, y0 + ASTRONAUT_FACE.y0 * scale,
                    x0 + ASTRONAUT_FACE.x1 * scale, y0 + ASTRONAUT_FACE.y1 * scale, 1.0)
    boxes = backend.detect(frame)
    assert len(boxes) == 1 and boxes[0].iou(truth) > 0.4, boxes
    marks = backend.landmarks(frame, boxes[0])
    assert marks is not None and marks.box.iou(truth) > 0.3


def test_points_shift_with_the_image(backend: MediaPipeBackend) -> None:
    image = data.astronaut()
    dx, dy = 37, 23
    # Black padding is what the crop puts outside the frame, so both crops are identical.
    shifted = np.pad(image, ((dy, 0), (dx, 0), (0, 0)))
    moved = FaceBox(ASTRONAUT_FACE.x0 + dx, ASTRONAUT_FACE.y0 + dy,
                    ASTRONAUT_FACE.x1 + dx, ASTRONAUT_FACE.y1 + dy, 1.0)
    a = backend.landmarks(image, ASTRONAUT_FACE)
    b = backend.landmarks(shifted, moved)
    assert a is not None and b is not None
    np.testing.assert_allclose(b.points, a.points + [dx, dy], atol=1e-6)
    assert ASTRONAUT_FACE.scaled(1.3).iou(a.box) > 0.3


def test_no_face_gives_nothing(backend: MediaPipeBackend) -> None:
    frame = canvas(1080, 1920, seed=1)
    assert backend.detect(frame) == []
    assert backend.landmarks(frame, FaceBox(800, 400, 1000, 600, 0.9)) is None


def test_rejects_wrong_image_type(backend: MediaPipeBackend) -> None:
    with pytest.raises(ValueError, match="uint8"):
        backend.detect(np.zeros((64, 64, 3), np.float32))


def test_version_names_the_package(backend: MediaPipeBackend) -> None:
    assert backend.version().startswith("mediapipe 0.10")


def test_native_log_filter_keeps_errors(capfd: pytest.CaptureFixture[str]) -> None:
    with quiet_native_logs():
        os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
        os.write(2, b"W0000 00:00:1795680766.211125 9998 feedback.cc:114] chatter\n")
        os.write(2, b"E0000 00:00:1795680766.211125 9998 graph.cc:1] real trouble\n")
    err = capfd.readouterr().err
    assert "real trouble" in err and "chatter" not in err and "XNNPACK" not in err


def test_crop_maps_back_to_image_pixels() -> None:
    image = np.zeros((300, 400, 3), np.uint8)
    image[119:122, 248:251] = 255  # exactly one crop pixel at 3 image pixels per crop pixel
    crop = crop_square(image, (260.0, 110.0), 150.0, 50)
    assert (crop.x0, crop.y0, crop.side, crop.scale) == (185, 35, 150, 3.0)
    v, u = np.unravel_index(np.argmax(crop.pixels[:, :, 0]), crop.pixels.shape[:2])
    assert crop.pixels[v, u, 0] == 255 and (crop.pixels[:, :, 0] > 0).sum() == 1
    np.testing.assert_allclose(from_crop(crop, np.array([[u, v]])), [[249.0, 120.0]])
    edge = crop_square(image, (0.0, 0.0), 100.0, 100)
    assert edge.pixels[:50, :50].max() == 0  # outside the frame is black


def test_facebox_helpers() -> None:
    box = FaceBox(10, 20, 30, 60, 0.8)
    assert (box.width, box.height, box.centre) == (20, 40, (20.0, 40.0))
    assert box.scaled(2.0) == FaceBox(0, 0, 40, 80, 0.8)
    assert box.square() == FaceBox(0, 20, 40, 60, 0.8)
    assert box.iou(box) == 1.0 and box.iou(FaceBox(100, 100, 110, 110, 1)) == 0.0
    assert box.iou(FaceBox(20, 20, 40, 60, 1)) == pytest.approx(1 / 3)


def test_nms_keeps_the_best_of_overlapping_boxes() -> None:
    best, cut, other = (FaceBox(0, 0, 100, 100, 0.9), FaceBox(0, 0, 60, 100, 0.7),
                        FaceBox(300, 0, 400, 100, 0.6))
    assert nms([other, cut, best]) == [best, other]


def test_tiles_cover_every_face_size() -> None:
    assert tile_sizes((2160, 3840), 64) == [768]
    assert tile_sizes((512, 512), 64) == []
    # Each level finds faces from tile/12 to tile/2, so levels may not be more than 6x apart.
    sizes = tile_sizes((4320, 7680), 16)
    assert sizes[0] == 384 and all(b / a <= 6 for a, b in zip(sizes, sizes[1:]))


def test_registry_lists_valid_names() -> None:
    assert list(BACKENDS) == ["mediapipe", "fan"]
    with pytest.raises(ConfigError, match="one of mediapipe, fan") as err:
        get_backend("dlib", where="sh010.yaml:12")
    assert "sh010.yaml:12" in str(err.value) and "'dlib'" in str(err.value)


def test_fan_without_weights_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(TrackingError, match=WEIGHTS_FILE) as err:
        get_backend("fan", weights=tmp_path, where="sh010.yaml:14")
    assert str(tmp_path / WEIGHTS_FILE) in str(err.value)
    assert "track.weights" in str(err.value) and "nothing is downloaded" in str(err.value)
    with pytest.raises(TrackingError, match="track.weights not set"):
        get_backend("fan", weights=None)


def test_fan_refuses_other_weights(tmp_path: Path) -> None:
    safetensors_torch = pytest.importorskip("safetensors.torch")
    torch = pytest.importorskip("torch")
    safetensors_torch.save_file({"conv1.weight": torch.zeros(1)}, str(tmp_path / WEIGHTS_FILE))
    with pytest.raises(TrackingError, match="FAN\\(4\\)"):
        FanBackend(weights=tmp_path)


def test_heatmap_decoding_moves_a_quarter_cell() -> None:
    maps = np.zeros((2, 64, 64), np.float32)
    maps[0, 10, 20], maps[0, 10, 21] = 1.0, 0.5  # peak, higher neighbour to the right
    maps[1, 40, 30] = 0.7
    peaks, scores = decode_heatmaps(maps)
    np.testing.assert_allclose(peaks, [[20.75, 10.5], [30.5, 40.5]])
    np.testing.assert_allclose(scores, [1.0, 0.7])


def test_fan_runs_with_random_weights(tmp_path: Path) -> None:
    """Plumbing only: FAN(4) with random weights, one landmarks call (about 1 s on CPU)."""
    torch = pytest.importorskip("torch")
    safetensors_torch = pytest.importorskip("safetensors.torch")
    from vfx_double.track.backends.fan import _fan_class

    try:
        fan_class = _fan_class("test")
    except TrackingError as err:
        pytest.skip(str(err))
    torch.manual_seed(0)
    safetensors_torch.save_file(fan_class(4).state_dict(), str(tmp_path / WEIGHTS_FILE))
    fan = get_backend("fan", weights=tmp_path)
    try:
        assert fan.version().startswith("face-alignment ") and "sha256:" in fan.version()
        box = FaceBox(200, 150, 330, 280, 0.9)
        marks = fan.landmarks(canvas(480, 640, seed=2), box)
        assert isinstance(marks, Landmarks) and marks.points.shape == (68, 2)
        assert 0.0 <= marks.confidence <= 1.0
        # Points land inside face-alignment's crop around the box, in image pixels.
        side = (box.width + box.height) * 200 / 195
        cx, cy = box.centre[0], box.centre[1] - 0.12 * box.height
        assert np.all(np.abs(marks.points - [cx, cy]) <= side / 2 + 1)
        # A heatmap peak in cell (x 16, y 48) is a quarter and three quarters across.
        maps = np.zeros((68, 64, 64), np.float32)
        maps[:, 48, 16] = 1.0
        fan._heatmaps = lambda pixels: maps  # type: ignore[method-assign]
        placed = fan.landmarks(canvas(480, 640, seed=2), box)
        expected = [cx - side / 2 + 16.5 / 64 * side, cy - side / 2 + 48.5 / 64 * side]
        np.testing.assert_allclose(placed.points, np.tile(expected, (68, 1)), atol=1.0)
        assert placed.confidence == 1.0
    finally:
        fan.close()
