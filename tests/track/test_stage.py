"""`vfx-double track` end to end: the demo shot, a real clip, and each bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vfx_double.audit import verify as verify_audit
from vfx_double.cli import main
from vfx_double.color import DEFAULT_CONFIG, ColourConfig
from vfx_double.demo import shot as demo_shot
from vfx_double.demo.plates import video_to_plates
from vfx_double.face import track as track_result
from vfx_double.io.exr import read_exr, write_exr
from vfx_double.io.sequences import FrameSequence
from vfx_double.track import coverage_report
from vfx_double.track.stage import track_shot

from ..shots import MiniShot, make_shot


def run(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> demo_shot.DemoShot:
    return demo_shot.build(tmp_path_factory.mktemp("demo"), frames=6)


@pytest.fixture(scope="module")
def tracked(demo: demo_shot.DemoShot):
    return track_shot(demo.config, qc=True, keyring=demo.keyring)


def test_demo_track_writes_track_faceset_qc_and_audit(demo, tracked) -> None:
    plate = track_result.load(tracked.track_dir / "track.json")
    actor = track_result.load(tracked.track_dir / "actor.json")
    assert plate.summary["found"] == 6 and actor.summary["found"] == 6
    assert plate.backend["name"] == "mediapipe"
    assert plate.performer["select"] == "largest" and plate.performer["chosen_on"] == 1001
    meta = json.loads((tracked.faceset_dir / "plate" / "meta.json").read_text())
    assert meta["schema"] == "FacesetMeta.1" and len(meta["crops"]) + sum(meta["skipped"].values()) == 6
    crop = read_exr(tracked.faceset_dir / "plate" / meta["crops"][0]["file"])
    assert crop.channels == ("R", "G", "B", "mask") and crop.pixels.shape == (256, 256, 4)
    assert crop.attribute("vfx_double/colourspace") == "ACEScct"
    mask = crop.channel("mask")
    assert mask[128, 128] > 0.9 and mask[2, 2] < 0.1
    names = sorted(p.name for p in tracked.qc_files)
    assert names == ["actor_contact.png", "actor_preview.mp4", "coverage.png", "plate_contact.png",
                     "plate_preview.mp4"]
    cover = coverage_report.load(tracked.track_dir / "coverage.json")
    assert cover.frames == plate.frames and cover.actor["used"] == len(
        json.loads((tracked.faceset_dir / "actor" / "meta.json").read_text())["crops"])
    assert any(line.startswith("coverage: actor reference covers") for line in tracked.lines())
    assert verify_audit(Path(demo.root / "work" / "DEMO" / "sh010" / "audit.jsonl")) == 1


def test_demo_track_follows_the_known_camera_move(demo, tracked) -> None:
    """Landmarks carried back through the known matrices land on one still face."""
    from vfx_double.demo import camera

    truth = json.loads((demo.root / "truth" / "camera.json").read_text())
    plate = track_result.load(tracked.track_dir / "track.json")
    back = []
    for i, frame in enumerate(plate.frames):
        inverse = np.linalg.inv(np.vstack([truth["plate"][str(frame)], [0, 0, 1]]))[:2]
        back.append(camera.apply(inverse, plate.points[i]))
    back = np.array(back)
    eye = np.linalg.norm(back[:, 36] - back[:, 45], axis=1).mean()
    spread = np.linalg.norm(back - back.mean(0), axis=2).mean() / eye
    assert spread < 0.03, f"landmarks swim by {spread:.3f} eye distances against the known move"


def test_aligned_crops_are_stable(tracked) -> None:
    meta = json.loads((tracked.faceset_dir / "plate" / "meta.json").read_text())
    marks = np.array([c["landmarks"] for c in meta["crops"]])
    # The eye corners sit at the same crop pixels on every frame, whatever the camera did.
    assert np.abs(marks[:, [36, 45]] - marks[:, [36, 45]].mean(0)).max() < 3.0


def test_rerun_makes_new_versions(demo, tracked) -> None:
    # pass one's scratch folder (its kept pixels) of a run that was killed: swept
    stale = tracked.track_dir.parent / ".pass-one.tmp-999999999-0"
    stale.mkdir()
    (stale / "plate.raw").write_bytes(b"\0" * 64)
    again = track_shot(demo.config, frames=(1002, 1004), keyring=demo.keyring)
    assert again.track_dir.name == "v002" and tracked.track_dir.name == "v001"
    assert sorted(p.name for p in again.track_dir.parent.iterdir()) == ["v001", "v002"]
    assert track_result.load(again.track_dir / "track.json").frames == [1002, 1003, 1004]
    assert (tracked.track_dir / "track.json").is_file()


def test_real_clip(shared_data: Path, tmp_path: Path) -> None:
    """A real talking head imported as LogC3 EXR: found on every frame, faceset written."""
    shot = make_shot(tmp_path)
    colour = ColourConfig.load(DEFAULT_CONFIG)
    seq = FrameSequence(str(tmp_path / "clip" / "lp_d3.####.exr"))
    video_to_plates(shared_data / "video" / "lp_d3.mp4", seq, colour=colour,
                    colourspace="ARRI LogC3 (EI800)", max_frames=8)
    shot.edit("../../plates/plate.####.exr", "../../clip/lp_d3.####.exr")
    shot.edit("[1001, 1005]", "[1001, 1008]")
    shot.edit("../../ref/ref.%04d.exr", "../../clip/lp_d3.####.exr")
    shot.edit("colourspace: ACEScg", "colourspace: ARRI LogC3 (EI800)")
    shot.approve(seq.pattern)  # same-identity reconstruction: the licence names this clip
    report = track_shot(shot.config, keyring=shot.keyring)
    plate = report.results["plate"]
    assert plate.summary["found"] == 8
    eye = np.linalg.norm(plate.points[:, 36] - plate.points[:, 45], axis=1)
    assert 80 < eye.mean() < 300, "a 512 px talking head's eyes are ~100-200 px apart"


# Bad input: a clear one-line error and exit 2.

@pytest.fixture
def mini(tmp_path: Path) -> MiniShot:
    return make_shot(tmp_path)


def fails(capsys, *args: object) -> str:
    code, _, err = run(capsys, "track", *args)
    lines = [line for line in err.splitlines() if line.strip() and "EXR_ERR" not in line]
    assert code == 2, err
    assert len(lines) == 1, err
    return lines[0]


def test_no_face_ever(capsys, mini: MiniShot) -> None:
    line = fails(capsys, mini.config, "--keyring", mini.keyring)
    assert "no face on any frame" in line and "1001-1005" in line


def test_frame_range_outside_the_plate(capsys, mini: MiniShot) -> None:
    line = fails(capsys, mini.config, "--keyring", mini.keyring, "--frames", "990-1003")
    assert "1001-1005" in line and "990-1003" in line


def test_nan_pixels_name_the_frame(capsys, mini: MiniShot) -> None:
    frame = mini.plate_dir / "plate.1003.exr"
    image = read_exr(frame, dtype=None)
    pixels = image.pixels.copy()
    pixels[5, 7, 1] = np.nan
    pixels[9, 9, 0] = np.inf
    write_exr(frame, image.replace(pixels=pixels), overwrite=True)
    line = fails(capsys, mini.config, "--keyring", mini.keyring)
    assert "plate.1003.exr (frame 1003)" in line and "2 pixels" in line


def test_fan_without_weights(capsys, mini: MiniShot, tmp_path: Path) -> None:
    mini.edit("plate:\n", f"track:\n  backend: fan\n  weights: {tmp_path / 'no_weights'}\nplate:\n")
    line = fails(capsys, mini.config, "--keyring", mini.keyring)
    assert "no_weights" in line and ".safetensors" in line


def test_actor_reference_matching_nothing(capsys, mini: MiniShot) -> None:
    mini.edit("../../ref/ref.%04d.exr", "../../ref/reff.%04d.exr")
    line = fails(capsys, mini.config, "--keyring", mini.keyring)
    assert "reff.%04d.exr" in line and "sh010.yaml:13" in line


def test_landmarks_are_in_plate_pixels_with_overscan(demo, tmp_path: Path) -> None:
    """The same pixels stored with a data window starting at (-64, -32) (overscan) give
    landmarks 64 px left and 32 px up in plate (display-window) coordinates."""
    from vfx_double import config as config_mod
    from vfx_double.track.backends import get_backend
    from vfx_double.track.run import pass_one

    cfg = config_mod.load(demo.config)
    colour = ColourConfig.load(DEFAULT_CONFIG)
    plate = FrameSequence(str(demo.plate))
    over = FrameSequence(str(tmp_path / "over.####.exr"))
    for frame in (1001, 1002):
        image = read_exr(plate.path(frame), dtype=None)
        x, y, w, h = image.data_window
        write_exr(over.path(frame), image.replace(data_window=(x - 64, y - 32, w, h)))
    with get_backend("mediapipe") as backend:
        a = pass_one(plate, [1001, 1002], "ARRI LogC3 (EI800)", colour, backend, cfg, cfg.performer)
        b = pass_one(over, [1001, 1002], "ARRI LogC3 (EI800)", colour, backend, cfg, cfg.performer)
    for pa, pb in zip(a.points, b.points):
        assert np.allclose(pb - pa, [-64.0, -32.0], atol=0.05)
