"""import-video's --size / --fit: plates delivered at the show's plate size.

A short clip is written here with OpenCV (mp4v): mid-grey, a white square off centre, a
red block in the top-left corner and a blue one in the bottom-right, so where each lands
on the plate shows the scale, the offset and the crop.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from vfx_double.cli import main
from vfx_double.color import DEFAULT_CONFIG, ColourConfig
from vfx_double.demo.plates import SRGB
from vfx_double.io.exr import read_exr
from vfx_double.io.sequences import FrameSequence

LOGC3 = "ARRI LogC3 (EI800)"
CLIP_W, CLIP_H = 128, 64
SQUARE = (72, 16, 88, 32)  # x0, y0, x1, y1 of the white square in the clip, centre (80, 24)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 24.0, (CLIP_W, CLIP_H))
    assert writer.isOpened()
    frame = np.full((CLIP_H, CLIP_W, 3), 128, np.uint8)
    x0, y0, x1, y1 = SQUARE
    frame[y0:y1, x0:x1] = 255
    frame[:16, :16] = (0, 0, 255)  # BGR: red
    frame[-16:, -16:] = (255, 0, 0)  # blue
    for _ in range(3):
        writer.write(frame)
    writer.release()
    return path


def run(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def plate(tmp_path: Path, capsys: pytest.CaptureFixture[str], clip: Path, *options: str,
          colourspace: str = "ACEScg") -> tuple[np.ndarray, object, str]:
    """Import the clip; return frame 1001's pixels, its image and what the CLI printed."""
    pattern = tmp_path / "p.####.exr"
    code, out, err = run(capsys, "import-video", clip, pattern, "--colourspace", colourspace,
                         *options)
    assert code == 0, err
    image = read_exr(FrameSequence(str(pattern)).path(1001))
    return image.pixels, image, out


def square_centre(pixels: np.ndarray) -> tuple[float, float]:
    """Centroid (x, y) of the white square: the only pixels bright in all three channels."""
    ys, xs = np.nonzero(pixels.min(axis=2) > 0.5)
    return float(xs.mean()), float(ys.mean())


def test_pad_fits_inside_with_black_bars_and_records_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], clip: Path) -> None:
    # 128x64 into 512x128: scale min(4, 2) = 2 -> 256x128, centred with 128 px bars each side.
    pixels, image, out = plate(tmp_path, capsys, clip, "--size", "512x128")
    assert pixels.shape == (128, 512, 3)
    assert image.data_window == image.display_window == (0, 0, 512, 128)
    left, right, picture = pixels[:, :128], pixels[:, -128:], pixels[:, 128:-128]
    assert float(np.abs(left).max()) == 0.0 and float(np.abs(right).max()) == 0.0
    assert float(picture[:, :4].mean()) > 0.05 and float(picture[:, -4:].mean()) > 0.05
    assert square_centre(pixels) == pytest.approx((128 + 2 * 80 - 0.5, 2 * 24 - 0.5), abs=1.0)
    # cubic enlarging rings below black at the square's edges; the plate is clamped at 0
    assert float(pixels.min()) >= 0.0
    assert image.attribute("vfx_double/reformat") == "pad 512x128 from 128x64"
    assert image.attribute("vfx_double/source") == "clip.mp4"
    assert "reformat: pad 512x128 from 128x64" in out


def test_pad_on_a_log_plate_is_linear_black(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            clip: Path) -> None:
    pixels, _, _ = plate(tmp_path, capsys, clip, "--size", "128x128", colourspace=LOGC3)
    colour = ColourConfig.load(DEFAULT_CONFIG)
    black = colour.convert(np.zeros((1, 1, 3), np.float32), "ACEScg", LOGC3)[0, 0]
    bars = pixels[np.r_[0:32, 96:128]]  # 128x64 centred on 128x128: 32 rows above and below
    assert np.allclose(bars, black.astype(np.float16), atol=0)
    linear = colour.convert(bars, LOGC3, "ACEScg")
    assert abs(float(linear.mean())) < 1e-4


def test_fill_covers_and_crops(tmp_path: Path, capsys: pytest.CaptureFixture[str], clip: Path) -> None:
    # 128x64 onto 48x48: scale max(0.375, 0.75) = 0.75 -> 96x48, 24 px cropped each side,
    # which takes both corner blocks (source x < 32 and x >= 96) off the plate.
    pixels, image, _ = plate(tmp_path, capsys, clip, "--size", "48x48", "--fit", "fill")
    assert pixels.shape == (48, 48, 3)
    assert float(pixels.min()) > 0.05, "fill leaves no border"
    reddish = (pixels[..., 0] > 2 * pixels[..., 1] + 0.05).any()
    bluish = (pixels[..., 2] > 2 * pixels[..., 1] + 0.05).any()
    assert not reddish and not bluish
    assert square_centre(pixels) == pytest.approx((0.75 * 80 - 24 - 0.5, 0.75 * 24 - 0.5), abs=1.0)
    assert image.attribute("vfx_double/reformat") == "fill 48x48 from 128x64"


def test_stretch_maps_corners_to_corners(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         clip: Path) -> None:
    # 128x64 -> 64x128: x halves (area filter), y doubles (cubic); aspect changes.
    pixels, image, _ = plate(tmp_path, capsys, clip, "--size", "64x128", "--fit", "stretch")
    assert pixels.shape == (128, 64, 3)
    r, g, b = pixels[4, 2]
    assert r > 3 * max(g, b), "the clip's top-left red block stays in the top-left corner"
    r, g, b = pixels[124, 61]
    assert b > 3 * max(r, g), "the clip's bottom-right blue block stays in the bottom-right"
    assert square_centre(pixels) == pytest.approx((40 - 0.5, 48 - 0.5), abs=1.0)
    assert float(pixels.min()) >= 0.0
    assert image.attribute("vfx_double/reformat") == "stretch 64x128 from 128x64"


def test_none_centres_without_scaling(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      clip: Path) -> None:
    # 128x64 on 96x96: 16 columns cropped each side, 16 black rows above and below.
    pixels, image, _ = plate(tmp_path, capsys, clip, "--size", "96x96", "--fit", "none")
    assert pixels.shape == (96, 96, 3)
    assert float(np.abs(pixels[:16]).max()) == 0.0 and float(np.abs(pixels[-16:]).max()) == 0.0
    assert square_centre(pixels) == pytest.approx((80 - 16 - 0.5, 24 + 16 - 0.5), abs=0.6)
    assert image.attribute("vfx_double/reformat") == "none 96x96 from 128x64"


def test_without_size_the_plate_is_the_clip_as_before(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], clip: Path) -> None:
    """No --size: the same pixels as the straight sRGB -> colourspace encode, no new header."""
    pixels, image, out = plate(tmp_path, capsys, clip, colourspace=LOGC3)
    capture = cv2.VideoCapture(str(clip))
    ok, bgr = capture.read()
    capture.release()
    assert ok
    colour = ColourConfig.load(DEFAULT_CONFIG)
    expected = colour.convert(bgr[:, :, ::-1].astype(np.float32) / 255.0, SRGB, LOGC3)
    assert pixels.shape == (CLIP_H, CLIP_W, 3)
    assert np.array_equal(pixels, expected.astype(np.float16).astype(np.float32))
    assert image.attribute("vfx_double/reformat") is None
    assert "reformat" not in out


@pytest.mark.parametrize("options, where", [
    (["--size", "0x10"], "--size"),
    (["--size", "abc"], "--size"),
    (["--size", "1920x"], "--size"),
    (["--size", "64x64", "--fit", "squash"], "--fit"),
    (["--fit", "fill"], "--fit"),
])
def test_bad_options_exit_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          clip: Path, options: list[str], where: str) -> None:
    code, _, err = run(capsys, "import-video", clip, tmp_path / "p.####.exr", *options)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith(f"vfx-double: error: {where}: expected"), err
    assert not list(tmp_path.glob("p.*.exr")), "nothing is written on bad input"


def test_existing_frames_are_kept_only_when_this_import_made_them(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], clip: Path) -> None:
    # issue 11: import-video onto existing frames silently kept the old ones
    pattern = tmp_path / "p.####.exr"
    assert run(capsys, "import-video", clip, pattern, "--colourspace", "ACEScg")[0] == 0
    first = FrameSequence(str(pattern)).path(1001)
    before = first.read_bytes()
    # the same import again resumes: the frames are the ones it would write
    assert run(capsys, "import-video", clip, pattern, "--colourspace", "ACEScg")[0] == 0
    # another import onto them is refused, and nothing is overwritten
    code, _, err = run(capsys, "import-video", clip, pattern, "--colourspace", "ACEScg",
                       "--size", "64x64")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "never overwritten" in err and "reformat" in err
    assert first.read_bytes() == before
