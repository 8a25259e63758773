"""comp.detail through the comp stage: where it turns on, what it touches, farm chunks,
grain level, and elements that cannot say their model's resolution."""

from __future__ import annotations

import numpy as np
import pytest

from tests.comp.test_stage import (
    FRAMES,
    comp_frames,
    set_comp,
    shot,  # noqa: F401  (the fixture)
    write_plate,
)
from vfx_double import acescct
from vfx_double.cli import main
from vfx_double.comp.blend import final_matte
from vfx_double.comp.stage import comp_shot
from vfx_double.config import Comp
from vfx_double.errors import MediaError
from vfx_double.face.element import CHANNELS, read_element
from vfx_double.face.element import SCHEMA_TAG as SCHEMA
from vfx_double.io.exr import Attribute, ExrImage, read_exr, write_exr

W, H = 128, 96
BOX = (36, 24, 56, 48)
CROP, RESOLUTION = 256, 64


def write_element(folder, frame, colour, s=None, box=BOX, display=(0, 0, W, H)):
    """A flat element whose model pixel spans ``s`` plate pixels (None: a header without
    the model's geometry)."""
    h, w = box[3], box[2]
    yy, xx = np.mgrid[0:h, 0:w]
    matte = (((yy - h / 2) / (h / 2.5)) ** 2 + ((xx - w / 2) / (w / 2.5)) ** 2 < 1)
    pixels = np.concatenate([np.broadcast_to(np.float32(colour), (h, w, 3)),
                             np.ones((h, w, 1)), matte[..., None]], -1)
    attrs = [Attribute("vfx_double/schema", "string", SCHEMA),
             Attribute("vfx_double/face", "int", 1),
             Attribute("vfx_double/modelHash", "string", "ab" * 32),
             Attribute("vfx_double/licenceId", "string", "TEST-0001"),
             Attribute("vfx_double/frame", "int", frame)]
    if s is not None:
        k = (CROP / RESOLUTION) / s
        attrs += [Attribute("vfx_double/matrix", "float[6]", (k, 0.0, -k * box[0], 0.0, k,
                                                               -k * box[1])),
                  Attribute("vfx_double/cropSize", "int", CROP),
                  Attribute("vfx_double/resolution", "int", RESOLUTION)]
    write_exr(folder / f"face.{frame:04d}.exr",
              ExrImage(pixels=pixels.astype(np.float16), channels=CHANNELS, data_window=box,
                       display_window=display, attributes=attrs), overwrite=True)


def textured_plates(shot, seed=0, level=0.18, texture=0.15):
    """ACEScg plates: mid-grey with fine random texture (in ACEScct), alpha 1."""
    rng = np.random.default_rng(seed)
    for frame in FRAMES:
        code = acescct.encode(np.float32(level)) + texture * rng.standard_normal((H, W, 3))
        px = np.concatenate([acescct.decode(code), np.ones((H, W, 1), np.float32)], -1)
        write_plate(shot.plate_dir, frame, px.astype(np.float16), display=(0, 0, W, H))


def plate(shot, frame):
    return read_exr(shot.plate_dir / f"plate.{frame:04d}.exr", dtype=None)


def core(box):
    """The element's inside, well within its matte and the feather."""
    x, y, w, h = box
    return slice(y + h // 2 - 8, y + h // 2 + 8), slice(x + w // 2 - 12, x + w // 2 + 12)


def test_detail_brings_the_plates_fine_detail_inside_the_matte_box_only(shot):
    textured_plates(shot)
    for frame in FRAMES:
        write_element(shot.render, frame, acescct.decode(np.float32(0.45)), s=8.0)
    set_comp(shot, feather=4, colour_match="none", grain="off", detail="on")
    look = Comp(feather=4, colour_match="none", grain=False, detail="on")
    on = comp_frames(comp_shot(shot.config, keyring=shot.keyring))
    shot.edit("detail: on", "detail: off")
    off = comp_frames(comp_shot(shot.config, keyring=shot.keyring))
    for frame in FRAMES:
        src = plate(shot, frame)
        element = read_element(shot.render / f"face.{frame:04d}.exr", frame)
        _, (x, y, w, h) = final_matte(element, look, src.data_window)
        outside = np.ones((H, W), bool)
        outside[y:y + h, x:x + w] = False
        assert np.array_equal(on[frame].pixels[outside], src.pixels[outside])
        ys, xs = core(BOX)
        plate_code = acescct.encode(src.pixels[ys, xs, :3].astype(np.float32)).ravel()
        on_code = acescct.encode(on[frame].pixels[ys, xs, :3].astype(np.float32)).ravel()
        off_code = acescct.encode(off[frame].pixels[ys, xs, :3].astype(np.float32)).ravel()
        # Off: the flat face. On: the face's level with the plate's own fine texture.
        assert off_code.std() < 2e-3
        assert abs(on_code.mean() - 0.45) < 0.01
        assert np.corrcoef(on_code, plate_code)[0, 1] > 0.8


def test_auto_turns_on_for_frames_where_a_model_pixel_spans_more_than_a_plate_pixel(shot):
    textured_plates(shot, seed=1)
    spans = {1001: 0.8, 1002: 1.0, 1003: 1.5, 1004: 4.0, 1005: 8.0}
    for frame, s in spans.items():
        write_element(shot.render, frame, 0.3, s=s)
    set_comp(shot, colour_match="none", grain="off", detail="auto")
    auto = comp_shot(shot.config, keyring=shot.keyring)
    shot.edit("detail: auto", "detail: off")
    off = comp_shot(shot.config, keyring=shot.keyring)
    shot.edit("detail: off", "detail: on")
    on = comp_shot(shot.config, keyring=shot.keyring)
    assert [r.folder.name for r in (auto, off, on)] == ["v001", "v002", "v003"]
    auto, off, on = (comp_frames(r) for r in (auto, off, on))
    for frame, s in spans.items():
        same_as_off = np.array_equal(auto[frame].pixels, off[frame].pixels)
        same_as_on = np.array_equal(auto[frame].pixels, on[frame].pixels)
        # auto is on above one plate pixel per model pixel; at or below it, on carries
        # nothing (the model's band is the plate's), so all three agree there
        assert same_as_on and same_as_off is (s <= 1), (frame, s)


def test_farm_chunks_equal_a_whole_shot_run_with_detail_and_grain(shot):
    textured_plates(shot, seed=2, texture=0.05)
    for frame in FRAMES:
        write_element(shot.render, frame, (0.25 + 0.01 * (frame % 3), 0.2, 0.15), s=6.0)
    set_comp(shot, colour_match="rct", grain="on", detail="on")
    whole = comp_shot(shot.config, keyring=shot.keyring)
    paths = {f: whole.folder / f"sh010_comp_v001.{f:04d}.exr" for f in FRAMES}
    before = {f: read_exr(p, dtype=None).pixels for f, p in paths.items()}
    for p in paths.values():
        p.unlink()
    for chunk in ((1001, 1002), (1003, 1005)):
        report = comp_shot(shot.config, keyring=shot.keyring, frames=chunk)
        assert report.folder == whole.folder
    for f, p in paths.items():
        assert np.array_equal(read_exr(p, dtype=None).pixels, before[f])


def test_detail_keeps_the_plates_grain_level_on_the_face(shot):
    # A flat grey plate with grain (ACEScct std 0.02, size 0.5 px) and a flat element of
    # the same grey, a model pixel over 12 plate pixels (most of the grain's band comes
    # from the plate): the comp's face must carry the plate's grain level. Tolerance 10%,
    # the grain estimate's own (tests/comp/test_grain.py); synthetic grain added whole
    # would be about 25% over.
    from vfx_double.comp import grain

    model = grain.GrainModel((0.02,) * 3, 0.5, ((1.0, 0.5, 0.5), (0.5, 1.0, 0.5),
                                                 (0.5, 0.5, 1.0)))
    big_w, big_h, box = 320, 256, (112, 80, 96, 96)
    grey = acescct.encode(np.float32(0.18))
    for frame in FRAMES:
        code = grey + grain.synthesise(model, (big_h, big_w), seed=frame)
        px = np.concatenate([acescct.decode(code), np.ones((big_h, big_w, 1), np.float32)], -1)
        write_plate(shot.plate_dir, frame, px.astype(np.float16), display=(0, 0, big_w, big_h))
    for frame in FRAMES:
        write_element(shot.render, frame, 0.18, s=12.0, box=box, display=(0, 0, big_w, big_h))
    set_comp(shot, colour_match="none", grain="on", detail="on")
    out = comp_frames(comp_shot(shot.config, keyring=shot.keyring))
    x, y, w, h = box
    ys, xs = slice(y + 30, y + h - 30), slice(x + 24, x + w - 24)
    for frame in (1001, 1003):
        face = acescct.encode(out[frame].pixels[ys, xs, :3].astype(np.float32))
        here = acescct.encode(plate(shot, frame).pixels[ys, xs, :3].astype(np.float32))
        np.testing.assert_allclose(face.reshape(-1, 3).std(axis=0),
                                   here.reshape(-1, 3).std(axis=0), rtol=0.10)


def test_detail_on_is_refused_for_elements_without_the_models_resolution(shot, capsys):
    textured_plates(shot, seed=3)
    for frame in FRAMES:
        write_element(shot.render, frame, 0.3, s=None)
    set_comp(shot, detail="on")
    with pytest.raises(MediaError, match=r"frame 1001.*resolution.*comp.detail to auto"):
        comp_shot(shot.config, keyring=shot.keyring)
    assert main(["comp", str(shot.config), "--keyring", str(shot.keyring)]) == 2
    assert "frame 1001" in capsys.readouterr().err
