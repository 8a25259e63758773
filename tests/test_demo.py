"""The demo builder: synthetic log plates with a known camera move, and real-clip import."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vfx_double.cli import main
from vfx_double.color import DEFAULT_CONFIG, ColourConfig
from vfx_double.demo import camera, shot as demo_shot
from vfx_double.demo.plates import SOURCE_FACE_CENTRE, SOURCE_FACE_HEIGHT, SRGB, video_to_plates
from vfx_double.io.exr import read_exr, read_header
from vfx_double.io.sequences import FrameSequence
from vfx_double.validate import validate


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> demo_shot.DemoShot:
    return demo_shot.build(tmp_path_factory.mktemp("demo"), frames=4)


def test_demo_builds_a_valid_shot(built: demo_shot.DemoShot) -> None:
    report = validate(built.config, keyring=built.keyring)
    assert report.config.show == "DEMO"
    assert "4 frames 1001-1004, 1920x1080" in " ".join(report.lines)


def test_plates_are_log_encoded_half_exr_labelled_synthetic(built: demo_shot.DemoShot) -> None:
    header = read_header(FrameSequence(str(built.plate)).path(1001))
    assert set(header.channel_formats) == {"half"}
    assert header.attribute("vfx_double/colourspace") == "ARRI LogC3 (EI800)"
    assert "synthetic" in header.attribute("vfx_double/synthetic")
    pixels = read_exr(header.path).pixels
    # LogC3 EI800 puts scene black at code 0.0928 and 18% grey at 0.391: a log plate sits
    # in between, never near 0 or far above 1 as linear data would.
    assert 0.05 < float(np.percentile(pixels, 1)) and float(np.percentile(pixels, 99)) < 0.75
    assert float(pixels.std()) > 0.03


def test_face_is_a_quarter_of_the_height_and_moves_as_the_truth_says(
        built: demo_shot.DemoShot) -> None:
    truth = json.loads((built.root / "truth" / "camera.json").read_text())
    assert truth["schema"] == "DemoTruth.1"
    first, last = (np.array(truth["plate"][str(f)]) for f in (1001, 1004))
    scale = float(np.hypot(*first[:, 0]))
    assert 0.8 < SOURCE_FACE_HEIGHT * scale / 1080 * 4 < 1.2
    centre_a = camera.apply(first, [SOURCE_FACE_CENTRE])[0]
    centre_b = camera.apply(last, [SOURCE_FACE_CENTRE])[0]
    assert np.all((centre_a > 200) & (centre_a < [1720, 880]))
    assert np.linalg.norm(centre_b - centre_a) > 50, "the camera should move over the shot"
    assert truth["plate"] != truth["reference"]


def test_known_path_matches_the_pixels(built: demo_shot.DemoShot) -> None:
    """Warping the source photo by the truth matrix reproduces the plate around the face."""
    import cv2
    from skimage import data

    colour = ColourConfig.load(DEFAULT_CONFIG)
    truth = json.loads((built.root / "truth" / "camera.json").read_text())
    for frame in (1001, 1004):
        matrix = np.array(truth["plate"][str(frame)])
        plate = read_exr(FrameSequence(str(built.plate)).path(frame)).pixels
        plate_lin = colour.convert(plate, "ARRI LogC3 (EI800)", "ACEScg")
        source = colour.convert(data.astronaut().astype(np.float32) / 255, SRGB, "ACEScg")
        warped = cv2.warpAffine(source, matrix, (1920, 1080), flags=cv2.INTER_LINEAR)
        cx, cy = camera.apply(matrix, [SOURCE_FACE_CENTRE])[0].astype(int)
        a = plate_lin[cy - 80:cy + 80, cx - 60:cx + 60].mean(-1).ravel()
        b = warped[cy - 80:cy + 80, cx - 60:cx + 60].mean(-1).ravel()
        assert np.corrcoef(a, b)[0, 1] > 0.95


def test_rerun_keeps_existing_frames(built: demo_shot.DemoShot) -> None:
    frame = FrameSequence(str(built.plate)).path(1002)
    before = frame.stat().st_mtime_ns
    (FrameSequence(str(built.plate)).path(1003)).unlink()
    demo_shot.build(built.root, frames=4)
    assert frame.stat().st_mtime_ns == before
    assert FrameSequence(str(built.plate)).path(1003).is_file()


def test_video_import_real_clip(shared_data: Path, tmp_path: Path) -> None:
    colour = ColourConfig.load(DEFAULT_CONFIG)
    seq = FrameSequence(str(tmp_path / "lp_d3.####.exr"))
    frames = video_to_plates(shared_data / "video" / "lp_d3.mp4", seq, colour=colour,
                             colourspace="ARRI LogC3 (EI800)", max_frames=3)
    assert frames == [1001, 1002, 1003] and seq.existing() == frames
    image = read_exr(seq.path(1002))
    assert image.pixels.shape == (512, 512, 3) and image.pixels.dtype == np.float32
    back = colour.convert(image.pixels, "ARRI LogC3 (EI800)", SRGB)
    # half-float storage moves values by ~1e-3 around display black and white
    assert -0.01 <= float(back.min()) and float(back.max()) <= 1.01
    assert float(back.std()) > 0.1
    # the clip's own rate is recorded for the shot's plate.fps
    assert image.attribute("vfx_double/fps") == pytest.approx(30.0)
    assert image.attribute("vfx_double/source") == "lp_d3.mp4"


def test_import_video_cli_says_the_clip_rate(shared_data: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["import-video", str(shared_data / "video" / "lp_d18.mp4"),
                 str(tmp_path / "p.####.exr"), "--max-frames", "2"])
    assert code == 0
    assert "at 30 fps (set plate.fps: 30 in the shot config)" in capsys.readouterr().out


def test_import_video_cli_rejects_a_non_video(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bogus = tmp_path / "clip.mp4"
    bogus.write_text("not a video")
    code = main(["import-video", str(bogus), str(tmp_path / "p.####.exr")])
    assert code == 2 and "clip.mp4" in capsys.readouterr().err


def test_demo_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--out", str(tmp_path / "d"), "--frames", "2", "--train-steps", "2"]) == 0
    out = capsys.readouterr().out
    assert "validate: OK" in out and "DEMO" in out
    # the job ran through the local backend: a task per stage (2 frames: one chunk each)
    for n, step in enumerate(("track", "train", "render 1001-1002", "comp 1001-1002",
                              "review"), 1):
        assert f"run: [{n:>3}/5] {step}: done" in out
    assert "all 5 tasks done" in out and "demo: OK" in out
    logs = tmp_path / "d" / "work" / "DEMO" / "sh010" / "farm" / "job-001" / "logs"
    assert "plate: faces on 2/2 frames" in (logs / "track-000.log").read_text()
    assert "steps: 0 -> 2 of 2" in (logs / "train-000.log").read_text()
    assert "written 2" in (logs / "render-000.log").read_text()
    comp_dir = tmp_path / "d" / "work" / "DEMO" / "sh010" / "comp" / "v001"
    frames = sorted(comp_dir.glob("sh010_comp_v001.*.exr"))
    assert len(frames) == 2
    # What a compositor checks first: oiiotool reads it, with the plate's layout and our
    # provenance in the header.
    oiiotool = Path(sys.executable).with_name("oiiotool")
    info = subprocess.run([str(oiiotool), "--info", "-v", str(frames[0])], capture_output=True,
                          text=True, check=True).stdout
    assert "1920 x 1080, 3 channel, half openexr" in info
    assert 'vfx_double/synthetic: 1' in info and 'vfx_double/licenceId: "DEMO-' in info
    assert 'vfx_double/modelHash: "' in info
    # the review: signed movies, Trusted under the demo keyring (its demo CA's root)
    review = tmp_path / "d" / "work" / "DEMO" / "sh010" / "review" / "v001"
    assert main(["verify", "--keyring", str(tmp_path / "d" / "keyring"),
                 str(review / "sh010_review_v001.mp4"), str(review / "sh010_review_v001.mov"),
                 str(frames[0])]) == 0
    assert capsys.readouterr().out.count("Trusted") == 3
    plate = read_exr(tmp_path / "d" / "plates" / "sh010" / "sh010_plate.1001.exr", dtype=None)
    comp = read_exr(frames[0], dtype=None)
    changed = np.any(plate.pixels != comp.pixels, axis=2)
    assert changed.any() and changed.mean() < 0.15  # the face only
