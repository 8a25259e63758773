"""The shot's grain: one model measured over the shot, a per-frame check, farm chunks."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.comp.test_stage import comp_frames, set_comp, shot, write_plate  # noqa: F401
from tests.comp.test_stage_detail import write_element
from vfx_double import acescct
from vfx_double.cli import main
from vfx_double.color import DEFAULT_CONFIG, ColourConfig
from vfx_double.comp import grain, shot_grain
from vfx_double.comp.blend import CompColour
from vfx_double.comp.record import read_frame_record
from vfx_double.comp.stage import comp_shot
from vfx_double.errors import WorkAreaError

FRAMES = range(1001, 1009)
W, H, BOX = 256, 192, (96, 64, 64, 64)
STD = 0.02
#: the frame whose grain is twice the rest's (not one of the frames the shot is measured on)
ODD = 1004


def grainy_shot(shot, odd_factor: float = 2.0) -> None:
    """A grey ACEScg plate with grain of std STD (ACEScct, size 0.6 px) on every frame,
    ``odd_factor`` times that on ODD, and a flat element over BOX."""
    shot.edit("[1001, 1005]", f"[{FRAMES[0]}, {FRAMES[-1]}]")
    grey = acescct.encode(np.float32(0.18))
    for frame in FRAMES:
        std = STD * (odd_factor if frame == ODD else 1.0)
        model = grain.GrainModel((std,) * 3, 0.6, ((1.0, 0.4, 0.4), (0.4, 1.0, 0.4),
                                                   (0.4, 0.4, 1.0)))
        code = grey + grain.synthesise(model, (H, W), seed=frame)
        px = np.concatenate([acescct.decode(code), np.ones((H, W, 1), np.float32)], -1)
        write_plate(shot.plate_dir, frame, px.astype(np.float16), display=(0, 0, W, H))
        write_element(shot.render, frame, 0.18, s=1.0, box=BOX, display=(0, 0, W, H))
    set_comp(shot, colour_match="none", grain="on", detail="off")


def test_pick_spreads_over_the_shot() -> None:
    assert shot_grain.pick(list(range(1001, 1009))) == [1001, 1003, 1006, 1008]
    assert shot_grain.pick([1001, 1002]) == [1001, 1002]
    assert shot_grain.pick([]) == []


def test_one_model_for_the_shot_and_its_own_for_a_frame_that_differs(shot):
    grainy_shot(shot)
    report = comp_shot(shot.config, keyring=shot.keyring)
    saved = json.loads((report.folder / "grain.json").read_text())
    assert saved["schema"] == "ShotGrain.1" and saved["frames"] == [1001, 1003, 1006, 1008]
    model = grain.GrainModel.from_dict(saved["model"])
    np.testing.assert_allclose(model.std, STD, rtol=0.1)
    assert report.own_grain == [ODD]
    assert any(str(ODD) in line and "grain" in line for line in report.lines())
    for frame in FRAMES:
        used = read_frame_record(report.folder, frame)["grain"]
        if frame == ODD:
            np.testing.assert_allclose(used["std"], 2 * STD, rtol=0.1)
        else:
            assert used == model.to_dict()


def test_the_face_carries_the_grain_it_was_given(shot):
    # the shot's grain on an ordinary frame, the frame's own (twice as strong) on ODD:
    # the flat element's inside must show each, measured in ACEScct
    grainy_shot(shot)
    out = comp_frames(comp_shot(shot.config, keyring=shot.keyring))
    x, y, w, h = BOX
    inside = (slice(y + 12, y + h - 12), slice(x + 12, x + w - 12))
    for frame, expected in ((1002, STD), (ODD, 2 * STD)):
        code = acescct.encode(out[frame].pixels[inside][..., :3].astype(np.float32))
        np.testing.assert_allclose(code.reshape(-1, 3).std(axis=0), expected, rtol=0.15)


def test_chunks_measure_the_same_shot_grain_as_a_whole_run(shot):
    grainy_shot(shot, odd_factor=1.0)
    whole = comp_shot(shot.config, keyring=shot.keyring)
    before = {f: p.pixels for f, p in comp_frames(whole).items()}
    saved = (whole.folder / "grain.json").read_text()
    for path in whole.folder.glob("sh010_comp_*.exr"):
        path.unlink()
    (whole.folder / "grain.json").unlink()
    for chunk in ((1005, 1008), (1001, 1004)):  # the later chunk first: no order assumed
        report = comp_shot(shot.config, keyring=shot.keyring, frames=chunk)
        assert report.folder == whole.folder
    assert (whole.folder / "grain.json").read_text() == saved
    for frame, pixels in comp_frames(whole).items():
        assert np.array_equal(pixels.pixels, before[frame]), frame


def test_a_damaged_grain_record_is_refused_with_what_to_do(shot, capsys):
    grainy_shot(shot, odd_factor=1.0)
    report = comp_shot(shot.config, keyring=shot.keyring)
    (report.folder / "grain.json").write_text('{"schema": "ShotGrain.1", "model": 3}')
    (report.folder / "sh010_comp_v001.1002.exr").unlink()
    with pytest.raises(WorkAreaError, match="grain.json.*delete grain.json"):
        comp_shot(shot.config, keyring=shot.keyring)
    assert main(["comp", str(shot.config), "--keyring", str(shot.keyring)]) == 2
    assert "grain.json" in capsys.readouterr().err


def test_grain_off_measures_nothing(shot):
    grainy_shot(shot, odd_factor=1.0)
    shot.edit("grain: on", "grain: off")
    report = comp_shot(shot.config, keyring=shot.keyring)
    assert not (report.folder / "grain.json").exists() and report.own_grain == []


def test_strip_blocks_spread_top_to_bottom_and_miss_the_face(shot):
    # R holds each pixel's row, G is 9 inside the face box: the blocks' rows say where they
    # came from, and none may hold a face pixel
    h, w, face = 300, 400, (150, 100, 120, 90)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    px = np.stack([yy, np.zeros_like(yy), np.zeros_like(yy), np.ones_like(yy)], -1)
    px[face[1]:face[1] + face[3], face[0]:face[0] + face[2], 1] = 9.0
    write_plate(shot.plate_dir, 1001, px.astype(np.float32), display=(0, 0, w, h))
    identity = CompColour(ColourConfig.load(DEFAULT_CONFIG), "ACEScg", "ACEScg", "ACEScg")
    found = shot_grain.strip_blocks(shot.plate_dir / "plate.1001.exr", 1001, face, identity)
    assert found is not None and found.shape[1:] == (32, 32, 3)
    rows = acescct.decode(found[:, :, 0, 0])  # each block's rows, back to linear
    tops = sorted({int(round(r)) for r in rows[:, 0]})
    assert len(tops) == shot_grain.STRIPS and tops[0] == 0 and tops[-1] >= h - 32 - 16
    assert all(t % 16 == 0 for t in tops)  # whole EXR chunks
    assert not np.isclose(acescct.decode(found[..., 1]), 9.0).any()
    # the strips that cross the face lose only the blocks that would touch it
    assert shot_grain.STRIP_BLOCKS * 4 < len(found) < shot_grain.STRIP_BLOCKS * shot_grain.STRIPS
