"""The review stage on a small shot comped for real: the movies' formats, their pixels
against OCIO's display view of the comp and the plate, burn-ins and slate, the watermark
read back from the H.264, C2PA verified, the report, reruns and refusals."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.comp.test_stage import write_element
from tests.shots import make_shot, write_frames
from vfx_double.cli import main
from vfx_double.color import DEFAULT_CONFIG, ColourConfig
from vfx_double.errors import LicenceError, MediaError, ProvenanceError
from vfx_double.io import movie
from vfx_double.io.exr import read_exr
from vfx_double.provenance import watermark
from vfx_double.provenance.signing import TRUST_FILE, make_local_ca
from vfx_double.review import report as report_mod
from vfx_double.review.stage import display_pair, review_shot

W, H = 512, 288
FRAMES = range(1001, 1006)
BOX = (180, 60, 160, 160)  # the face element's data window: x, y, w, h


def _element(folder: Path, frame: int) -> None:
    x, y, w, h = BOX
    yy, xx = np.mgrid[0:h, 0:w]
    disc = (((xx - w / 2) ** 2 + (yy - h / 2) ** 2) < (w / 2.5) ** 2).astype(np.float32)
    colour = np.stack([0.9 * disc, 0.3 * disc, 0.1 + 0.05 * frame % 3 * disc], -1)
    # premultiplied by the disc as the element stores it (nothing outside the disc shows)
    write_element(folder, frame, colour, disc, disc, box=BOX, display=(0, 0, W, H))


@pytest.fixture(scope="module")
def comped(tmp_path_factory):
    """A MiniShot (synthetic plates, ACEScg) with a render and a comp version, and a local
    C2PA CA: the signing folder and the keyring trusting its root."""
    root = tmp_path_factory.mktemp("review")
    shot = make_shot(root)
    shot.edit("colourspace: ARRI LogC3 (EI800)", "colourspace: ACEScg")
    for small in shot.plate_dir.glob("plate.*.exr"):  # make_shot's are 64x48
        small.unlink()
    write_frames(shot.plate_dir, "plate", FRAMES, size=(W, H))
    render = root / "work" / "SHOW" / "sh010" / "render" / "v001"
    render.mkdir(parents=True)
    (render / "options.json").write_text(json.dumps({
        "schema": "RenderOptions.1", "weights_sha256": "ab" * 32, "licence_id": "TEST-0001",
        "train_run": "run-001", "track": "v001"}))
    for frame in FRAMES:
        _element(render, frame)
    # through the CLI, so the comp leaves a task record the review's cost sums
    assert main(["comp", str(shot.config), "--keyring", str(shot.keyring)]) == 0
    signing, trust = make_local_ca(root / "ca", name="Test Studio (synthetic)")
    (shot.keyring / TRUST_FILE).write_bytes(trust.read_bytes())
    shot.signing = signing
    return shot


@pytest.fixture(scope="module")
def reviewed(comped):
    report = review_shot(comped.config, keyring=comped.keyring, signing=comped.signing)
    return comped, report


def _decode(path: Path, pix_fmt: str = "rgb24") -> tuple[str, np.ndarray]:
    exe = movie._ffmpeg_exe()
    info = subprocess.run([exe, "-hide_banner", "-i", str(path)], capture_output=True,
                          text=True).stderr
    stream = next(ln for ln in info.splitlines() if "Video:" in ln)
    raw = subprocess.run([exe, "-v", "error", "-i", str(path), "-f", "rawvideo",
                          "-pix_fmt", pix_fmt, "-"], capture_output=True, check=True).stdout
    dtype = np.uint8 if pix_fmt == "rgb24" else np.uint16
    return stream, np.frombuffer(raw, dtype).reshape(-1, H, W, 3)


def test_movies_formats_and_report(reviewed) -> None:
    shot, report = reviewed
    folder = report.folder
    assert folder.name == "v001"
    rec = report_mod.read(folder)
    names = rec["movies"]
    assert names == {"h264": "sh010_review_v001.mp4", "prores": "sh010_review_v001.mov",
                     "plate": "plate.mp4"}
    for name in (*names.values(), "contact.png", "thumb.jpg", "licence.json",
                 "frames.manifest.json"):
        assert (folder / name).is_file(), name
    stream, frames = _decode(folder / names["h264"])
    assert "h264" in stream and "yuv420p" in stream and "bt709" in stream, stream
    assert len(frames) == 1 + len(FRAMES)  # the slate, then every comp frame
    stream, frames16 = _decode(folder / names["prores"], "rgb48le")
    assert "prores (HQ)" in stream and "yuv422p10le" in stream and "bt709" in stream, stream
    assert len(frames16) == 1 + len(FRAMES)
    _, plate = _decode(folder / names["plate"])
    assert len(plate) == len(frames)  # same slate length: the page wipes frame for frame
    assert (rec["first"], rec["last"], rec["slate_frames"]) == (1001, 1005, 1)
    assert rec["licence"]["id"] == "TEST-0001" and rec["model_hash"] == "ab" * 32
    assert rec["synthetic"] is True and (rec["width"], rec["height"]) == (W, H)
    assert rec["watermark"] == watermark.describe(watermark.payload_for("TEST-0001", 1))
    comp = rec["metrics"]["comp"]
    assert (comp["frames"], comp["frames_with_face"], comp["passed_through"]) == (5, 5, 0)
    assert 100 < comp["face_box_mean_px"][0] <= BOX[2] + 40
    assert rec["cost"]["by_stage"]["comp"]["tasks"] == 1
    assert rec["cost"]["cpu_hours"] == pytest.approx(rec["cost"]["by_stage"]["comp"]["cpu_hours"])


def test_pixels_are_the_display_view_of_the_comp_and_the_plate(reviewed) -> None:
    shot, report = reviewed
    folder = report.folder
    colour = ColourConfig.load(DEFAULT_CONFIG)
    comp = read_exr(folder.parent.parent / "comp" / "v001" / "sh010_comp_v001.1003.exr")
    want = colour.to_display(comp.pixels[..., :3], "ACEScg", "sRGB - Display",
                             "ACES 1.0 - SDR Video")
    _, frames = _decode(folder / "sh010_review_v001.mp4")
    _, frames16 = _decode(folder / "sh010_review_v001.mov", "rgb48le")
    _, plates = _decode(folder / "plate.mp4")
    got = frames[1 + 2].astype(np.float32) / 255  # frame 1003, after the slate
    got16 = frames16[1 + 2].astype(np.float32) / 65535
    # the face (away from burn-ins): the comp through the view, not its linear values
    x, y, w, h = BOX
    face = (slice(y + 60, y + 100), slice(x + 60, x + 100))
    # the comp has grain on a noise plate, which H.264 smooths: compare the area's colour
    def level(a):
        return a[face].reshape(-1, 3).mean(0)

    assert np.abs(level(got) - level(want)).max() < 3 / 255
    assert np.abs(level(got16) - level(want)).max() < 2 / 255
    assert np.abs(level(got) - level(np.clip(comp.pixels[..., :3], 0, 1))).max() > 20 / 255
    plate = read_exr(shot.plate_dir / "plate.1003.exr")
    plate_want = colour.to_display(plate.pixels[..., :3], "ACEScg", "sRGB - Display",
                                   "ACES 1.0 - SDR Video")
    middle = (slice(100, 180), slice(20, 120))
    # noise plates: H.264 smooths pixel noise, so compare the area's mean level
    assert abs(plates[3][middle].mean() / 255 - plate_want[middle].mean()) < 3 / 255
    # burn-ins: the source frame number bottom right, n/N bottom centre, over a dark band
    corner = got[H - 30:H - 4, W - 60:W - 4]
    assert corner.max() > 0.9 and corner.min() < 0.25
    # the slate differs from every picture frame and carries the red banner
    assert np.abs(frames[0].astype(int) - frames[1]).mean() > 20
    red = frames[0][..., 0].astype(int) - frames[0][..., 2]
    assert (red > 120).sum() > 200


def test_watermark_reads_back_from_the_h264(reviewed) -> None:
    _, report = reviewed
    expected = watermark.payload_for("TEST-0001", 1)
    reading = watermark.read_movie(report.folder / "sh010_review_v001.mp4")
    assert reading.payload == expected
    plate = watermark.read_movie(report.folder / "plate.mp4")
    assert plate.payload is None  # the plate is original photography, unmarked


def test_movies_verify_as_trusted(reviewed, capsys) -> None:
    shot, report = reviewed
    movies = [str(report.folder / n) for n in ("sh010_review_v001.mp4", "sh010_review_v001.mov")]
    assert main(["verify", "--keyring", str(shot.keyring), *movies]) == 0
    out = capsys.readouterr().out
    assert out.count("Trusted") == 2, out
    assert main(["verify", "--keyring", str(shot.keyring), str(report.folder / "plate.mp4")]) == 2


def test_rerun_keeps_the_finished_version(reviewed) -> None:
    shot, report = reviewed
    mp4 = report.folder / "sh010_review_v001.mp4"
    before = mp4.stat().st_mtime_ns
    again = review_shot(shot.config, keyring=shot.keyring, signing=shot.signing)
    assert again.kept and again.folder == report.folder
    assert mp4.stat().st_mtime_ns == before


def test_an_unfinished_version_is_made_again_and_new_makes_another(comped, capsys) -> None:
    review = comped.root / "work" / "SHOW" / "sh010" / "review"
    latest = max(review.iterdir())
    report = latest / "report.json"
    report.rename(latest / "report.bak")  # as if killed before its last write
    try:
        again = review_shot(comped.config, keyring=comped.keyring, signing=comped.signing,
                            compare_mode=json.loads((latest / "options.json").read_text())[
                                "compare"])
        assert not again.kept and again.folder == latest and report.is_file()
    finally:
        (latest / "report.bak").unlink()
    assert main(["review", str(comped.config), "--keyring", str(comped.keyring),
                 "--signing", str(comped.signing), "--compare", "wipe", "--new"]) == 0
    assert max(review.iterdir()).name > latest.name
    assert "sh010_review_" in capsys.readouterr().out


def test_wipe_is_a_new_version_with_the_plate_left(reviewed) -> None:
    shot, first = reviewed
    report = review_shot(shot.config, keyring=shot.keyring, signing=shot.signing,
                         compare_mode="wipe")
    assert report.folder.name == "v002" and (first.folder / "report.json").is_file()
    _, frames = _decode(report.folder / "sh010_review_v002.mp4")
    _, plates = _decode(report.folder / "plate.mp4")
    left = (slice(100, 180), slice(20, 120))
    # noise plates (H.264 keeps the level, not every pixel): the area's colour agrees
    assert np.abs(frames[3][left].reshape(-1, 3).mean(0)
                  - plates[3][left].reshape(-1, 3).mean(0)).max() < 2
    x, y, w, h = BOX
    face = (slice(y + 60, y + 100), slice(x + 110, x + 140))  # right of the centre line
    assert np.abs(frames[3][face].astype(int) - plates[3][face]).mean() > 20


def test_missing_comp_frames_are_named(comped, capsys) -> None:
    comp = comped.root / "work" / "SHOW" / "sh010" / "comp" / "v001"
    frame = comp / "sh010_comp_v001.1004.exr"
    frame.rename(frame.with_suffix(".bak"))
    try:
        with pytest.raises(MediaError, match="missing frames 1004"):
            review_shot(comped.config, keyring=comped.keyring, signing=comped.signing)
        assert main(["review", str(comped.config), "--keyring", str(comped.keyring),
                     "--signing", str(comped.signing)]) == 2
        assert "vfx-double comp" in capsys.readouterr().err
    finally:
        frame.with_suffix(".bak").rename(frame)


def test_without_signing_keys_nothing_is_made(comped, tmp_path) -> None:
    versions = sorted((comped.root / "work" / "SHOW" / "sh010" / "review").iterdir())
    with pytest.raises(ProvenanceError):
        review_shot(comped.config, keyring=comped.keyring, signing=tmp_path / "none",
                    compare_mode="side-by-side")
    assert sorted((comped.root / "work" / "SHOW" / "sh010" / "review").iterdir()) == versions


def test_an_expired_licence_is_refused(comped) -> None:
    import datetime as dt

    with pytest.raises(LicenceError, match="valid_until"):
        review_shot(comped.config, keyring=comped.keyring, signing=comped.signing,
                    on=dt.date.today() + dt.timedelta(days=400))


def test_the_comp_is_viewed_exactly_though_only_its_box_is_converted(reviewed) -> None:
    shot, _ = reviewed
    colour = ColourConfig.load(DEFAULT_CONFIG)
    calls = []

    def view(pixels, space):
        calls.append(pixels.shape[:2])
        return colour.to_display(pixels, space, "sRGB - Display", "ACES 1.0 - SDR Video")

    comp = read_exr(shot.root / "work" / "SHOW" / "sh010" / "comp" / "v001"
                    / "sh010_comp_v001.1002.exr").pixels[..., :3].copy()
    plate = read_exr(shot.plate_dir / "plate.1002.exr").pixels[..., :3].copy()
    plate_shown, shown = display_pair(view, plate, "ACEScg", comp, "ACEScg")
    assert np.array_equal(shown, view(comp, "ACEScg"))  # bit for bit the whole-frame view
    assert np.array_equal(plate_shown, view(plate, "ACEScg"))
    assert calls[1][0] * calls[1][1] < 0.5 * H * W  # the second pass was the face box only
    # another colourspace: no box to trust, the whole comp goes through the view
    calls.clear()
    display_pair(view, plate, "ACEScg", comp, "ACES2065-1")
    assert calls[1] == (H, W)


def test_the_dailies_show_and_publish_what_review_made(reviewed, tmp_path) -> None:
    """The web app over the stage's real output (the dailies' own tests use built trees)."""
    from vfx_double.dailies import create_app
    from vfx_double.dailies.auth import add_user
    from vfx_double.dailies.db import writing

    shot, report = reviewed
    app = create_app(shot.root / "work", f"sqlite:///{tmp_path / 'dailies.sqlite'}",
                     keyring=shot.keyring, secret_key="test")
    with writing(app.extensions["dailies"].sessions) as s:
        add_user(s, "td", "a long test password")
    client = app.test_client()
    assert client.post("/login", data={"username": "td",
                                       "password": "a long test password"}).status_code == 302
    rows = {v["version"]: v for v in client.get("/api/versions").get_json()["versions"]}
    assert {"v001", "v002"} <= set(rows)
    v001 = client.get(f"/api/versions/{rows['v001']['id']}").get_json()
    assert (v001["first"], v001["last"], v001["slate_frames"]) == (1001, 1005, 1)
    assert v001["licence"]["ok"] and v001["provenance"]["state"] == "Trusted"
    movie = client.get(v001["movie"], headers={"Range": "bytes=0-99"})
    assert movie.status_code == 206 and len(movie.data) == 100
    assert client.post(f"/api/versions/{rows['v001']['id']}/publish").status_code == 200
