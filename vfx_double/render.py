"""Render: the trained model over the plate, written as face elements (FaceElement.1).

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

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from . import config as config_mod
from .audit import AuditLog, hash_file
from .color import ColourConfig, resolve_config_uri
from .comp.matte import hull_matte, refine_matte
from .comp.warp import crop_box, footprint, rescale, sub_box, to_plate
from .errors import MediaError, TrackingError, WorkAreaError
from .face.element import CHANNELS, PREFIX, SCHEMA_TAG
from .io.exr import Attribute, ExrImage, write_exr
from .io.sequences import FrameSequence, format_frames
from .io.streaming import WriteBehind, iter_sequence, readable_exr
from .model.networks import FaceModel, ModelSpec
from .progress import stage_progress
from .track import result as track_result
from .track.faceset import warp_crop, with_offset
from .train.checkpoint import latest_checkpoint, load_weights
from .train.data import resize_crop
from .validate import sequence_frames
from .workarea import WorkArea

#: hull of the 68 points grown (+) or inset (-) by this share of the face size, brows lifted
#: as the faceset's masks are; it limits the model's mask. Grown by 0.06, it let a short
#: run's untrained background through past the jaw (lp_d18, 10 minutes of cpu-tiny: a cyan
#: rim at 2.5x the plate's own change there); inset by 0.04 the rim is gone and resolution
#: efficiency is unchanged on lp_d18 and lp_d3 (benchmarks/RESULTS.md, issue 9).
HULL_GROW = -0.04
FOREHEAD = 0.18
#: the matte fades to 0 over the outer 1/EDGE_FADE of the crop on each side, as DFL's merger
#: forces its mask to 0 near the crop edge: the model's pixels there are the least trained,
#: and a matte still solid where the crop ends was cut off by the crop's own edge, a hard
#: light arc across the forehead after the comp's feather.
EDGE_FADE = 16
#: the faceset crop is made from a plate box on multiples of 8 pixels, grown by this many
#: pixels for the bicubic and pyramid taps, so a sub-region gives the full frame's samples.
_SOURCE_MARGIN = 16


@dataclass
class RenderReport:
    render_dir: Path
    frames: list[int]
    written: list[int] = field(default_factory=list)
    kept: list[int] = field(default_factory=list)
    empty: list[int] = field(default_factory=list)
    seconds: float = 0.0

    def lines(self) -> list[str]:
        rate = len(self.written) / self.seconds if self.seconds else 0.0
        out = [f"render: {self.render_dir}",
               f"frames: {format_frames(self.frames)}; written {len(self.written)}, "
               f"kept {len(self.kept)} (already complete); {rate:.1f} frames/s"]
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


def load_model(area: WorkArea, *, show: str, shot: str, licence_id: str, where: str,
               device: torch.device) -> LoadedModel:
    """The latest training run's latest checkpoint, refused unless it was trained for this
    show and shot under this licence."""
    run_dir = area.latest("train")
    if run_dir is None or not (run_dir / "options.json").is_file():
        raise WorkAreaError(str(area.stage_dir("train")), "a training run", "none",
                            f"run `vfx-double train {where}` first")
    options = json.loads((run_dir / "options.json").read_text())
    spec = ModelSpec.from_dict(options["preset"]["spec"])
    folder = latest_checkpoint(run_dir)
    if folder is None:
        raise WorkAreaError(str(run_dir / "checkpoints"), "a complete checkpoint", "none",
                            f"let `vfx-double train {where}` reach its first checkpoint")
    model = FaceModel(spec)
    state = load_weights(folder, {"model": model}, {
        "show": show, "shot": shot, "licence_id": licence_id, "architecture": spec.to_dict()})
    model.to(device).eval()
    return LoadedModel(model, run_dir, folder, state["weights_sha256"], int(state["step"]))


def render_shot(path: str | Path, *, frames: tuple[int, int] | None = None,
                keyring: Path | None = None, device: str | None = None, batch: int = 8,
                bar: Callable | None = None) -> RenderReport:
    """Render face elements for the shot's plate frames (or ``frames``); a rerun continues
    the latest version made with the same model, track and plate, filling missing or
    unreadable frames only."""
    from .validate import shot_licence

    cfg = config_mod.load(path)
    lic = shot_licence(cfg, ("render", cfg.use), keyring=keyring)
    colour = ColourConfig.load(resolve_config_uri(cfg.colour.config, cfg.source.parent))
    plate_space = colour.resolve(cfg.plate.colourspace, where=cfg.where("plate", "colourspace"))
    network = colour.resolve(cfg.colour.network, where=cfg.where("colour", "network"))
    working = colour.resolve(cfg.colour.working, where=cfg.where("colour", "working"))
    plate_seq, plate_frames = sequence_frames(cfg.plate, cfg.where("plate", "path"), frames)
    area = WorkArea(cfg.shot_dir)
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    loaded = load_model(area, show=cfg.show, shot=cfg.shot, licence_id=lic.licence_id,
                        where=str(cfg.source), device=dev)
    track_dir = area.latest("track")
    if track_dir is None:
        raise WorkAreaError(str(area.stage_dir("track")), "a track version", "none",
                            f"run `vfx-double track {cfg.source}` first")
    track = track_result.load(track_dir / "track.json")
    untracked = sorted(set(plate_frames) - set(track.frames))
    if untracked:
        raise TrackingError(str(track_dir / "track.json"),
                            f"the frames to render ({format_frames(plate_frames)})",
                            f"untracked frames {format_frames(untracked)}",
                            f"run `vfx-double track {cfg.source}` over them")
    options = {"schema": "RenderOptions.1", "train_run": loaded.run_dir.name,
               "checkpoint": loaded.checkpoint.name, "weights_sha256": loaded.weights_sha256,
               "track": track_dir.name, "track_sha256": hash_file(track_dir / "track.json"),
               "plate": str(cfg.plate.path), "plate_colourspace": plate_space,
               "network": network, "working": working, "licence_id": lic.licence_id,
               "hull_grow": HULL_GROW, "forehead": FOREHEAD, "edge_fade": EDGE_FADE}
    render_dir, _ = area.version_for("render", options)
    out_seq = FrameSequence(str(render_dir / f"face.{'#' * plate_seq.padding}.exr"))
    report = RenderReport(render_dir, plate_frames)
    todo = []
    for frame in plate_frames:
        (report.kept if readable_exr(out_seq.path(frame)) else todo).append(frame)
    provenance = [Attribute(PREFIX + "schema", "string", SCHEMA_TAG),
                  Attribute(PREFIX + "licenceId", "string", lic.licence_id),
                  Attribute(PREFIX + "modelHash", "string", loaded.weights_sha256),
                  Attribute(PREFIX + "configHash", "string", cfg.config_hash()),
                  Attribute(PREFIX + "synthetic", "int", 1),
                  Attribute(PREFIX + "colourspace", "string", working),
                  Attribute(PREFIX + "source", "string", str(cfg.plate.path))]
    renderer = _Renderer(loaded.model, dev, track, colour, plate_space, network, working,
                         provenance)
    start = time.perf_counter()
    with stage_progress(bar, len(todo), f"render {cfg.shot}") as progress, \
            WriteBehind() as writer, torch.no_grad():
        pending: list[tuple[int, ExrImage]] = []
        for frame, image in iter_sequence(plate_seq, todo, channels=["R", "G", "B"]):
            pending.append((frame, image))
            if len(pending) == batch:
                renderer.flush(pending, out_seq, writer, report, progress)
        renderer.flush(pending, out_seq, writer, report, progress)
    report.seconds = time.perf_counter() - start
    AuditLog(area.audit_path).append(
        "render", inputs={"weights": loaded.weights_sha256,
                          "track": hash_file(track_dir / "track.json")},
        outputs={"options": hash_file(render_dir / "options.json")},
        licence_id=lic.licence_id, config_hash=cfg.config_hash(),
        extra={"version": render_dir.name, "frames": format_frames(plate_frames),
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
            # A frame that is there but does not decode is ours and broken: replace it.
            writer.submit(write_exr, out_seq.path(frame), element, compression="zip",
                          pixel_type="half", overwrite=out_seq.path(frame).exists())
            report.written.append(frame)
            progress(1)
        pending.clear()

    def _crop(self, frame: int, image: ExrImage) -> np.ndarray:
        """(R, R, 3) network-encoded crop, made as the faceset made its crops."""
        matrix = self.track.matrices[self.index[frame]]
        window = image.data_window
        box = crop_box(matrix, self.size, window, margin=_SOURCE_MARGIN, align=8)
        if box is None:
            return np.zeros((self.resolution, self.resolution, 3), np.float32)
        ys, xs = sub_box(window, box)
        region = np.ascontiguousarray(image.pixels[ys, xs, :3], np.float32)
        encoded = self.colour.convert(region, self.plate_space, self.network)
        crop = warp_crop(encoded, with_offset(matrix, box), self.size)
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
        return self._image(frame, image, pixels, box, face=1,
                           extra=[Attribute(PREFIX + "matrix", "float[6]",
                                            tuple(self.track.matrices[i].ravel().tolist())),
                                  Attribute(PREFIX + "cropSize", "int", self.size),
                                  Attribute(PREFIX + "resolution", "int", self.resolution)])

    def _empty(self, frame: int, image: ExrImage) -> ExrImage:
        x, y = image.data_window[:2]
        return self._image(frame, image, np.zeros((1, 1, len(CHANNELS)), np.float32),
                           (x, y, 1, 1), face=0, extra=[])

    def _image(self, frame: int, plate: ExrImage, pixels: np.ndarray, box: tuple,
               face: int, extra: list[Attribute]) -> ExrImage:
        attributes = [*self.provenance, Attribute(PREFIX + "frame", "int", int(frame)),
                      Attribute(PREFIX + "face", "int", face), *extra]
        return ExrImage(pixels=pixels.astype(np.float16), channels=CHANNELS,
                        data_window=tuple(box), display_window=plate.display_window,
                        attributes=attributes, compression="zip")

