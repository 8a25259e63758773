"""The render stage: the trained model over the plate, written as face elements
(FaceElement.2, :mod:`vfx_double.face.element`).

Per plate frame: the face region is read and encoded (ACEScct), warped to the aligned crop
exactly as the faceset was made (so the model sees what it was trained on), run through
performer -> actor in batches, and warped back to plate space with bicubic filtering.

An element is ``render/vNNN/face.####.exr`` (the plate's frame numbers), half float:

- ``R, G, B``: the actor's face in ACEScg, premultiplied by ``A``;
- ``A``: coverage of the rendered crop on the plate (1 inside, antialiased edge);
- ``matte``: the face matte, the model's mask limited to the landmark hull and faded to 0
  over the outer ``1 / EDGE_FADE`` of the crop (raw: the comp erodes and feathers it);
- data window: the crop's box on the plate only, display window: the plate's;
- header: the plate->crop matrix and crop size, colourspace, frame, the provenance
  (licence id, model hash, config hash, ``synthetic = 1``).

A frame without a tracked face gets an empty element (a 1x1 data window, ``face = 0``) so
the comp knows the frame was rendered and passes the plate through.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .. import audit
from ..color import ColourConfig
from ..errors import MediaError, TrackingError, WorkAreaError
from ..face import track as track_result
from ..face.crop import aligned_crop, crop_box, footprint, rescale, resize_crop, to_plate
from ..face.element import CHANNELS, element_image
from ..face.matte import FOREHEAD, hull_matte, refine_matte
from ..io.exr import Attribute, ExrImage
from ..io.sequences import FrameSequence, format_frames
from ..io.plate_check import PlateCheck
from ..io.streaming import WriteBehind, iter_sequence, write_frame
from ..model.checkpoint import latest_checkpoint, load_weights
from ..model.device import pick_device
from ..model.networks import FaceModel, ModelSpec
from ..progress import stage_progress
from ..records import hash_file, read_json
from ..shot import FrameReport, Shot, open_shot

#: hull of the 68 points grown (+) or inset (-) by this share of the face size, brows lifted
#: as the faceset's masks are; it limits the model's mask. Grown by 0.06, it let a short
#: run's untrained background through past the jaw (lp_d18, 10 minutes of cpu-tiny: a cyan
#: rim at 2.5x the plate's own change there); inset by 0.04 the rim is gone and resolution
#: efficiency is unchanged on lp_d18 and lp_d3 (benchmarks/RESULTS.md, issue 9).
HULL_GROW = -0.04
#: the matte fades to 0 over the outer 1/EDGE_FADE of the crop on each side, as DFL's merger
#: forces its mask to 0 near the crop edge: the model's pixels there are the least trained,
#: and a matte still solid where the crop ends was cut off by the crop's own edge, a hard
#: light arc across the forehead after the comp's feather.
EDGE_FADE = 16


@dataclass
class RenderReport(FrameReport):
    empty: list[int] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = self.summary("render:")
        if self.empty:
            out.append(f"no face (empty element, plate passes through): "
                       f"{format_frames(self.empty)}")
        return out


@dataclass
class LoadedModel:
    model: FaceModel
    run_dir: Path
    checkpoint: Path
    weights_sha256: str
    step: int


def _named_checkpoint(run_dir: Path, name: str) -> Path:
    folder = run_dir / "checkpoints" / name
    if Path(name).name != name or not (folder / "state.json").is_file():
        have = sorted(p.name for p in (run_dir / "checkpoints").glob("step-*")) or ["none"]
        raise WorkAreaError(str(folder), "a checkpoint of the run", "no such checkpoint",
                            f"pick one of {', '.join(have[-3:])}")
    return folder


def _check_recorded(shot: Shot, run_dir: Path, folder: Path, weights_sha256: str) -> None:
    """The weights must be ones the training run recorded in the shot's audit log (whose
    chain, and head signature where the studio has an audit key, is checked first), not
    only the ones the unsigned ``state.json`` beside them names: weights swapped in with
    that file's hash fixed were rendered under the other run's provenance."""
    records = audit.check(shot.area.audit_path).records
    if not any(e["stage"] == "train" and isinstance(e["extra"], dict)
               and e["extra"].get("run") == run_dir.name
               and e["outputs"].get("checkpoint") == weights_sha256 for e in records):
        raise WorkAreaError(str(folder / "weights.safetensors"),
                            f"weights the audit log records for training run {run_dir.name}",
                            f"sha256 {weights_sha256[:12]}..., which no train entry records",
                            f"let `vfx-double train {shot.source} --resume` finish so it "
                            "records its checkpoint; weights copied in or edited are refused")


def load_model(shot: Shot, *, device: torch.device, unfinished: bool = False,
               run: str | None = None, checkpoint: str | None = None) -> LoadedModel:
    """The latest (or the named ``run``'s) training run's latest (or named ``checkpoint``)
    checkpoint, refused unless it was trained for this show and shot under this licence,
    and (unless ``unfinished``) reached the run's target steps: a run stopped by a signal
    must not be rendered as if it were done. A farm job pins run and checkpoint, so chunks
    rendered while someone trains on still form one version."""
    run_dir = (shot.area.stage_dir("train") / run) if run else shot.area.latest("train")
    if run_dir is None or not (run_dir / "options.json").is_file():
        raise WorkAreaError(str(shot.area.stage_dir("train")), "a training run", "none",
                            f"run `vfx-double train {shot.source}` first")
    options = read_json(run_dir / "options.json", "options", WorkAreaError)
    spec = ModelSpec.from_dict(options["preset"]["spec"])
    folder = latest_checkpoint(run_dir) if checkpoint is None else _named_checkpoint(
        run_dir, checkpoint)
    if folder is None:
        raise WorkAreaError(str(run_dir / "checkpoints"), "a complete checkpoint", "none",
                            f"let `vfx-double train {shot.source}` reach its first checkpoint")
    model = FaceModel(spec)
    state = load_weights(folder, {"model": model}, {
        "show": shot.cfg.show, "shot": shot.cfg.shot, "licence_id": shot.licence.licence_id,
        "architecture": spec.to_dict()})
    _check_recorded(shot, run_dir, folder, state["weights_sha256"])
    target = options.get("steps")
    if not unfinished and isinstance(target, int) and int(state["step"]) < target:
        raise WorkAreaError(str(folder), f"training run {run_dir.name} at its target of "
                            f"{target} steps", f"step {state['step']}",
                            f"resume it (`vfx-double train {shot.source} --resume`), or render "
                            "this checkpoint anyway with --unfinished")
    model.to(device).eval()
    return LoadedModel(model, run_dir, folder, state["weights_sha256"], int(state["step"]))


def render_shot(path: str | Path, *, frames: tuple[int, int] | None = None,
                keyring: Path | None = None, device: str | None = None, batch: int = 8,
                bar: Callable | None = None, unfinished: bool = False,
                run: str | None = None, checkpoint: str | None = None) -> RenderReport:
    """Render face elements for the shot's plate frames (or ``frames``); a rerun continues
    the latest version made with the same model, track and plate, filling missing or
    unreadable frames only."""
    shot = open_shot(path, uses=("render", "use"), frames=frames, keyring=keyring)
    cfg, spaces = shot.cfg, shot.spaces
    dev = pick_device(device)
    loaded = load_model(shot, device=dev, unfinished=unfinished, run=run, checkpoint=checkpoint)
    track_dir = shot.require("track")
    track = track_result.load(track_dir / "track.json")
    untracked = sorted(set(shot.frames) - set(track.frames))
    if untracked:
        raise TrackingError(str(track_dir / "track.json"),
                            f"the frames to render ({format_frames(shot.frames)})",
                            f"untracked frames {format_frames(untracked)}",
                            f"run `vfx-double track {cfg.source}` over them")
    options = {"schema": "RenderOptions.1", "train_run": loaded.run_dir.name,
               "checkpoint": loaded.checkpoint.name, "weights_sha256": loaded.weights_sha256,
               "track": track_dir.name, "track_sha256": hash_file(track_dir / "track.json"),
               "plate": str(cfg.plate.path), "plate_colourspace": spaces.plate,
               "network": spaces.network, "working": spaces.working,
               "licence_id": shot.licence.licence_id,
               "hull_grow": HULL_GROW, "forehead": FOREHEAD, "edge_fade": EDGE_FADE}
    render_dir, _ = shot.version_for("render", options)
    out_seq = FrameSequence(str(render_dir / f"face.{'#' * shot.plate.padding}.exr"))
    report = RenderReport(render_dir, shot.frames)
    report.kept, todo = shot.split(out_seq)
    provenance = shot.provenance(colourspace=spaces.working, modelHash=loaded.weights_sha256,
                                 source=str(cfg.plate.path), render=render_dir.name)
    renderer = _Renderer(loaded.model, dev, track, shot.colour, spaces.plate, spaces.network,
                         spaces.working, provenance)
    start = time.perf_counter()
    with stage_progress(bar, len(todo), f"render {cfg.shot}") as progress, \
            WriteBehind() as writer, torch.no_grad():
        pending: list[tuple[int, ExrImage]] = []
        check = PlateCheck(shot.plate, shot.all_plate_frames()[0])
        check.headers(todo)
        for frame, image in iter_sequence(shot.plate, todo, channels=["R", "G", "B"]):
            check.image(frame, image)
            pending.append((frame, image))
            if len(pending) == batch:
                renderer.flush(pending, out_seq, writer, report, progress)
        renderer.flush(pending, out_seq, writer, report, progress)
    report.seconds = time.perf_counter() - start
    shot.audit(
        "render", inputs={"weights": loaded.weights_sha256,
                          "track": hash_file(track_dir / "track.json")},
        outputs={"options": hash_file(render_dir / "options.json")},
        extra={"version": render_dir.name, "frames": format_frames(shot.frames),
               "written": len(report.written), "checkpoint": loaded.checkpoint.name})
    return report


def edge_fade(size: int) -> np.ndarray:
    """(size, size) float32 weight: 0 at the crop's edge, rising smoothly (smoothstep) to 1
    at ``size / EDGE_FADE`` pixels inside, 1 beyond."""
    band = size / EDGE_FADE
    centre = np.arange(size, dtype=np.float64) + 0.5
    t = np.clip(np.minimum(centre, size - centre) / band, 0.0, 1.0)
    ramp = t * t * (3.0 - 2.0 * t)
    return np.outer(ramp, ramp).astype(np.float32)


class _Renderer:
    """Batches plate frames through the model and turns the output into elements."""

    def __init__(self, model: FaceModel, device: torch.device, track: track_result.TrackResult,
                 colour: ColourConfig, plate_space: str, network: str, working: str,
                 provenance: list[Attribute]) -> None:
        self.model, self.device, self.track = model, device, track
        self.colour, self.plate_space, self.network, self.working = (colour, plate_space,
                                                                     network, working)
        self.provenance = provenance
        self.resolution = model.spec.resolution
        self.size = int(track.settings.get("crop_size", 256))
        self.index = {f: i for i, f in enumerate(track.frames)}
        self.valid = track.valid

    def flush(self, pending: list[tuple[int, ExrImage]], out_seq: FrameSequence,
              writer: WriteBehind, report: RenderReport, progress: Callable[[int], None]) -> None:
        faces = [(frame, image) for frame, image in pending if self.valid[self.index[frame]]]
        crops = [self._crop(frame, image) for frame, image in faces]
        results: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        if crops:
            x = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).to(self.device)
            rgb, mask = self.model(x, "actor")
            rgb = rgb.float().permute(0, 2, 3, 1).cpu().numpy()
            mask = mask.float().permute(0, 2, 3, 1).cpu().numpy()
            results = {frame: (rgb[i], mask[i]) for i, (frame, _) in enumerate(faces)}
        for frame, image in pending:
            element = self._element(frame, image, *results[frame]) if frame in results else None
            if element is None:
                element = self._empty(frame, image)
                report.empty.append(frame)
            writer.submit(write_frame, out_seq.path(frame), element, compression="zip",
                          pixel_type="half")
            report.written.append(frame)
            progress(1)
        pending.clear()

    def _crop(self, frame: int, image: ExrImage) -> np.ndarray:
        """(R, R, 3) network-encoded crop, made as the faceset made its crops."""
        crop = aligned_crop(image.pixels, image.data_window, self.track.matrices[self.index[frame]],
                            self.size, lambda region: self.colour.convert(
                                region, self.plate_space, self.network))
        if crop is None:
            return np.zeros((self.resolution, self.resolution, 3), np.float32)
        return resize_crop(crop, self.resolution)

    def _element(self, frame: int, image: ExrImage, rgb: np.ndarray, mask: np.ndarray
                 ) -> ExrImage | None:
        i = self.index[frame]
        matrix = rescale(self.track.matrices[i], self.size, self.resolution)
        box = crop_box(matrix, self.resolution, image.data_window, margin=1)
        if box is None:
            return None
        if not np.isfinite(rgb).all() or not np.isfinite(mask).all():
            raise MediaError(f"render frame {frame}", "finite model output",
                             "NaN or infinite values", "the checkpoint is damaged or diverged; "
                             "render from an earlier checkpoint or retrain")
        cover = footprint(matrix, self.resolution, box)
        colour = to_plate(rgb, matrix, box)
        encoded = np.ascontiguousarray(colour, np.float32)
        linear = self.colour.convert(encoded, self.network, self.working)
        faded = mask * edge_fade(self.resolution)[:, :, None]
        matte = to_plate(faded, matrix, box, cubic=False)[:, :, 0]
        points = self.track.points[i]
        face = float(np.sqrt(np.ptp(points[:, 0]) * np.ptp(points[:, 1])))
        hull = hull_matte(points, box, grow=max(HULL_GROW, 0.0) * face, forehead=FOREHEAD)
        if HULL_GROW < 0:
            hull = refine_matte(hull, -HULL_GROW * face, 0.0)
        matte = np.clip(matte, 0.0, 1.0) * hull * cover
        pixels = np.concatenate([linear * cover[:, :, None], cover[:, :, None],
                                 matte[:, :, None]], axis=2)
        return element_image(frame, pixels, box, image.display_window, self.provenance,
                             matrix=self.track.matrices[i], crop_size=self.size,
                             resolution=self.resolution)

    def _empty(self, frame: int, image: ExrImage) -> ExrImage:
        x, y = image.data_window[:2]
        return element_image(frame, np.zeros((1, 1, len(CHANNELS)), np.float32), (x, y, 1, 1),
                             image.display_window, self.provenance)
