"""One saved file per schema version: today's loaders must still read each of them."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from vfx_double import audit, config, licence, records, workarea
from vfx_double.errors import ConfigError
from vfx_double.face import element, faceset
from vfx_double.model import checkpoint, networks, rng
from vfx_double.train import data, presets

BASELINES = Path(__file__).parent / "baselines"


def test_shot_config_1() -> None:
    cfg = config.load(BASELINES / "shots" / "BASE" / "ShotConfig.1.yaml")
    assert (cfg.show, cfg.shot, cfg.plate.frames, cfg.track.smoothing) == ("BASE", "sh010", (1001, 1010), 0.4)
    assert cfg.actor.licence == BASELINES / "SignedLicence.1.json"
    # version 1 smoothed tracks at review.fps: upgraded, that is the footage's rate
    assert (cfg.plate.fps, cfg.actor.reference.fps, cfg.review_fps) == (25.0, 25.0, 25.0)
    assert cfg.raw["schema"] == "ShotConfig.1" and "fps" not in cfg.raw["plate"]


def test_shot_config_2() -> None:
    cfg = config.load(BASELINES / "shots" / "BASE" / "ShotConfig.2.yaml")
    assert (cfg.shot, cfg.plate.fps, cfg.actor.reference.fps) == ("sh020", 23.976, 30.0)
    assert cfg.review.fps is None and cfg.review_fps == 23.976


def test_signed_licence_1() -> None:
    lic = licence.verify(BASELINES / "SignedLicence.1.json", licence.load_keyring(BASELINES / "keyring"))
    assert lic.licence_id == "BASELINE-0001" and lic.uses == ("train", "render")
    licence.require(lic, "BASE", "train", dt.date(2026, 6, 1))


def test_audit_entry_1(tmp_path: Path) -> None:
    shutil.copytree(BASELINES / "audit", tmp_path / "audit")
    assert audit.verify(tmp_path / "audit" / "AuditEntry.1.jsonl") == 2


# --- FacesetMeta.1: a faceset side folder as track.run.crop_frames writes it -------------

FACESET = BASELINES / "faceset" / "FacesetMeta.1"


def test_faceset_meta_1() -> None:
    info = faceset.open_faceset(FACESET, "baseline faceset")
    assert (info.sequence, info.size, info.colourspace) == ("plate", 64, "ACEScct")
    assert (info.frames, info.count, info.files) == ([1001, 1002], 2, ("crop.1001.exr",
                                                                      "crop.1002.exr"))
    assert info.landmarks.shape == (2, 68, 2) and info.landmarks.dtype == np.float32
    assert 0 < info.landmarks.min() and info.landmarks.max() < 64
    # the crops themselves, as training reads them: R, G, B, mask at the recorded size
    dataset = data.FaceDataset(info, 64, None, seed=0)
    for index in range(info.count):
        pixels = dataset.pixels(index)
        assert pixels.shape == (64, 64, 4) and np.isfinite(pixels).all()
        assert pixels[..., 3].min() == 0.0 and pixels[..., 3].max() > 0.99
    sample = dataset.sample(1, np.random.default_rng(0))
    assert sample["rgb"].shape == (3, 64, 64) and sample["landmarks"].shape == (68, 2)


# --- FaceElement.1: render's element EXRs, as comp reads them ------------------------------

ELEMENTS = BASELINES / "render" / "FaceElement.1"
#: sha256 of the Checkpoint.1 baseline's weights.safetensors, which rendered the elements
WEIGHTS_SHA256 = "d316fff9089b972f7975a377210e077a1572ff93f888b656f2af105901cbcf54"


def test_face_element_1() -> None:
    elem = element.read_element(ELEMENTS / "face.1001.exr", 1001)
    assert (elem.frame, elem.box, elem.face) == (1001, (20, 9, 54, 54), True)
    assert (elem.model_hash, elem.licence_id) == (WEIGHTS_SHA256, "BASELINE-0001")
    assert elem.rgb.shape == (54, 54, 3) and elem.rgb.dtype == np.float32
    assert elem.alpha.shape == elem.matte.shape == (54, 54)
    # A: the rendered crop's coverage; colour premultiplied by it; matte inside it
    assert elem.alpha.min() == 0.0 and elem.alpha.max() == 1.0
    assert np.all(elem.rgb[elem.alpha == 0] == 0)
    assert 0.5 < elem.matte.max() <= 1.0 and np.all(elem.matte <= elem.alpha + 1e-3)
    colour = elem.colour()
    inside = elem.alpha == 1.0
    assert np.allclose(colour[inside], elem.rgb[inside])
    # plate pixels per model pixel, from the header's matrix (scale 1.28), cropSize, resolution
    assert elem.model_pixel == pytest.approx(1 / 1.28)


def test_face_element_1_empty() -> None:
    elem = element.read_element(ELEMENTS / "face.1003.exr", 1003)
    assert (elem.box, elem.face, elem.model_pixel) == ((0, 0, 1, 1), False, None)
    assert elem.model_hash == WEIGHTS_SHA256
    assert not elem.rgb.any() and not elem.alpha.any() and not elem.matte.any()


# --- Checkpoint.1 / CheckpointLatest.1: a train run's checkpoint folder --------------------

RUN = BASELINES / "train" / "Checkpoint.1"
#: the smallest FaceModel (ModelSpec.2), which the baseline checkpoint holds
TINY = networks.ModelSpec(resolution=64, encoder_dims=1, inter_dims=1, decoder_dims=1,
                          disc_dims=0, layout="liae", padding="reflect", bottleneck=32)
EXPECT = {"show": "BASE", "shot": "sh010", "licence_id": "BASELINE-0001"}
CONFIG_HASH = "8335a476da2e5278709ccc292a8b54fc3fd778bbf3d2c6c8f4ae88f9887376c4"


def test_checkpoint_1_load_weights() -> None:
    folder = checkpoint.latest_checkpoint(RUN)
    assert folder == RUN / "checkpoints" / "step-000000001"
    model = networks.FaceModel(TINY)
    state = checkpoint.load_weights(folder, {"model": model},
                                    {**EXPECT, "architecture": TINY.to_dict()})
    assert (state["step"], state["weights_sha256"]) == (1, WEIGHTS_SHA256)
    saved = load_file(str(folder / "weights.safetensors"))
    loaded = model.state_dict()
    assert len(saved) == len(loaded)
    assert all(torch.equal(loaded[k], saved[f"module/model/{k}"]) for k in loaded)
    with torch.no_grad():
        rgb, mask = model(torch.full((1, 3, 64, 64), 0.4), "actor")
    assert rgb.shape == (1, 3, 64, 64) and mask.shape == (1, 1, 64, 64)


@pytest.mark.parametrize("field, value", [
    ("licence_id", "BASELINE-0002"), ("shot", "sh020"),
    ("architecture", dataclasses.replace(TINY, encoder_dims=2).to_dict())])
def test_checkpoint_1_refuses_another_binding(field: str, value: object) -> None:
    expect = {**EXPECT, "architecture": TINY.to_dict(), field: value}
    with pytest.raises(ConfigError, match=field):
        checkpoint.load_weights(RUN / "checkpoints" / "step-000000001",
                                {"model": networks.FaceModel(TINY)}, expect)


def test_checkpoint_1_resume() -> None:
    """The whole state (optimizer, scalars, RNG) as a --resume reads it."""
    model = networks.FaceModel(TINY)
    opt = torch.optim.Adam(model.parameters(), lr=5e-4, betas=(0.5, 0.999))
    binding = checkpoint.Binding("BASE", "sh010", "BASELINE-0001", CONFIG_HASH, TINY.to_dict())
    state = checkpoint.load_checkpoint(RUN, {"model": model}, {"generator": opt}, binding)
    assert state["step"] == 1 and state["scalars"]["total"] > 0
    assert len(opt.state) == len(list(model.parameters()))
    assert opt.param_groups[0]["betas"] == (0.5, 0.999)
    before = rng.capture_rng()
    try:
        rng.restore_rng(state["rng"])
    finally:
        rng.restore_rng(before)


# --- TrainOptions.1: a train run's options.json, read by render.load_model -----------------

TRAIN_OPTIONS = BASELINES / "train" / "TrainOptions.1.json"


def test_train_options_1(tmp_path: Path) -> None:
    options = json.loads(TRAIN_OPTIONS.read_text())
    assert networks.ModelSpec.from_dict(options["preset"]["spec"]) == TINY
    # a --resume compares the frozen preset with today's: a Preset field added or renamed
    # refuses every existing run
    assert set(options["preset"]) == {f.name for f in dataclasses.fields(presets.Preset)}
    # render's load_model: the latest run's options.json gives the model, whose architecture
    # the latest checkpoint must be bound to
    area = workarea.WorkArea(tmp_path / "shot")
    run = area.new_version("train")
    shutil.copy(TRAIN_OPTIONS, run / "options.json")
    shutil.copytree(RUN, run, dirs_exist_ok=True)
    latest = area.latest("train")
    options = json.loads((latest / "options.json").read_text())
    spec = networks.ModelSpec.from_dict(options["preset"]["spec"])
    model = networks.FaceModel(spec)
    state = checkpoint.load_weights(checkpoint.latest_checkpoint(latest), {"model": model},
                                    {**EXPECT, "architecture": spec.to_dict()})
    assert (state["step"], state["weights_sha256"]) == (1, WEIGHTS_SHA256)
    assert options["binding"] == {**EXPECT, "config_hash": CONFIG_HASH,
                                  "architecture": TINY.to_dict()}


# --- RenderOptions.1 / CompOptions.2: frozen options.json of frame-stage versions ----------

RENDER_OPTIONS = BASELINES / "render" / "RenderOptions.1.json"
COMP_OPTIONS = BASELINES / "comp" / "CompOptions.2.json"
PLATE = "/tmp/vfx-double-baselines/plates/plate.####.exr"


def _continued(tmp_path: Path, stage: str, baseline: Path, options: dict) -> None:
    area = workarea.WorkArea(tmp_path / "shot")
    version = area.new_version(stage)
    shutil.copy(baseline, version / "options.json")
    assert area.version_for(stage, options) == (version, True)
    # and a changed option starts a new version, so the check above is not vacuous
    changed = {**options, "licence_id": "BASELINE-0002"}
    assert area.version_for(stage, changed) == (area.version_dir(stage, 2), False)


def test_render_options_1(tmp_path: Path) -> None:
    options = {"schema": "RenderOptions.1", "train_run": "run-001",
               "checkpoint": "step-000000001", "weights_sha256": WEIGHTS_SHA256,
               "track": "v001",
               "track_sha256": "5cca5a61b19803db28df813a84fff0d551f617e2f25cba6d8b07c40d060e1096",
               "plate": PLATE, "plate_colourspace": "ACEScg", "network": "ACEScct",
               "working": "ACEScg", "licence_id": "BASELINE-0001", "hull_grow": -0.04,
               "forehead": 0.18, "edge_fade": 16}
    _continued(tmp_path, "render", RENDER_OPTIONS, options)


def test_comp_options_2(tmp_path: Path) -> None:
    options = {"schema": "CompOptions.2", "render": "v001",
               "render_options_sha256": records.hash_file(RENDER_OPTIONS),
               "comp": {"mix": 1.0, "erode": 0.0, "feather": 8.0, "colour_match": "rct",
                        "grain": False, "detail": "auto", "compression": None},
               "plate": PLATE, "plate_colourspace": "ACEScg", "working": "ACEScg",
               "output": "ACEScg", "licence_id": "BASELINE-0001", "stats_sigma": 4.0,
               "detail_plate_at_model_limit": 0.5, "detail_agree": [0.05, 0.1]}
    _continued(tmp_path, "comp", COMP_OPTIONS, options)
