"""Frames written back from their plate by splicing: only the band's rows encoded again,
every other row the plate's own compressed chunk."""

from __future__ import annotations

import numpy as np
import pytest

from vfx_double.errors import WorkAreaError
from vfx_double.io.exr import Attribute, ExrImage, read_exr, read_header, write_exr
from vfx_double.io.exr_chunks import NotSpliceable, layout, lines_per_chunk, splice, write_band

CHANNELS = ("R", "G", "B", "A")
#: a plate with overscan: its data window starts above and left of the display window
WINDOW = (-8, -16, 112, 144)
DISPLAY = (0, 0, 96, 112)


def plate(path, compression="zip", seed=0, tile_size=None):
    rng = np.random.default_rng(seed)
    pixels = rng.normal(0.3, 0.1, (WINDOW[3], WINDOW[2], 4)).astype(np.float16)
    write_exr(path, ExrImage(pixels=pixels, channels=CHANNELS, data_window=WINDOW,
                             display_window=DISPLAY, attributes=[Attribute("studio/note", "string",
                                                                           "Studio")],
                             compression=compression), tile_size=tile_size)
    return pixels


def band_of(pixels, top, bottom, compression="zip", value=0.75):
    """Rows ``top <= y < bottom`` (plate coordinates) of ``pixels``, a square painted in."""
    rows = pixels[top - WINDOW[1]:bottom - WINDOW[1]].copy()
    rows[2:-2, 10:40, :3] = value
    image = ExrImage(pixels=rows, channels=CHANNELS,
                     data_window=(WINDOW[0], top, WINDOW[2], bottom - top),
                     display_window=DISPLAY, compression=compression,
                     attributes=[Attribute("studio/note", "string", "Studio")])
    image.set_attribute("vfx_double/a_name_longer_than_thirty_one_characters", "comp", "string")
    return image


@pytest.mark.parametrize("compression", ["zip", "piz", "zips", "none"])
def test_the_band_is_re_encoded_and_every_other_row_is_the_plates_own_chunk(tmp_path,
                                                                            compression):
    lines = lines_per_chunk(compression)
    pixels = plate(tmp_path / "plate.exr", compression)
    top = WINDOW[1] + 2 * lines
    band = band_of(pixels, top, top + 2 * lines, compression)
    write_exr(tmp_path / "band.exr", band)
    splice(tmp_path / "plate.exr", tmp_path / "band.exr", tmp_path / "out.exr")

    out = read_exr(tmp_path / "out.exr", dtype=None)
    expected = pixels.copy()
    expected[top - WINDOW[1]:top - WINDOW[1] + 2 * lines] = band.pixels
    assert np.array_equal(out.pixels.view(np.uint16), expected.view(np.uint16))
    assert out.data_window == WINDOW and out.display_window == DISPLAY
    assert out.compression == compression
    assert out.attribute("vfx_double/a_name_longer_than_thirty_one_characters") == "comp"
    assert out.attribute("studio/note") == "Studio"
    # byte for byte: the plate's chunks outside the band, the band file's inside
    raw = {name: (tmp_path / f"{name}.exr").read_bytes() for name in ("plate", "band", "out")}
    got, whole, part = (layout(tmp_path / f"{n}.exr") for n in ("out", "plate", "band"))
    first = 2
    for i, (offset, length) in enumerate(got.chunks):
        source, (o, n) = (("band", part.chunks[i - first]) if first <= i < first + 2
                          else ("plate", whole.chunks[i]))
        assert raw["out"][offset:offset + length] == raw[source][o:o + n], (i, source)


def test_a_band_at_the_bottom_may_end_inside_a_chunk(tmp_path):
    pixels = plate(tmp_path / "plate.exr")
    bottom = WINDOW[1] + WINDOW[3]  # 144 rows: the last zip chunk has 0 rows past the end
    band = band_of(pixels, bottom - 16 - 16, bottom)
    write_exr(tmp_path / "band.exr", band)
    splice(tmp_path / "plate.exr", tmp_path / "band.exr", tmp_path / "out.exr")
    out = read_exr(tmp_path / "out.exr", dtype=None).pixels
    assert np.array_equal(out[-32:].view(np.uint16), band.pixels.view(np.uint16))
    assert np.array_equal(out[:-32].view(np.uint16), pixels[:-32].view(np.uint16))


@pytest.mark.parametrize("change, words", [
    ({"top": 8}, "start and end on the plate's chunks"),
    ({"compression": "piz"}, "compression differs"),
    ({"channels": ("R", "G", "B", "Z")}, "channels"),
    ({"width": 64}, "whole rows"),
])
def test_files_that_do_not_fit_together_are_not_spliced(tmp_path, change, words):
    pixels = plate(tmp_path / "plate.exr")
    top = change.get("top", 16)
    band = band_of(pixels, top, top + 32, change.get("compression", "zip"))
    if "channels" in change:
        band = band.replace(channels=change["channels"])
    if "width" in change:
        band = band.replace(pixels=band.pixels[:, :64].copy(),
                            data_window=(WINDOW[0], top, 64, 32))
    write_exr(tmp_path / "band.exr", band)
    with pytest.raises(NotSpliceable, match=words):
        splice(tmp_path / "plate.exr", tmp_path / "band.exr", tmp_path / "out.exr")
    assert not (tmp_path / "out.exr").exists()


def test_a_tiled_or_damaged_plate_is_not_spliced(tmp_path):
    plate(tmp_path / "tiled.exr", tile_size=(32, 32))
    with pytest.raises(NotSpliceable, match="tiled"):
        layout(tmp_path / "tiled.exr")
    plate(tmp_path / "plate.exr")
    data = (tmp_path / "plate.exr").read_bytes()
    (tmp_path / "cut.exr").write_bytes(data[:len(data) - 100])
    with pytest.raises(NotSpliceable, match="chunk 8 "):
        layout(tmp_path / "cut.exr")
    (tmp_path / "text.exr").write_bytes(b"not an image at all")
    with pytest.raises(NotSpliceable, match="not an OpenEXR"):
        layout(tmp_path / "text.exr")


def test_write_band_splices_or_falls_back_to_the_whole_frame(tmp_path):
    pixels = plate(tmp_path / "plate.exr")
    for top, spliced in ((16, True), (8, False)):  # 8: not on a chunk
        band = band_of(pixels, top, top + 32)
        out = tmp_path / f"out{top}.exr"
        assert write_band(out, band, tmp_path / "plate.exr", compression="zip",
                          pixel_type=["half"] * 4) is spliced
        got = read_exr(out, dtype=None)
        expected = pixels.copy()
        expected[top - WINDOW[1]:top - WINDOW[1] + 32] = band.pixels
        assert np.array_equal(got.pixels.view(np.uint16), expected.view(np.uint16)), top
        assert got.data_window == WINDOW
        assert read_header(out).attribute("studio/note") == "Studio"
    # never over an existing frame unless asked, and no temporary file is left behind
    with pytest.raises(WorkAreaError, match="an existing file"):
        write_band(tmp_path / "out16.exr", band_of(pixels, 16, 48), tmp_path / "plate.exr",
                   compression="zip")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out16.exr", "out8.exr",
                                                          "plate.exr"]


def test_a_header_longer_than_the_first_read_is_spliced(tmp_path):
    pixels = plate(tmp_path / "plate.exr")
    band = band_of(pixels, 16, 48)
    band.set_attribute("studio/notes", "n" * 100_000, "string")  # 100 KB of header
    write_exr(tmp_path / "band.exr", band)
    splice(tmp_path / "plate.exr", tmp_path / "band.exr", tmp_path / "out.exr")
    assert read_header(tmp_path / "out.exr").attribute("studio/notes") == "n" * 100_000
    head = (tmp_path / "band.exr").read_bytes()[:80_000]
    (tmp_path / "cut.exr").write_bytes(head)
    with pytest.raises(NotSpliceable, match="header cut short"):
        layout(tmp_path / "cut.exr")
