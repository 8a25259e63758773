"""How the FacesetMeta.1, Checkpoint.1, TrainOptions.1, FaceElement.1, RenderOptions.1 and
CompOptions.2 baselines were made. Not run by the tests: a baseline is frozen once written,
and this script refuses to replace one.

    OMP_NUM_THREADS=1 .venv/bin/python -m tests.baselines.make_baselines [OUT_DIR]

(OUT_DIR defaults to tests/baselines.) Run at commit 530befd; its imports have since
followed the modules to where they live now (face/, model/, render/stage.py).

It builds a tiny synthetic shot (show BASE, shot sh010) under a fixed folder, so the paths
recorded in the files are the same on every run, and runs today's real writers over it:

- track: the landmark detector needs real faces, so the TrackResult is synthetic (the
  68-point template placed on the plate, frame 1003 without a face); the faceset is then
  written by the real ``track.run.crop_frames`` through ``face.faceset.FacesetWriter`` and saved as ``track.stage`` saves it;
- train: the real ``train.stage.train_shot`` for one step, except that the preset's model
  is replaced by the smallest ``ModelSpec`` there is (widths 1, no critic): the config's
  own minimum widths give a ~380 KB model before the optimizer's state;
- render and comp: the real ``render_shot`` and ``comp_shot``.
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
import textwrap
from pathlib import Path

import numpy as np

from tests.shots import KEY_ID, issue_licence
from vfx_double import config as config_mod
from vfx_double.color import ColourConfig, resolve_config_uri
from vfx_double.comp.stage import comp_shot
from vfx_double.face.align import TEMPLATE_68, align_matrix
from vfx_double.face.faceset import FacesetWriter
from vfx_double.face.track import TrackResult
from vfx_double.io.exr import ExrImage, write_exr
from vfx_double.io.sequences import FrameSequence
from vfx_double.keyring import keygen
from vfx_double.model.networks import ModelSpec
from vfx_double.render.stage import render_shot
from vfx_double.track.run import PassOne, crop_frames
from vfx_double.train import stage as train_stage
from vfx_double.workarea import WorkArea

BASELINES = Path(__file__).resolve().parent
#: fixed, so the plate path in RenderOptions / CompOptions and the element headers is stable
ROOT = Path("/tmp/vfx-double-baselines")
W, H = 96, 72
PLATE_FRAMES = [1001, 1002, 1003]
NO_FACE = 1003
REF_FRAMES = [1, 2]
TINY = ModelSpec(resolution=64, encoder_dims=1, inter_dims=1, decoder_dims=1, disc_dims=0,
                 layout="liae")


def face_points(frame: int, scale: float = 30.0) -> np.ndarray:
    """The template as a ~30 px face near the plate's centre, drifting 1 px a frame."""
    return (TEMPLATE_68 - 0.5) * scale + np.array([46.0 + (frame % 1000), 36.0])


def write_plates(folder: Path, name: str, frames: list[int], pad: int) -> None:
    """Smooth frames (they compress well) with a brighter blob where the face is."""
    folder.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    for frame in frames:
        cx, cy = face_points(frame).mean(axis=0)
        blob = np.exp(-(((xx - cx) / 12.0) ** 2 + ((yy - cy) / 15.0) ** 2))
        base = 0.05 + 0.1 * xx / W + 0.05 * yy / H
        px = np.stack([base + 0.35 * blob, base + 0.25 * blob, base + 0.2 * blob], axis=-1)
        write_exr(folder / f"{name}.{frame:0{pad}d}.exr",
                  ExrImage.full_frame(px.astype(np.float16), ("R", "G", "B")))


def synthetic_track(name: str, source: Path, frames: list[int], no_face: set[int]
                    ) -> tuple[TrackResult, PassOne]:
    points = np.stack([face_points(f) for f in frames])
    matrices = np.stack([align_matrix(face_points(f), 64, 0.6) for f in frames])
    flags = [["no_face"] if f in no_face else [] for f in frames]
    for i, f in enumerate(frames):
        if f in no_face:
            points[i] = np.nan
    boxes = np.array([[p[:, 0].min(), p[:, 1].min(), p[:, 0].max(), p[:, 1].max()]
                      if np.isfinite(p).all() else [0, 0, 0, 0] for p in points])
    conf = np.array([0.0 if f in no_face else 0.95 for f in frames])
    result = TrackResult(sequence=name, source=str(source), colourspace="ACEScg",
                         frame_size=(W, H), frames=frames, points_raw=points, points=points,
                         boxes=boxes, confidence=conf, matrices=matrices, flags=flags,
                         backend={"name": "synthetic", "version": "0"},
                         settings={"crop_size": 64, "coverage": 0.6})
    found = PassOne(frames=frames, frame_size=(W, H),
                    points=[None if f in no_face else face_points(f) for f in frames],
                    confidence=list(conf),
                    sharpness=[0.0 if f in no_face else 0.002 + 0.0001 * i
                               for i, f in enumerate(frames)])
    return result, found


def make_shot() -> Path:
    if ROOT.exists():
        shutil.rmtree(ROOT)
    private, public = keygen(ROOT / "keys", KEY_ID)
    (ROOT / "keyring").mkdir()
    shutil.copy(public, ROOT / "keyring" / public.name)
    issue_licence(private, ROOT / "licences" / "base.licence.json", shows=("BASE",),
                  licence_id="BASELINE-0001", actor="Baseline Actor (synthetic)")
    write_plates(ROOT / "plates", "plate", PLATE_FRAMES, 4)
    write_plates(ROOT / "ref", "ref", REF_FRAMES, 4)
    cfg = ROOT / "shots" / "BASE" / "sh010.yaml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text(textwrap.dedent("""\
        schema: ShotConfig.2
        show: BASE
        shot: sh010
        work_root: ../../work
        plate:
          path: ../../plates/plate.####.exr
          frames: [1001, 1003]
          colourspace: ACEScg
          fps: 24
        actor:
          name: Baseline Actor (synthetic)
          licence: ../../licences/base.licence.json
          reference:
            path: ../../ref/ref.####.exr
            colourspace: ACEScg
            fps: 24
        track:
          crop_size: 64
        comp:
          grain: false
        """))
    return cfg


def faceset(cfg: config_mod.ShotConfig) -> None:
    """As ``track.stage.track_shot`` saves it, from a synthetic track."""
    colour = ColourConfig.load(resolve_config_uri(cfg.colour.config, cfg.source.parent))
    network = colour.resolve(cfg.colour.network)
    area = WorkArea(cfg.shot_dir)
    track_dir, faceset_dir = area.new_version("track"), area.new_version("faceset")
    jobs = [("plate", cfg.plate.path, PLATE_FRAMES, {NO_FACE}),
            ("actor", cfg.actor.reference.path, REF_FRAMES, set())]
    for name, path, frames, no_face in jobs:
        result, found = synthetic_track(name, path, frames, no_face)
        result.save(track_dir / ("track.json" if name == "plate" else f"{name}.json"))
        (faceset_dir / name).mkdir()
        seq = FrameSequence(str(path))
        writer = FacesetWriter(faceset_dir / name, name, network, cfg.track.crop_size,
                               cfg.track.coverage, seq.padding)
        median = crop_frames(result, found, seq, colour, network, cfg, writer)
        writer.finish(median, str(track_dir.relative_to(cfg.shot_dir)))


def copy(src: Path, dst: Path) -> None:
    if dst.exists():
        sys.exit(f"{dst} exists: a baseline is never replaced (add a new version instead)")
    dst.parent.mkdir(parents=True, exist_ok=True)
    (shutil.copytree if src.is_dir() else shutil.copy2)(src, dst)


def main(out: Path = BASELINES) -> None:
    path = make_shot()
    cfg = config_mod.load(path)
    faceset(cfg)
    # The one change to the real train stage: the smallest model there is.
    real_resolve = train_stage.resolve_preset
    train_stage.resolve_preset = lambda train: dataclasses.replace(
        real_resolve(train), spec=TINY, batch_size=1, checkpoint_every=1)
    try:
        train_stage.train_shot(path, steps=1, keyring=ROOT / "keyring", device="cpu")
    finally:
        train_stage.resolve_preset = real_resolve
    render_shot(path, keyring=ROOT / "keyring", device="cpu")
    comp_shot(path, keyring=ROOT / "keyring")

    work = cfg.shot_dir
    run = work / "train" / "run-001"
    step = next((run / "checkpoints").iterdir())
    copy(work / "faceset" / "v001" / "plate", out / "faceset" / "FacesetMeta.1")
    copy(run / "options.json", out / "train" / "TrainOptions.1.json")
    copy(run / "latest", out / "train" / "Checkpoint.1" / "latest")
    copy(step, out / "train" / "Checkpoint.1" / "checkpoints" / step.name)
    for frame in (1001, NO_FACE):
        copy(work / "render" / "v001" / f"face.{frame}.exr",
             out / "render" / "FaceElement.1" / f"face.{frame}.exr")
    copy(work / "render" / "v001" / "options.json", out / "render" / "RenderOptions.1.json")
    copy(work / "comp" / "v001" / "options.json", out / "comp" / "CompOptions.2.json")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else BASELINES)
