"""The detector's view converted where asked (issue 15): every slice of a DisplayFrame,
and the sharpness measured from one, equal the whole frame converted at once, bit for bit.
What the landmark model and the detector see, shrunk (``resampled``), is converted after
the shrink: close to shrinking the converted frame, black off the frame, and the same
whichever rows were decoded."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from vfx_double.color import DEFAULT_CONFIG, ColourConfig
from vfx_double.track.display import DisplayFrame, display_u8, resampled
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


@pytest.mark.parametrize("slices", [
    [(slice(10, 90), slice(20, 140)), (slice(30, 100), slice(40, 150))],   # second inside
    [(slice(0, 50), slice(480, 517)), (slice(200, 300), slice(0, 60))],    # edges, regrow
    [(slice(-40, None), slice(None, 30))],                                # negative starts
    [(slice(0, 300), slice(0, 517))],                                     # the whole frame
])
def test_slices_equal_the_whole_frame_converted(colour, plate, slices) -> None:
    whole = display_u8(colour, plate, LOGC3)
    frame = DisplayFrame(colour, plate, LOGC3)
    assert frame.shape == whole.shape and frame.dtype == whole.dtype
    for key in slices:
        np.testing.assert_array_equal(frame[key], whole[key])
    np.testing.assert_array_equal(frame.full(), whole)
    np.testing.assert_array_equal(frame[slices[0]], whole[slices[0]])


def test_only_plain_two_axis_slices(colour, plate) -> None:
    with pytest.raises(TypeError, match=r"expected \[y0:y1, x0:x1\]"):
        DisplayFrame(colour, plate, LOGC3)[::2, :]


@pytest.mark.parametrize("shift", [(0.0, 0.0), (-180.0, -40.0), (190.0, 130.0)])
def test_sharpness_from_a_region_is_the_whole_frame_s(colour, plate, shift) -> None:
    """Faces inside and across the frame edge: the region warp samples the same pixels."""
    whole = display_u8(colour, plate, LOGC3)
    rng = np.random.default_rng(3)
    points = rng.uniform(0, 1, (68, 2)) * [90, 110] + [200 + shift[0], 100 + shift[1]]
    expected = _quick_sharpness(whole, points, 0.6)
    assert _quick_sharpness(DisplayFrame(colour, plate, LOGC3), points, 0.6) == expected


@pytest.mark.parametrize("slices, misses", [
    ([(slice(110, 170), slice(20, 140)), (slice(100, 200), slice(300, 420))], False),
    ([(slice(110, 170), slice(20, 140)), (slice(90, 150), slice(40, 150))], True),   # above
    ([(slice(150, 260), slice(0, 517))], True),                                       # below
])
def test_some_rows_give_what_the_whole_frame_gives(colour, plate, slices, misses) -> None:
    """A frame decoded only in rows 96-224 (pass one between detections): slices inside
    them convert those rows; one reaching outside reads the whole frame (a miss)."""
    whole = display_u8(colour, plate, LOGC3)
    reads = []

    def read_whole() -> np.ndarray:
        reads.append(1)
        return plate

    frame = DisplayFrame(colour, plate[96:224], LOGC3, top=96, height=300, read_whole=read_whole)
    assert frame.shape == whole.shape
    for key in slices:
        np.testing.assert_array_equal(frame[key], whole[key])
    assert frame.missed == misses and len(reads) == misses
    assert frame.asked == (min(k[0].start for k in slices), max(k[0].stop for k in slices))
    np.testing.assert_array_equal(frame.full(), whole)
    assert frame.missed and len(reads) == 1


def test_some_rows_need_a_way_to_the_rest(colour, plate) -> None:
    with pytest.raises(ValueError, match="expected read_whole"):
        DisplayFrame(colour, plate[96:224], LOGC3, top=96, height=300)


def test_random_slices_equal_the_whole_frame(colour, plate) -> None:
    """A sequence of slices growing, moving and regrowing the converted region."""
    whole = display_u8(colour, plate, LOGC3)
    rng = np.random.default_rng(15)
    frame = DisplayFrame(colour, plate, LOGC3)
    for _ in range(25):
        y0, x0 = rng.integers(0, 290), rng.integers(0, 510)
        y1, x1 = rng.integers(y0 + 1, 301), rng.integers(x0 + 1, 518)
        np.testing.assert_array_equal(frame[y0:y1, x0:x1], whole[y0:y1, x0:x1])


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


def test_resampled_from_some_rows_is_the_whole_frame_s(colour, plate) -> None:
    """Rows 96-224 decoded: a box inside them needs no other; one reaching outside reads
    the whole frame; either way the pixels are the whole frame's, and the rows asked for
    are recorded for the next frame's plan."""
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
