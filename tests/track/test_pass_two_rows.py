"""Pass two reads only the rows each crop needs (issue 15): the crop made from those rows
equals the one made from the whole frame, bit for bit, with a data window off the origin,
across the frame's edge and through the pyramid levels of a big face."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vfx_double.errors import MediaError
from vfx_double.face.crop import aligned_crop, aligned_crop_box
from vfx_double.io.exr import ExrImage, read_exr, write_exr
from vfx_double.io.sequences import FrameSequence
from vfx_double.track.run import _read_band

WINDOW = (7, 13, 640, 360)


@pytest.fixture(scope="module")
def seq(tmp_path_factory: pytest.TempPathFactory) -> FrameSequence:
    folder = tmp_path_factory.mktemp("plate")
    rng = np.random.default_rng(15)
    pixels = rng.uniform(0.0, 1.0, (WINDOW[3], WINDOW[2], 3)).astype(np.float16)
    write_exr(folder / "plate.1001.exr",
              ExrImage(pixels=pixels, channels=("R", "G", "B"), data_window=WINDOW,
                       display_window=(0, 0, 660, 390), attributes=[], compression="zip"))
    return FrameSequence(str(folder / "plate.####.exr"))


def face(cx: float, cy: float, side: float, angle: float = 0.2) -> np.ndarray:
    """Plate -> 64 px crop matrix of a ``side``-pixel square around ``(cx, cy)``, turned."""
    k = 64.0 / side
    c, s = k * np.cos(angle), k * np.sin(angle)
    return np.array([[c, -s, 31.5 - c * cx + s * cy], [s, c, 31.5 - s * cx - c * cy]])


@pytest.mark.parametrize("matrix", [face(300, 200, 80), face(200, 20, 90),
                                    face(500, 340, 60), face(320, 180, 200)],
                         ids=["inside", "top edge", "bottom corner", "big face (pyramid)"])
def test_rows_only_make_the_same_crop(seq: FrameSequence, matrix: np.ndarray) -> None:
    whole = read_exr(seq.path(1001))
    box = aligned_crop_box(matrix, 64, whole.data_window)
    assert box is not None
    band = _read_band(seq, 1001, (box[1], box[1] + box[3]), whole.data_window)
    assert band.pixels.shape[0] == box[3] < WINDOW[3]
    expected = aligned_crop(whole.pixels, whole.data_window, matrix, 64, lambda r: r)
    got = aligned_crop(band.pixels, band.data_window, matrix, 64, lambda r: r)
    assert expected is not None and got is not None
    np.testing.assert_array_equal(got, expected)


def test_a_band_is_checked_as_it_is_read(tmp_path: Path) -> None:
    """Pass one no longer decodes every row of every frame, so pass two checks its rows."""
    pixels = np.full((WINDOW[3], WINDOW[2], 3), 0.5, np.float16)
    pixels[100, 30, 1] = np.nan
    write_exr(tmp_path / "plate.1001.exr",
              ExrImage(pixels=pixels, channels=("R", "G", "B"), data_window=WINDOW,
                       display_window=(0, 0, 660, 390), attributes=[], compression="zip"))
    seq = FrameSequence(str(tmp_path / "plate.####.exr"))
    assert _read_band(seq, 1001, (13, 90), WINDOW).pixels.dtype == np.float32
    with pytest.raises(MediaError, match=r"frame 1001.*first at x=37 y=113"):
        _read_band(seq, 1001, (90, 140), WINDOW)
