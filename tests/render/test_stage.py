"""Render on a small shot: a synthetic track (the template face placed on the plate) and a
checkpoint of an untrained cpu-tiny model, so only the render's own mechanics are tested."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.shots import make_shot
from vfx_double.audit import AuditLog
from vfx_double.cli import main
from vfx_double.errors import ConfigError, LicenceError, WorkAreaError
from vfx_double.face.align import TEMPLATE_68, align_matrix
from vfx_double.face.element import read_element
from vfx_double.face.track import TrackResult
from vfx_double.io.exr import ExrImage, read_exr, read_header, write_exr
from vfx_double.model.checkpoint import Binding, save_checkpoint
from vfx_double.model.networks import FaceModel, PatchDiscriminator
from vfx_double.records import hash_file
from vfx_double.render.stage import EDGE_FADE, edge_fade, render_shot
from vfx_double.train.presets import PRESETS
from vfx_double.workarea import WorkArea

W, H = 320, 240
FRAMES = list(range(1001, 1006))
NO_FACE = 1004


def face_points(frame: int) -> np.ndarray:
    """The 68-point template as a ~110 px face drifting right by 2 px a frame."""
    return (TEMPLATE_68 - 0.5) * 110 + np.array([150.0 + 2 * (frame - 1001), 120.0])


@pytest.fixture
def shot(tmp_path):
    s = make_shot(tmp_path)
    s.edit("colourspace: ARRI LogC3 (EI800)", "colourspace: ACEScg")
    rng = np.random.default_rng(0)
    for frame in FRAMES:
        px = rng.uniform(0.1, 0.5, (H, W, 3)).astype(np.float16)
        write_exr(s.plate_dir / f"plate.{frame:04d}.exr",
                  ExrImage.full_frame(px, ("R", "G", "B")), overwrite=True)
    area = WorkArea(tmp_path / "work" / "SHOW" / "sh010")
    points = np.stack([face_points(f) for f in FRAMES])
    flags = [["no_face"] if f == NO_FACE else [] for f in FRAMES]
    points[FRAMES.index(NO_FACE)] = np.nan
    matrices = np.stack([align_matrix(face_points(f), 256, 0.6) for f in FRAMES])
    track = TrackResult(sequence="plate", source=str(s.plate_dir), colourspace="ACEScg",
                        frame_size=(W, H), frames=FRAMES, points_raw=points, points=points,
                        boxes=np.zeros((5, 4)), confidence=np.ones(5), matrices=matrices,
                        flags=flags, backend={"name": "synthetic", "version": "0"},
                        settings={"crop_size": 256, "coverage": 0.6})
    track.save(area.new_version("track") / "track.json")
    preset = PRESETS["cpu-tiny"]
    torch.manual_seed(0)
    model, disc = FaceModel(preset.spec), PatchDiscriminator(preset.spec)
    run = area.new_version("train")
    binding = Binding("SHOW", "sh010", "TEST-0001", "0" * 64, preset.spec.to_dict())
    (run / "options.json").write_text(json.dumps({"preset": preset.to_dict()}))
    optims = {"generator": torch.optim.Adam(model.parameters()),
              "discriminator": torch.optim.Adam(disc.parameters())}
    folder = save_checkpoint(run, 10, {"model": model, "discriminator": disc}, optims,
                             binding, {})
    # as train_shot records its checkpoint when it ends
    AuditLog(area.audit_path).append(
        "train", inputs={}, outputs={"checkpoint": hash_file(folder / "weights.safetensors")},
        licence_id="TEST-0001", config_hash=None, extra={"run": run.name})
    s.area, s.run, s.binding = area, run, binding
    return s


def test_render_writes_acescg_premultiplied_elements_with_matte_and_provenance(shot):
    report = render_shot(shot.config, keyring=shot.keyring)
    assert report.written == FRAMES and report.empty == [NO_FACE]
    path = report.folder / "face.1002.exr"
    header = read_header(path)
    assert header.channels == ("R", "G", "B", "A", "matte.A")
    assert set(header.channel_formats) == {"half"}
    assert header.display_window == (0, 0, W, H)
    x, y, w, h = header.data_window
    # The data window is the crop's box only: the face is ~110 px, the crop 1/0.6 of it.
    assert 120 < w < 260 and 120 < h < 260 and x > 0 and y > 0
    for name, value in (("schema", "FaceElement.2"), ("synthetic", 1),
                        ("licenceId", "TEST-0001"), ("colourspace", "ACEScg"),
                        ("cropSize", 256), ("resolution", 64), ("face", 1), ("frame", 1002)):
        assert header.attribute(f"vfx_double/{name}") == value, name
    assert len(header.attribute("vfx_double/modelHash")) == 64
    matrix = np.array(header.attribute("vfx_double/matrix")).reshape(2, 3)
    assert np.allclose(matrix, align_matrix(face_points(1002), 256, 0.6), atol=1e-5)
    element = read_element(path, 1002)
    assert np.isfinite(element.rgb).all()
    assert element.alpha.max() == 1.0 and element.alpha.min() < 0.5
    # premultiplied: no colour where there is no coverage
    assert np.all(np.abs(element.rgb[element.alpha == 0]) == 0)
    # the matte stays inside the rendered crop and near the landmark hull
    assert np.all(element.matte <= element.alpha + 1e-3)
    pts = face_points(1002)
    ys, xs = np.nonzero(element.matte > 0.01)
    grow = 0.1 * 110 + 2
    assert xs.min() + x >= pts[:, 0].min() - grow and xs.max() + x <= pts[:, 0].max() + grow
    assert ys.max() + y <= pts[:, 1].max() + grow
    empty = read_header(report.folder / f"face.{NO_FACE}.exr")
    assert empty.data_window[2:] == (1, 1) and empty.attribute("vfx_double/face") == 0


def test_rerun_fills_only_missing_or_broken_elements(shot):
    first = render_shot(shot.config, keyring=shot.keyring)
    (first.folder / "face.1001.exr").unlink()
    broken = first.folder / "face.1003.exr"
    broken.write_bytes(broken.read_bytes()[:200])
    second = render_shot(shot.config, keyring=shot.keyring)
    assert second.folder == first.folder
    assert second.written == [1001, 1003] and second.kept == [1002, 1004, 1005]
    assert read_exr(broken).pixels.shape[2] == 5


def test_chunks_land_in_one_version(shot):
    a = render_shot(shot.config, keyring=shot.keyring, frames=(1001, 1002))
    b = render_shot(shot.config, keyring=shot.keyring, frames=(1003, 1005))
    assert a.folder == b.folder
    assert sorted(p.name for p in a.folder.glob("face.*.exr")) == [
        f"face.{f}.exr" for f in FRAMES]


def test_checkpoint_of_another_licence_is_refused(shot):
    from tests.shots import issue_licence

    # A renewed licence has a new id: weights trained under the old one are not used.
    issue_licence(shot.key, shot.licence, licence_id="TEST-0002")
    with pytest.raises(ConfigError, match="licence_id"):
        render_shot(shot.config, keyring=shot.keyring)


def test_licence_without_render_use_is_refused(shot):
    from tests.shots import issue_licence

    issue_licence(shot.key, shot.licence, uses=("train", "film"))
    with pytest.raises(LicenceError, match="render"):
        render_shot(shot.config, keyring=shot.keyring)
    assert main(["render", str(shot.config), "--keyring", str(shot.keyring)]) == 2


def test_checkpoint_from_another_shot_is_refused(shot):
    shot.edit("shot: sh010", "shot: sh020")
    # the work area follows the shot name: move the run there
    src = shot.area.root
    dst = src.parent / "sh020"
    src.rename(dst)
    with pytest.raises(ConfigError, match="shot"):
        render_shot(shot.config, keyring=shot.keyring)


def test_matte_fades_out_before_the_crop_edge() -> None:
    """The matte reaches 0 at the crop's edge over size / EDGE_FADE pixels, so the comp's
    feather never meets a matte cut off by the crop (the forehead arc)."""
    fade = edge_fade(64)
    band = 64 // EDGE_FADE
    assert fade.shape == (64, 64) and fade.dtype == np.float32
    assert fade[0].max() < 0.05 and fade[:, 0].max() < 0.05
    assert np.all(fade[band:-band, band:-band] == 1.0)
    row = fade[32, :band + 1]
    assert np.all(np.diff(row) > 0)  # rises smoothly from the edge
    assert np.array_equal(fade, fade[::-1, ::-1]) and np.array_equal(fade, fade.T)


def test_weights_the_audit_log_does_not_record_are_refused(shot):
    # issue 11 case 7: swap the weights, fix the sha in the unsigned state.json beside
    # them, and render used the other weights with exit 0
    folder = shot.run / "checkpoints" / "step-000000010"
    torch.manual_seed(1)
    other = FaceModel(PRESETS["cpu-tiny"].spec)
    save_checkpoint(shot.run, 10, {"model": other, "discriminator": PatchDiscriminator(
        PRESETS["cpu-tiny"].spec)}, {}, shot.binding, {})  # state.json agrees with them
    assert (folder / "weights.safetensors").is_file()
    with pytest.raises(WorkAreaError, match="no train entry records"):
        render_shot(shot.config, keyring=shot.keyring)


def test_a_run_short_of_its_target_is_not_rendered_unless_asked(shot):
    # a training task stopped by a signal checkpointed at step 10 of 20 (issue 12)
    options = json.loads((shot.run / "options.json").read_text())
    (shot.run / "options.json").write_text(json.dumps({**options, "steps": 20}))
    with pytest.raises(WorkAreaError, match=r"target of 20 steps.*found step 10.*--unfinished"):
        render_shot(shot.config, keyring=shot.keyring)
    assert render_shot(shot.config, keyring=shot.keyring, unfinished=True).written == FRAMES


def test_a_job_pins_the_run_and_checkpoint_it_renders_with(shot):
    # issue 12: chunks rendered while someone trains on must still form one version
    newer = shot.area.new_version("train")
    (newer / "options.json").write_text((shot.run / "options.json").read_text())
    with pytest.raises(WorkAreaError, match="complete checkpoint"):
        render_shot(shot.config, keyring=shot.keyring)  # the latest run has none yet
    report = render_shot(shot.config, keyring=shot.keyring, run=shot.run.name,
                         checkpoint="step-000000010")
    assert report.written == FRAMES
    with pytest.raises(WorkAreaError, match="no such checkpoint.*step-000000010"):
        render_shot(shot.config, keyring=shot.keyring, run=shot.run.name,
                    checkpoint="step-000000099")
