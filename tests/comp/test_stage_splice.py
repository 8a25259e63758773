"""The comp decodes and encodes only the face's rows; every other row of the output is the
plate's own compressed chunk (vfx_double.io.exr_chunks)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from tests.comp.test_stage import FRAMES, _disc, comp_frames, set_comp, shot  # noqa: F401
from tests.comp.test_stage import write_element as write_flat_element
from vfx_double.comp import stage
from vfx_double.comp.stage import comp_shot
from vfx_double.io.exr import Attribute, ExrImage, read_exr, write_exr
from vfx_double.io.exr_chunks import layout

W, H = 128, 224
#: overscan: the data window starts above and left of the display window
WINDOW = (-8, -16, W + 16, H + 32)
BOX = (40, 100, 40, 40)
CHANNELS = ("R", "G", "B", "A", "Z")


def tall_shot(shot, nan_at=None):
    rng = np.random.default_rng(7)
    for frame in FRAMES:
        px = rng.normal(0.3, 0.03, (WINDOW[3], WINDOW[2], 5)).astype(np.float32)
        px[..., 3] = 1.0
        px[..., 4] = rng.uniform(1.0, 1e4, px.shape[:2])
        if nan_at and frame == 1003:
            px[nan_at[1] - WINDOW[1], nan_at[0] - WINDOW[0], 1] = np.nan
        write_exr(shot.plate_dir / f"plate.{frame:04d}.exr",
                  ExrImage(pixels=px, channels=CHANNELS, data_window=WINDOW,
                           # zip at level 1: re-encoded rows (zip's default level) would
                           # not have the plate's bytes, copied ones do
                           display_window=(0, 0, W, H), compression="zip:1",
                           attributes=[Attribute("camera:lens", "string", "35mm")]),
                  pixel_type=["half"] * 4 + ["float"], overwrite=True)
        write_flat_element(shot.render, frame, (0.5, 0.4, 0.3), 1.0, 1.0, box=BOX,
                           face=int(frame != 1004), display=(0, 0, W, H))
    set_comp(shot, feather=4, colour_match="rct", grain="on")


def copied(folder, plates, frame):
    """The chunks of the comp's frame that are byte for byte the plate's."""
    out = layout(folder / f"sh010_comp_v001.{frame}.exr")
    src = layout(plates / f"plate.{frame}.exr")
    out_bytes, src_bytes = out.path.read_bytes(), src.path.read_bytes()
    return {i for i, ((o, n), (po, pn)) in enumerate(zip(out.chunks, src.chunks))
            if out_bytes[o + 8:o + n] == src_bytes[po + 8:po + pn]}


def test_the_spliced_comp_is_the_whole_frame_comp_bit_for_bit(shot, monkeypatch):
    tall_shot(shot)
    report = comp_shot(shot.config, keyring=shot.keyring)
    spliced = comp_frames(report)
    # the face changed the frame, and the rows away from it are the plate's chunks
    plate = read_exr(shot.plate_dir / "plate.1002.exr", dtype=None).pixels
    assert not np.array_equal(spliced[1002].pixels, plate)
    # zip: 16 rows a chunk, rows -16..240; the face's rows 100-140 (with the matte's and
    # detail's margins) are in chunks 6-10, and the others are the plate's own bytes
    assert {0, 1, 2, 3, 11, 12, 13, 14, 15} <= copied(report.folder, shot.plate_dir, 1002)

    shutil.rmtree(report.folder)
    monkeypatch.setattr(stage, "_plate_rows", lambda *args: None)  # decode, write whole
    report = comp_shot(shot.config, keyring=shot.keyring)
    whole = comp_frames(report)
    # decoded and encoded again: the same pixels in other bytes
    assert not copied(report.folder, shot.plate_dir, 1002)
    for frame in FRAMES:
        a, b = spliced[frame], whole[frame]
        assert a.channels == b.channels == CHANNELS and a.data_window == WINDOW
        assert np.array_equal(a.pixels.view(np.uint32), b.pixels.view(np.uint32)), frame
        assert a.attributes == b.attributes
        assert a.attribute("camera:lens") == "35mm"
        assert a.attribute("vfx_double/face") == int(frame != 1004)


def test_a_nan_in_rows_the_comp_never_touches_passes_through_as_stored(shot):
    # behaviour: the comp checks the rows it decodes; rows it copies are the plate's bytes
    # (validate checks every pixel)
    tall_shot(shot, nan_at=(10, 0))
    out = comp_frames(comp_shot(shot.config, keyring=shot.keyring))[1003]
    assert np.isnan(out.pixels[0 - WINDOW[1], 10 - WINDOW[0], 1])
    assert np.isnan(out.pixels).sum() == 1


def test_a_nan_in_the_face_rows_is_still_refused(shot):
    from vfx_double.errors import MediaError

    tall_shot(shot, nan_at=(5, 110))
    with pytest.raises(MediaError, match=r"frame 1003.*first at x=5 y=110"):
        comp_shot(shot.config, keyring=shot.keyring)
