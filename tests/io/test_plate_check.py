"""Plates checked whole (issue 11, cases 1, 2 and 15): a frame of another size, NaN / Inf
pixels, no R, G, B, or integer channels are refused naming the frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest

from vfx_double.errors import MediaError
from vfx_double.io.exr import ExrImage, read_exr, read_header, write_exr
from vfx_double.io.plate_check import PlateCheck
from vfx_double.io.sequences import FrameSequence


def write(path: Path, w: int = 32, h: int = 24, channels=("R", "G", "B"), value=0.5) -> None:
    pixels = np.full((h, w, len(channels)), value, np.float32)
    write_exr(path, ExrImage(pixels=pixels, channels=tuple(channels), data_window=(0, 0, w, h),
                             display_window=(0, 0, w, h), attributes=[], compression="zip"),
              overwrite=True)


@pytest.fixture
def seq(tmp_path: Path) -> FrameSequence:
    for frame in (1001, 1002, 1003):
        write(tmp_path / f"plate.{frame}.exr")
    return FrameSequence(str(tmp_path / "plate.####.exr"))


def test_a_good_sequence_passes(seq: FrameSequence) -> None:
    check = PlateCheck(seq)
    for frame in (1001, 1002, 1003):
        check.header(frame, read_header(seq.path(frame)))
        check.image(frame, read_exr(seq.path(frame)))


def test_a_frame_of_another_size_is_named(seq: FrameSequence) -> None:
    write(seq.path(1002), w=16, h=12)
    check = PlateCheck(seq)
    check.header(1001, read_header(seq.path(1001)))
    with pytest.raises(MediaError, match=r"frame 1002.*size of frame 1001.*32x24.*found 16x12"):
        check.header(1002, read_header(seq.path(1002)))
    # a chunk that starts at 1002 still compares with the sequence's first frame
    with pytest.raises(MediaError, match="size of frame 1001"):
        PlateCheck(seq, anchor=1001).image(1002, read_exr(seq.path(1002)))


def test_nan_pixels_are_named_with_their_position(seq: FrameSequence) -> None:
    image = read_exr(seq.path(1003))
    image.pixels[5, 7, 1] = np.nan
    image.pixels[9, 2, 0] = np.inf
    with pytest.raises(MediaError, match=r"frame 1003.*2 pixels with NaN or Inf, first at x=7 y=5"):
        PlateCheck(seq).image(1003, image)


def test_plates_without_rgb_or_with_integer_rgb(seq: FrameSequence) -> None:
    write(seq.path(1001), channels=("Y",))
    with pytest.raises(MediaError, match="R, G and B channels.*found channels Y.*convert"):
        PlateCheck(seq).header(1001, read_header(seq.path(1001)))
    # integer channels are legal OpenEXR (IDs); our writer refuses them, so OIIO direct
    spec = oiio.ImageSpec(32, 24, 3, oiio.UINT)
    out = oiio.ImageOutput.create(str(seq.path(1002)))
    out.open(str(seq.path(1002)), spec)
    out.write_image(np.full((24, 32, 3), 3, np.uint32))
    out.close()
    with pytest.raises(MediaError, match="R, G, B as half or float"):
        PlateCheck(seq).header(1002, read_header(seq.path(1002)))


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_the_bit_check_finds_what_isfinite_finds(seq: FrameSequence, dtype, value) -> None:
    # the fast path reads exponent bits; a value there in R, G or B is refused as before,
    # the same value in another channel (depth, IDs) is not
    image = read_exr(seq.path(1003), dtype=np.dtype(dtype).name)
    image.pixels[3, 4, 2] = value
    with pytest.raises(MediaError, match=r"1 pixels with NaN or Inf, first at x=4 y=3"):
        PlateCheck(seq).image(1003, image)
    extra = image.replace(pixels=np.concatenate([read_exr(seq.path(1003), dtype=np.dtype(
        dtype).name).pixels, np.full((24, 32, 1), value, dtype)], axis=-1),
        channels=("R", "G", "B", "Z"))
    PlateCheck(seq).image(1003, extra)
    # the largest finite half and float values have exponent bits short of all set
    image.pixels[3, 4, 2] = np.finfo(dtype).max
    PlateCheck(seq).image(1003, image)


def test_only_rgb_is_checked_whatever_the_channel_order(seq: FrameSequence) -> None:
    """A NaN in another channel passes; one in R found where R is not first is named."""
    pixels = np.full((24, 32, 4), 0.5, np.float32)
    image = ExrImage(pixels=pixels, channels=("A", "B", "G", "R"), data_window=(0, 0, 32, 24),
                     display_window=(0, 0, 32, 24), attributes=[], compression="zip")
    pixels[1, 1, 0] = np.nan
    PlateCheck(seq).image(1001, image)
    pixels[3, 4, 3] = np.inf
    with pytest.raises(MediaError, match=r"1 pixels with NaN or Inf, first at x=4 y=3"):
        PlateCheck(seq).image(1001, image)


def test_some_rows_name_the_pixel_in_the_frame(seq: FrameSequence) -> None:
    """Track checks the rows it decodes (a band): the pixel is named in plate pixels."""
    band = np.full((6, 32, 3), 0.5, np.float16)
    band[4, 9, 2] = np.inf
    with pytest.raises(MediaError, match=r"1 pixels with NaN or Inf, first at x=9 y=14"):
        PlateCheck(seq).finite(1002, band, ("R", "G", "B"), (0, 10, 32, 6))
    PlateCheck(seq).finite(1002, band[:4], ("R", "G", "B"), (0, 10, 32, 4))
