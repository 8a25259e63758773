"""The comp stage on hand-made plates and elements: known answers, passthrough, reruns."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.shots import make_shot
from vfx_double.cli import main
from vfx_double.comp.stage import comp_shot
from vfx_double.errors import LicenceError, MediaError, WorkAreaError
from vfx_double.face.element import CHANNELS
from vfx_double.face.element import SCHEMA_TAG as SCHEMA
from vfx_double.io.exr import Attribute, ExrImage, read_exr, read_header, write_exr

FRAMES = range(1001, 1006)
W, H = 96, 64
BOX = (30, 16, 40, 32)  # element data window: x, y, w, h


def write_plate(folder, frame, pixels, channels=("R", "G", "B", "A"), window=None,
                display=(0, 0, W, H), formats=None, attributes=()):
    window = window or display
    write_exr(folder / f"plate.{frame:04d}.exr",
              ExrImage(pixels=pixels, channels=channels, data_window=window,
                       display_window=display, attributes=list(attributes), compression="piz"),
              pixel_type=formats, overwrite=True)


def write_element(folder, frame, colour, alpha, matte, box=BOX, face=1, display=(0, 0, W, H)):
    h, w = box[3], box[2]
    colour = np.broadcast_to(np.asarray(colour, np.float32), (h, w, 3))
    alpha = np.broadcast_to(np.asarray(alpha, np.float32), (h, w))
    matte = np.broadcast_to(np.asarray(matte, np.float32), (h, w))
    pixels = np.concatenate([colour * alpha[..., None], alpha[..., None], matte[..., None]], -1)
    attrs = [Attribute("vfx_double/schema", "string", SCHEMA),
             Attribute("vfx_double/face", "int", face),
             Attribute("vfx_double/modelHash", "string", "ab" * 32),
             Attribute("vfx_double/licenceId", "string", "TEST-0001"),
             Attribute("vfx_double/frame", "int", frame)]
    write_exr(folder / f"face.{frame:04d}.exr",
              ExrImage(pixels=pixels.astype(np.float16), channels=CHANNELS, data_window=box,
                       display_window=display, attributes=attrs), overwrite=True)


@pytest.fixture
def shot(tmp_path):
    s = make_shot(tmp_path)
    s.edit("colourspace: ARRI LogC3 (EI800)", "colourspace: ACEScg")
    render = tmp_path / "work" / "SHOW" / "sh010" / "render" / "v001"
    render.mkdir(parents=True)
    (render / "options.json").write_text(json.dumps({
        "schema": "RenderOptions.1", "weights_sha256": "ab" * 32, "licence_id": "TEST-0001"}))
    s.render = render
    return s


def set_comp(shot, **values):
    lines = "".join(f"  {k}: {v}\n" for k, v in values.items())
    shot.config.write_text(shot.config.read_text() + "comp:\n" + lines)


def constant_shot(shot, plate=0.2, colour=0.8, alpha=1.0, matte=1.0):
    for frame in FRAMES:
        px = np.full((H, W, 4), plate, np.float16)
        px[..., 3] = 1.0
        write_plate(shot.plate_dir, frame, px)
        write_element(shot.render, frame, colour, alpha, matte)


def comp_frames(report):
    return {f: read_exr(report.folder / f"sh010_comp_{report.folder.name}.{f:04d}.exr",
                        dtype=None) for f in report.frames}


@pytest.mark.parametrize("mix", [1.0, 0.5])
def test_constant_element_over_constant_plate_gives_the_analytic_result(shot, mix):
    constant_shot(shot)
    set_comp(shot, mix=mix, feather=0, erode=0, colour_match="none", grain="off")
    report = comp_shot(shot.config, keyring=shot.keyring)
    out = comp_frames(report)[1003]
    x, y, w, h = BOX
    inside = out.pixels[y + 2:y + h - 2, x + 2:x + w - 2].astype(np.float32)
    want = mix * 0.8 + (1 - mix) * 0.2
    assert np.allclose(inside[..., :3], np.float16(want), atol=1e-3)
    assert np.allclose(inside[..., 3], 1.0)
    assert out.attribute("vfx_double/synthetic") == 1
    assert out.attribute("vfx_double/licenceId") == "TEST-0001"
    assert out.attribute("vfx_double/modelHash") == "ab" * 32
    assert len(out.attribute("vfx_double/configHash")) == 64


def test_premultiplied_element_is_unpremultiplied_and_matted(shot):
    # Element coverage 0.5 with premultiplied colour, raw matte 0.6, mix 0.5: the comp uses
    # colour 0.8 (not 0.4) under an effective matte of 0.6 * 0.5 * 0.5.
    constant_shot(shot, plate=0.1, colour=0.8, alpha=0.5, matte=0.6)
    set_comp(shot, mix=0.5, feather=0, erode=0, colour_match="none", grain="off")
    out = comp_frames(comp_shot(shot.config, keyring=shot.keyring))[1001]
    x, y, w, h = BOX
    m = 0.6 * 0.5 * 0.5
    got = out.pixels[y + 5, x + 5].astype(np.float32)
    assert np.allclose(got[:3], 0.8 * m + 0.1 * (1 - m), atol=2e-3)
    assert np.isclose(got[3], m + 1.0 * (1 - m), atol=2e-3)


def test_untouched_pixels_aovs_overscan_and_header_pass_through(shot):
    rng = np.random.default_rng(1)
    channels = ("R", "G", "B", "A", "Z", "diffuse.R")
    display = (0, 0, W, H)
    window = (-8, -6, W + 16, H + 12)  # overscan on every side
    formats = ["half", "half", "half", "half", "float", "half"]
    attrs = [Attribute("camera:lens", "string", "35mm"), Attribute("capDate", "string", "2026")]
    plates = {}
    for frame in FRAMES:
        px = rng.uniform(0.05, 0.9, (H + 12, W + 16, 6)).astype(np.float32)
        px[..., 4] = rng.uniform(1.0, 1e4, px.shape[:2])  # depth needs float32
        write_plate(shot.plate_dir, frame, px, channels, window, display, formats, attrs)
        plates[frame] = read_exr(shot.plate_dir / f"plate.{frame:04d}.exr", dtype=None)
        write_element(shot.render, frame, (0.5, 0.4, 0.3), 1.0, _disc(BOX))
    set_comp(shot, feather=2, colour_match="rct", grain="on")
    report = comp_shot(shot.config, keyring=shot.keyring)
    for frame, out in comp_frames(report).items():
        plate = plates[frame]
        assert out.channels == channels and out.data_window == window
        assert out.display_window == display
        header = read_header(report.folder / f"sh010_comp_v001.{frame:04d}.exr")
        assert list(header.channel_formats) == formats
        assert header.compression == "piz"
        assert header.attribute("camera:lens") == "35mm"
        changed = np.any(out.pixels != plate.pixels, axis=2)
        ys, xs = np.nonzero(changed)
        # Only R, G, B, A inside the (feathered) element box changed; Z and AOVs never.
        assert changed.any()
        bx, by = BOX[0] - window[0], BOX[1] - window[1]
        assert xs.min() >= bx - 8 and xs.max() < bx + BOX[2] + 8
        assert ys.min() >= by - 8 and ys.max() < by + BOX[3] + 8
        assert np.array_equal(out.pixels[..., 4:], plate.pixels[..., 4:])


def _disc(box):
    h, w = box[3], box[2]
    yy, xx = np.mgrid[0:h, 0:w]
    return (((yy - h / 2) / (h / 2.5)) ** 2 + ((xx - w / 2) / (w / 2.5)) ** 2 < 1).astype(np.float32)


def test_element_with_nan_is_refused_naming_the_frame(shot, capsys):
    constant_shot(shot)
    colour = np.full((BOX[3], BOX[2], 3), 0.5, np.float32)
    colour[3, 4, 1] = np.nan
    write_element(shot.render, 1004, colour, 1.0, 1.0)
    with pytest.raises(MediaError, match=r"frame 1004.*NaN or inf, first at x=34 y=19"):
        comp_shot(shot.config, keyring=shot.keyring)
    assert main(["comp", str(shot.config), "--keyring", str(shot.keyring)]) == 2
    assert "1004" in capsys.readouterr().err


def test_missing_element_frames_are_named(shot):
    constant_shot(shot)
    (shot.render / "face.1002.exr").unlink()
    (shot.render / "face.1003.exr").unlink()
    with pytest.raises(MediaError, match="missing frames 1002-1003"):
        comp_shot(shot.config, keyring=shot.keyring)


def test_rerun_rewrites_exactly_the_deleted_frames_and_reproduces_them(shot):
    rng = np.random.default_rng(2)
    for frame in FRAMES:
        px = np.clip(0.3 + 0.02 * rng.standard_normal((H, W, 4)), 0, 1).astype(np.float16)
        write_plate(shot.plate_dir, frame, px)
        write_element(shot.render, frame, (0.6 + 0.01 * frame % 3, 0.5, 0.4), 1.0, _disc(BOX))
    set_comp(shot, colour_match="rct", grain="on")
    first = comp_shot(shot.config, keyring=shot.keyring)
    paths = {f: first.folder / f"sh010_comp_v001.{f:04d}.exr" for f in FRAMES}
    before = {f: read_exr(p, dtype=None).pixels for f, p in paths.items()}
    stamps = {f: p.stat().st_mtime_ns for f, p in paths.items()}
    paths[1002].unlink()
    paths[1004].write_bytes(paths[1004].read_bytes()[:300])  # truncated: unreadable
    second = comp_shot(shot.config, keyring=shot.keyring)
    assert second.folder == first.folder
    assert second.written == [1002, 1004]
    assert second.kept == [1001, 1003, 1005]
    for f in (1001, 1003, 1005):
        assert paths[f].stat().st_mtime_ns == stamps[f]
    for f in (1002, 1004):
        # Grain seeded per frame and stats that depend only on nearby frames: same bytes.
        assert np.array_equal(read_exr(paths[f], dtype=None).pixels, before[f])
    third = comp_shot(shot.config, keyring=shot.keyring)
    assert third.written == [] and third.folder == first.folder


def test_changed_settings_make_a_new_version_and_keep_the_old(shot):
    constant_shot(shot)
    set_comp(shot, mix=1.0, colour_match="none", grain="off")
    first = comp_shot(shot.config, keyring=shot.keyring, frames=(1001, 1002))
    shot.edit("mix: 1.0", "mix: 0.5")
    second = comp_shot(shot.config, keyring=shot.keyring, frames=(1001, 1002))
    assert first.folder.name == "v001" and second.folder.name == "v002"
    assert (first.folder / "sh010_comp_v001.1001.exr").exists()
    assert (second.folder / "sh010_comp_v002.1001.exr").exists()


def test_frames_without_a_face_pass_the_plate_through_bit_exact(shot):
    constant_shot(shot)
    write_element(shot.render, 1003, 0.0, 0.0, 0.0, box=(0, 0, 1, 1), face=0)
    report = comp_shot(shot.config, keyring=shot.keyring)
    assert report.passed_through == [1003]
    out = comp_frames(report)[1003]
    plate = read_exr(shot.plate_dir / "plate.1003.exr", dtype=None)
    assert np.array_equal(out.pixels, plate.pixels)
    assert out.attribute("vfx_double/face") == 0


def test_licence_without_render_is_refused(shot):
    from tests.shots import issue_licence

    constant_shot(shot)
    issue_licence(shot.key, shot.licence, uses=("train", "film"))
    with pytest.raises(LicenceError, match="render"):
        comp_shot(shot.config, keyring=shot.keyring)


def test_output_colourspace_other_than_the_plate_converts_the_whole_frame(shot):
    shot.edit("colourspace: ACEScg", "colourspace: ARRI LogC3 (EI800)")
    rng = np.random.default_rng(3)
    for frame in FRAMES:
        px = rng.uniform(0.2, 0.6, (H, W, 4)).astype(np.float16)
        write_plate(shot.plate_dir, frame, px)
        write_element(shot.render, frame, 0.5, 1.0, _disc(BOX))
    shot.config.write_text(shot.config.read_text() + "colour:\n  output: ACEScg\n")
    set_comp(shot, colour_match="none", grain="off", feather=0)
    out = comp_frames(comp_shot(shot.config, keyring=shot.keyring))[1002]
    plate = read_exr(shot.plate_dir / "plate.1002.exr")
    from vfx_double.color import DEFAULT_CONFIG, ColourConfig

    want = ColourConfig.load(DEFAULT_CONFIG).convert(
        np.ascontiguousarray(plate.pixels[..., :3]), "ARRI LogC3 (EI800)", "ACEScg")
    got = out.pixels[..., :3].astype(np.float32)
    assert np.allclose(got[:8], want[:8], rtol=2e-3, atol=1e-4)  # rows above the face
    centre = (BOX[1] + BOX[3] // 2, BOX[0] + BOX[2] // 2)
    assert np.allclose(got[centre], 0.5, atol=2e-3)  # the face, in ACEScg
    assert out.attribute("vfx_double/colourspace") == "ACEScg"


def test_the_plates_own_provenance_cannot_be_read_as_the_comps() -> None:
    from vfx_double.comp.stage import plate_attributes

    plate = [Attribute("vfx_double/source", "string", "clip.mp4"),
             Attribute("vfx_double/colourspace", "string", "ARRI LogC3 (EI800)"),
             Attribute("vfx_double/plate/source", "string", "older.mp4"),
             Attribute("nuke/node_hash", "string", "abc"),
             Attribute("owner", "string", "Studio")]
    got = [(a.name, a.value) for a in plate_attributes(plate)]
    assert got == [("vfx_double/plate/source", "clip.mp4"),
                   ("vfx_double/plate/colourspace", "ARRI LogC3 (EI800)"),
                   ("nuke/node_hash", "abc"), ("owner", "Studio")]


def test_a_nan_plate_frame_is_refused_and_spreads_nothing(shot):
    # issue 11 case 2: a NaN in one plate frame spread through the colour statistics and
    # the matte's blur into 73k pixels, exit 0
    constant_shot(shot)
    set_comp(shot, colour_match="rct")
    bad = np.full((H, W, 4), 0.2, np.float16)
    bad[..., 3] = 1.0
    bad[20, 40, 1] = np.nan
    write_plate(shot.plate_dir, 1003, bad)
    with pytest.raises(MediaError, match=r"plate.1003.exr \(frame 1003\).*first at x=40 y=20"):
        comp_shot(shot.config, keyring=shot.keyring)
    # the frames before it were written, and none holds a NaN
    written = sorted(shot.render.parent.parent.joinpath("comp").rglob("*.exr"))
    assert [p.name[-8:-4] for p in written] == ["1001", "1002"]
    for path in written:
        assert np.isfinite(read_exr(path, dtype=None).pixels).all()


def test_a_frame_of_another_size_is_refused(shot):
    # issue 11 case 1: a 1280x720 frame in a 1920x1080 plate got the face pasted beside
    # the real one
    constant_shot(shot)
    small = np.full((H // 2, W // 2, 4), 0.2, np.float16)
    write_plate(shot.plate_dir, 1004, small, display=(0, 0, W // 2, H // 2))
    with pytest.raises(MediaError, match=r"frame 1004.*size of frame 1001.*96x64.*found 48x32"):
        comp_shot(shot.config, keyring=shot.keyring, frames=(1004, 1005))


@pytest.mark.parametrize("attribute, value, words", [
    ("frame", 1002, "vfx_double/frame"),                     # copied over another frame
    ("modelHash", "cd" * 32, "vfx_double/modelHash"),        # from another model
    ("licenceId", "EDITED-9", "vfx_double/licenceId"),       # its licence id edited
    ("render", "v007", "vfx_double/render"),                 # from another render version
])
def test_an_element_that_is_not_the_renders_own_is_refused(shot, attribute, value, words):
    # issue 11 case 6: such elements were comped with exit 0 and a false provenance header
    constant_shot(shot)
    path = shot.render / "face.1003.exr"
    image = read_exr(path, dtype=None)
    image.set_attribute(f"vfx_double/{attribute}", value,
                        "int" if isinstance(value, int) else "string")
    write_exr(path, image, overwrite=True)
    with pytest.raises(MediaError, match=words):
        comp_shot(shot.config, keyring=shot.keyring)


def test_render_options_that_render_did_not_write_are_refused(shot):
    constant_shot(shot)
    (shot.render / "options.json").write_text(json.dumps({"schema": "RenderOptions.1"}))
    with pytest.raises(WorkAreaError, match="weights_sha256 and licence_id"):
        comp_shot(shot.config, keyring=shot.keyring)
