"""What the models see of a plate (issue 15): crops and tiles shrunk (``resampled``) and the
sharpness crop warped (``warped``) from the plate's pixels, then converted: close to
taking them from the converted frame, black off the frame, and the same whichever rows
were decoded."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from vfx_double.color import DEFAULT_CONFIG, ColourConfig
from vfx_double.track.display import DisplayFrame, display_u8, resampled, warped
from vfx_double.track.run import _quick_sharpness

LOGC3 = "ARRI LogC3 (EI800)"


@pytest.fixture(scope="module")
def colour() -> ColourConfig:
    return ColourConfig.load(DEFAULT_CONFIG)


@pytest.fixture(scope="module")
def plate() -> np.ndarray:
    """(300, 517, 3) float32 LogC3-ish code values with texture everywhere, odd width."""
    rgb = np.tile(data.astronaut()[:300], (1, 2, 1))[:, :517].astype(np.float32) / 255.0
    return np.ascontiguousarray(0.1 + 0.8 * rgb)


@pytest.mark.parametrize("shift", [(0.0, 0.0), (-180.0, -40.0), (190.0, 130.0)])
def test_sharpness_warped_then_converted_is_close(colour, plate, shift) -> None:
    """Faces inside and across the frame edge: the sharpness of the plate's crop warped
    and then converted is within a few percent of the sRGB frame's (the measure is only
    compared within a shot, to its median)."""
    whole = display_u8(colour, plate, LOGC3)
    rng = np.random.default_rng(3)
    points = rng.uniform(0, 1, (68, 2)) * [90, 110] + [200 + shift[0], 100 + shift[1]]
    expected = _quick_sharpness(whole, points, 0.6)
    got = _quick_sharpness(DisplayFrame(colour, plate, LOGC3), points, 0.6)
    assert expected > 0 and abs(got / expected - 1.0) < 0.05


def test_a_crop_off_the_frame_has_no_sharpness(colour, plate) -> None:
    points = np.random.default_rng(3).uniform(0, 1, (68, 2)) * 90 + [2000, 100]
    assert _quick_sharpness(DisplayFrame(colour, plate, LOGC3), points, 0.6) == 0.0


def test_some_rows_need_a_way_to_the_rest(colour, plate) -> None:
    with pytest.raises(ValueError, match="expected read_whole"):
        DisplayFrame(colour, plate[96:224], LOGC3, top=96, height=300)


@pytest.mark.parametrize("box, size", [((40, 20, 300, 260), (128, 128)),   # shrunk inside
                                       ((0, 0, 517, 300), (192, 111)),     # the proxy
                                       ((-60, 150, 240, 240), (96, 96)),   # off two edges
                                       ((100, 100, 64, 64), (128, 128))])  # enlarged
def test_resampled_then_converted_is_close_to_converted_then_resampled(colour, plate, box,
                                                                        size) -> None:
    """Colour after the shrink: most pixels the same as shrinking the converted frame, a
    mean difference under 2 codes of 255 and no bias (the log plate is shrunk as encoded,
    the display frame in sRGB: they differ at edges, most where sRGB clips, up to ~100
    codes on this plate's bright edges); black where the box leaves the frame."""
    interpolation = cv2.INTER_AREA if box[2] > size[0] else cv2.INTER_LINEAR
    expected = resampled(display_u8(colour, plate, LOGC3), box, size, interpolation)
    got = resampled(DisplayFrame(colour, plate, LOGC3), box, size, interpolation)
    assert got.shape == expected.shape == (size[1], size[0], 3) and got.dtype == np.uint8
    diff = np.abs(got.astype(int) - expected.astype(int))
    assert np.median(diff) == 0 and diff.mean() < 2.0
    assert abs((got.astype(int) - expected).mean()) < 0.5
    if box[0] < 0:
        # the crop's columns wholly off the frame are black (partly off: blended)
        assert not got[:, :int(-box[0] * size[0] / box[2]) - 1].any()
        assert got[:, -10:].mean() > 20


def test_some_rows_give_what_the_whole_frame_gives(colour, plate) -> None:
    """Rows 96-224 decoded: a box inside them needs no other; one reaching outside reads
    the whole frame; either way the pixels are the whole frame's, and the rows looked at
    are recorded for the next frame's plan (a detection's are not)."""
    whole = DisplayFrame(colour, plate, LOGC3)
    reads = []

    def read_whole() -> np.ndarray:
        reads.append(1)
        return plate

    frame = DisplayFrame(colour, plate[96:224], LOGC3, top=96, height=300, read_whole=read_whole)
    for box, misses in [((30, 100, 120, 120), 0), ((200, 150, 200, 100), 1)]:
        np.testing.assert_array_equal(resampled(frame, box, (64, 64), cv2.INTER_AREA),
                                      resampled(whole, box, (64, 64), cv2.INTER_AREA))
        assert len(reads) == misses == frame.missed
    assert frame.asked == (100, 250)
    k = 64 / 60  # a 60 px square around (250, 180) -> 64 px
    matrix = np.array([[k, 0.0, 31.5 - k * 250], [0.0, k, 31.5 - k * 180]])
    np.testing.assert_array_equal(warped(frame, matrix, 64, cv2.INTER_AREA),
                                  warped(whole, matrix, 64, cv2.INTER_AREA))
    asked = frame.asked
    resampled(frame.whole(), (0, 0, 517, 300), (100, 58), cv2.INTER_AREA)
    assert frame.asked == asked != (0, 300)
