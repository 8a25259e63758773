"""The review stage: a comp version into dailies, ``review/vNNN/``.

One pass streams the comp frames (and the plate's, read ahead on threads) through the OCIO
display view into three movies at once: the review as H.264 (web) and ProRes 422 HQ
(editorial), both with slate, burn-ins and watermark, and ``plate.mp4``, the plate through
the same view with the same slate length, so the dailies page can wipe between them frame
for frame. Memory holds a few frames whatever the shot's length. Then both review movies
are signed (C2PA), the comp frames get a signed sidecar manifest of their hashes, and
``report.json`` is written last: a version without it did not finish, and a rerun with the
same comp and settings makes it again in the same folder.
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np

from .. import tasks
from ..errors import MediaError, WorkAreaError
from ..face import track as track_record
from ..face.element import PREFIX
from ..io import atomic
from ..io.contact import write_sheet
from ..io.exr import read_exr, read_header
from ..io.movie import MovieWriter
from ..io.sequences import FrameSequence, format_frames
from ..io.streaming import iter_sequence
from ..progress import stage_progress
from ..provenance import watermark
from ..provenance.content_credentials import sign_movie
from ..provenance.sidecar import write_sidecar
from ..provenance.signing import load_signing
from ..records import hash_file, last_json_line, read_json
from ..shot import Shot, open_shot
from . import report as report_mod
from .frames import (
    COMPARES,
    BurnIns,
    burn_in,
    compare,
    even_size,
    on_canvas,
    quantise,
    slate,
)

SLATE_FRAMES = 1
CONTACT_FRAMES = 12
THUMB_WIDTH = 320
BANNER = "SYNTHETIC MEDIA"


@dataclass
class ReviewReport:
    folder: Path
    frames: list[int]
    kept: bool = False
    seconds: float = 0.0
    movies: dict[str, Path] = field(default_factory=dict)

    def lines(self) -> list[str]:
        if self.kept:
            return [f"review: {self.folder}", "already complete (report.json); nothing to do"]
        rate = len(self.frames) / self.seconds if self.seconds else 0.0
        return [f"review: {self.folder}",
                f"frames: {format_frames(self.frames)}; {rate:.2f} frames/s",
                *(f"  {kind}: {path.name}" for kind, path in self.movies.items())]


def review_shot(path: str | Path, *, frames: tuple[int, int] | None = None,
                keyring: Path | None = None, signing: Path | None = None,
                compare_mode: str | None = None, bar: Callable | None = None,
                on: dt.date | None = None, new: bool = False) -> ReviewReport:
    """Review the latest comp into the latest review version made with the same settings
    (finished: nothing to do; unfinished: made again), or a new version (``new``, or other
    settings)."""
    shot = open_shot(path, uses=("render", "use"), frames=frames, keyring=keyring, on=on)
    cfg, look = shot.cfg, shot.cfg.review
    mode = compare_mode or look.compare
    if mode not in COMPARES:
        raise MediaError("--compare", f"one of {', '.join(COMPARES)}", repr(mode))
    comp_dir = shot.require("comp")
    comp_seq = FrameSequence(str(comp_dir / f"{cfg.shot}_comp_{comp_dir.name}."
                                            f"{'#' * shot.plate.padding}.exr"))
    missing = comp_seq.missing(shot.frames)
    if missing:
        raise MediaError(str(comp_seq.pattern), f"comp frames {format_frames(shot.frames)}",
                         f"missing frames {format_frames(missing)}",
                         f"run `vfx-double comp {cfg.source} --frames "
                         f"{missing[0]}-{missing[-1]}`")
    # fail on keys and the display before any work: a farm task should stop at once
    credentials = load_signing(signing)
    where = cfg.where("review", "display")
    # the comp's own header says its colourspace and picture size
    first = read_header(comp_seq.path(shot.frames[0]))
    output = str(first.attribute(PREFIX + "colourspace", shot.spaces.output))
    size = even_size(first.display_window[2], first.display_window[3])
    shot.colour.display_view_processor(output, look.display, look.view, where=where)
    lineage = _lineage(comp_dir)
    options = {"schema": "ReviewOptions.1", "comp": comp_dir.name,
               "comp_options_sha256": hash_file(comp_dir / "options.json"),
               "frames": format_frames(shot.frames), "display": look.display,
               "view": look.view, "compare": mode, "watermark": look.watermark,
               "fps": cfg.review_fps, "slate_frames": SLATE_FRAMES,
               "licence_id": shot.licence.licence_id}
    if new:
        folder = shot.new_version("review")
        atomic.write_json(folder / "options.json", options, overwrite=False)
    else:
        folder, _ = shot.version_for("review", options)
    report = ReviewReport(folder, shot.frames)
    if (folder / report_mod.NAME).is_file():
        report.kept = True
        return report
    start = time.perf_counter()
    version = int(folder.name.lstrip("v"))
    payload = watermark.payload_for(shot.licence.licence_id, version)
    today = (on or dt.date.today()).isoformat()
    made = _Movies(shot, folder, comp_seq, output, size, mode,
                   payload if look.watermark else None, today, lineage)
    made.write(bar)
    title = f"{cfg.show}/{cfg.shot} review {folder.name} (synthetic)"
    record = _record(shot, folder, lineage, made, payload if look.watermark else None, mode)
    for kind in ("h264", "prores"):
        sign_movie(made.paths[kind], credentials=credentials, title=title,
                   licence=shot.licence, plate_ingredient=made.plate_still, report=record)
    sidecar = write_sidecar(folder / "frames.manifest.json",
                            [comp_seq.path(f) for f in shot.frames],
                            credentials=credentials, licence_id=shot.licence.licence_id,
                            base=cfg.shot_dir)
    shutil.copyfile(cfg.actor.licence, folder / "licence.json")
    report_path = report_mod.write(folder, record)
    # the sidecar lists every comp frame's sha256: its hash stands for the frames read
    shot.audit("review", inputs={"comp_options": options["comp_options_sha256"],
                                 "comp_frames": hash_file(sidecar)},
               outputs={kind: hash_file(p) for kind, p in made.paths.items()}
               | {"report": hash_file(report_path)},
               extra={"version": folder.name, "comp": comp_dir.name,
                      "frames": options["frames"]})
    report.movies = dict(made.paths)
    report.seconds = time.perf_counter() - start
    return report


def _lineage(comp_dir: Path) -> dict[str, Any]:
    """What the comp came from, read from the options each stage froze in its version:
    render version, training run, model (weights) hash, track version."""
    comp = read_json(comp_dir / "options.json", "options", WorkAreaError)
    render_dir = comp_dir.parent.parent / "render" / str(comp.get("render"))
    render = read_json(render_dir / "options.json", "options", WorkAreaError)
    return {"comp": comp_dir.name, "render": render_dir.name,
            "train_run": render.get("train_run"), "model_hash": render.get("weights_sha256"),
            "track": render.get("track"), "checkpoint": render.get("checkpoint")}


class _Movies:
    """The three movies, the contact sheet and the thumbnails of one review version."""

    def __init__(self, shot: Shot, folder: Path, comp_seq: FrameSequence, output: str,
                 size: tuple[int, int], mode: str, payload: bytes | None, today: str,
                 lineage: dict[str, Any]) -> None:
        self.shot, self.folder, self.comp_seq = shot, folder, comp_seq
        self.output, self.mode, self.payload, self.today = output, mode, payload, today
        self.lineage = lineage
        cfg = shot.cfg
        name = f"{cfg.shot}_review_{folder.name}"
        self.paths = {"h264": folder / f"{name}.mp4", "prores": folder / f"{name}.mov",
                      "plate": folder / "plate.mp4"}
        self.plate_still = folder / "plate.jpg"
        self.size = size

    def _display(self, pixels: np.ndarray, src: str) -> np.ndarray:
        look = self.shot.cfg.review
        shown = self.shot.colour.to_display(pixels, src, look.display, look.view, threads=2)
        return np.clip(shown, 0.0, 1.0, out=shown)

    def write(self, bar: Callable | None) -> None:
        shot, cfg = self.shot, self.shot.cfg
        frames = shot.frames
        middle = frames[len(frames) // 2]
        comp_mid = self._display(on_canvas(read_exr(self.comp_seq.path(middle)), self.size),
                                 self.output)
        plate_mid = self._display(on_canvas(read_exr(shot.plate.path(middle)), self.size),
                                  shot.spaces.plate)
        _write_jpeg(self.plate_still, plate_mid)
        _write_jpeg(self.folder / "thumb.jpg", comp_mid)
        fps = cfg.review_fps
        embed = (watermark.Embedder(self.payload, self.size).embed
                 if self.payload is not None else (lambda f: f))
        picks = set(np.linspace(0, len(frames) - 1, min(CONTACT_FRAMES, len(frames)))
                    .round().astype(int).tolist())
        thumbs: list[np.ndarray] = []
        review_slate = slate(self.size, self._slate_fields(), comp_mid, BANNER)
        plate_slate = slate(self.size, self._slate_fields(), plate_mid,
                            "PLATE - ORIGINAL PHOTOGRAPHY")
        comps = iter_sequence(self.comp_seq, frames, dtype="float32")
        plates = iter_sequence(shot.plate, frames, dtype="float32")
        with MovieWriter(self.paths["h264"], fps, self.size) as h264, \
                MovieWriter(self.paths["prores"], fps, self.size, codec="prores") as prores, \
                MovieWriter(self.paths["plate"], fps, self.size) as plate_movie, \
                stage_progress(bar, len(frames), f"review {cfg.shot}") as progress:
            for _ in range(SLATE_FRAMES):
                marked = embed(review_slate.copy())
                h264.add(quantise(marked, 8))
                prores.add(quantise(marked, 16))
                plate_movie.add(quantise(plate_slate, 8))
            for i, ((frame, comp), (_, plate)) in enumerate(zip(comps, plates)):
                plate_shown, shown = display_pair(self._display, on_canvas(plate, self.size),
                                                  shot.spaces.plate, on_canvas(comp, self.size),
                                                  self.output)
                picture = compare(shown, plate_shown, self.mode)
                burn_in(picture, self._burn_ins(frame, i, len(frames), "SYNTHETIC"))
                marked = embed(picture)
                h264.add(quantise(marked, 8))
                prores.add(quantise(marked, 16))
                burn_in(plate_shown, self._burn_ins(frame, i, len(frames), "PLATE"))
                plate_movie.add(quantise(plate_shown, 8))
                if i in picks:
                    thumbs.append(_thumb(marked))
                progress(1)
        lic = shot.licence
        write_sheet(thumbs, self.folder / "contact.png",
                    [f"{cfg.show}/{cfg.shot} review {self.folder.name} - {BANNER}",
                     f"comp {self.lineage['comp']}, frames {format_frames(frames)}, licence "
                     f"{lic.licence_id} (valid until {lic.valid_until}), model "
                     f"{str(self.lineage['model_hash'])[:12]}"],
                    columns=4, gap=6)

    def _slate_fields(self) -> list[tuple[str, str]]:
        cfg, lic, frames = self.shot.cfg, self.shot.licence, self.shot.frames
        return [("show", cfg.show), ("shot", cfg.shot),
                ("version", f"{self.folder.name} (comp {self.lineage['comp']}, render "
                            f"{self.lineage['render']}, {self.lineage['train_run']})"),
                ("frames", f"{frames[0]}-{frames[-1]} ({len(frames)} frames)"),
                ("date", self.today),
                ("licence", f"{lic.licence_id}, valid until {lic.valid_until}"),
                ("actor", lic.actor),
                ("model", str(self.lineage["model_hash"])[:16]),
                ("config", cfg.config_hash()[:16])]

    def _burn_ins(self, frame: int, index: int, count: int, label: str) -> BurnIns:
        cfg, lic = self.shot.cfg, self.shot.licence
        words = (f"SYNTHETIC - licence {lic.licence_id}" if label == "SYNTHETIC"
                 else "PLATE - original photography")
        return BurnIns(top_left=f"{cfg.show} {cfg.shot}", top_centre=words,
                       top_right=self.today,
                       bottom_left=f"review {self.folder.name} / comp {self.lineage['comp']}",
                       bottom_centre=f"{index + 1}/{count}", bottom_right=str(frame))


def display_pair(view: Callable[[np.ndarray, str], np.ndarray], plate: np.ndarray,
                 plate_space: str, comp: np.ndarray,
                 comp_space: str) -> tuple[np.ndarray, np.ndarray]:
    """``view(pixels, colourspace)`` of the plate and of the comp, both ``(H, W, 3)``.

    The comp is bit-identical to the plate outside its face box when both are in one
    colourspace, and a view works pixel by pixel, so only the box where they differ goes
    through the view a second time: the exact view at about half the cost (an ACES output
    transform is most of a review frame's time)."""
    plate_shown = view(plate, plate_space)
    if comp_space != plate_space:
        return plate_shown, view(comp, comp_space)
    shown = plate_shown.copy()
    differs = comp != plate
    rows = np.flatnonzero(differs.any(axis=(1, 2)))
    if rows.size:
        cols = np.flatnonzero(differs[rows[0]:rows[-1] + 1].any(axis=(0, 2)))
        box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
        shown[box] = view(np.ascontiguousarray(comp[box]), comp_space)
    return plate_shown, shown


def _thumb(frame: np.ndarray) -> np.ndarray:
    h, w = frame.shape[:2]
    size = (THUMB_WIDTH, max(2, round(h * THUMB_WIDTH / w)))
    return quantise(cv2.resize(frame, size, interpolation=cv2.INTER_AREA), 8)


def _write_jpeg(path: Path, frame: np.ndarray) -> None:
    """A display-referred frame as a small JPEG (a thumbnail, the C2PA plate ingredient)."""
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(_thumb(frame), cv2.COLOR_RGB2BGR),
                            [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        raise MediaError(str(path), "a JPEG", "cv2.imencode failed")
    atomic.write_bytes(path, data.tobytes())


def _record(shot: Shot, folder: Path, lineage: dict[str, Any], made: _Movies,
            payload: bytes | None, mode: str) -> dict[str, Any]:
    cfg, lic, frames = shot.cfg, shot.licence, shot.frames
    return {
        "show": cfg.show, "shot": cfg.shot, "version": folder.name,
        "comp": lineage["comp"], "render": lineage["render"], "train_run": lineage["train_run"],
        "first": frames[0], "last": frames[-1], "fps": cfg.review_fps,
        "width": made.size[0], "height": made.size[1], "slate_frames": SLATE_FRAMES,
        "compare": mode,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "licence": {"id": lic.licence_id, "actor": lic.actor,
                    "valid_from": lic.valid_from.isoformat(),
                    "valid_until": lic.valid_until.isoformat(), "uses": list(lic.uses),
                    "shows": list(lic.shows)},
        "model_hash": lineage["model_hash"], "config_hash": cfg.config_hash(),
        "display": {"config": shot.colour.uri, "display": cfg.review.display,
                    "view": cfg.review.view, "comp_colourspace": made.output},
        "movies": {kind: p.name for kind, p in made.paths.items()},
        "contact_sheet": "contact.png", "thumbnail": "thumb.jpg", "plate_still": "plate.jpg",
        "sidecar": "frames.manifest.json",
        "watermark": watermark.describe(payload) if payload is not None else None,
        "synthetic": True,
        "metrics": _metrics(shot, lineage),
        "cost": _cost(shot),
    }


def _metrics(shot: Shot, lineage: dict[str, Any]) -> dict[str, Any]:
    """Tracking, training and comp figures the dailies show beside the movie."""
    shot_dir = shot.cfg.shot_dir
    out: dict[str, Any] = {}
    track_dir = shot_dir / "track" / str(lineage["track"])
    if (track_dir / "track.json").is_file():
        out["tracking"] = dict(track_record.load(track_dir / "track.json").summary)
    if (track_dir / "coverage.json").is_file():
        coverage = read_json(track_dir / "coverage.json", "record", WorkAreaError)
        out.setdefault("tracking", {})["coverage"] = coverage.get("summary")
    last = last_json_line(shot_dir / "train" / str(lineage["train_run"]) / "metrics.jsonl")
    if last is not None:
        out["training"] = last
    out["comp"] = _comp_figures(shot_dir / "comp" / str(lineage["comp"]), shot.frames)
    return out


def _comp_figures(comp_dir: Path, frames: list[int]) -> dict[str, Any]:
    """From the comp's per-frame match records (``match.####.json``, CompMatch.1): frames
    with a face comped and passed through, the face box's size, the colour match's gains."""
    boxes, gains = [], []
    for frame in frames:
        path = comp_dir / f"match.{frame:04d}.json"
        if not path.is_file():
            continue
        record = read_json(path, "record", WorkAreaError)
        if record.get("box"):
            boxes.append(record["box"])
        multiply = (record.get("colour_match") or {}).get("multiply")
        if multiply:
            gains.extend(float(g) for g in multiply)
    figures: dict[str, Any] = {"version": comp_dir.name, "frames": len(frames),
                               "frames_with_face": len(boxes),
                               "passed_through": len(frames) - len(boxes)}
    if boxes:
        figures["face_box_mean_px"] = [round(float(np.mean([b[2] for b in boxes]))),
                                       round(float(np.mean([b[3] for b in boxes])))]
    if gains:
        figures["colour_match_gain_range"] = [round(min(gains), 3), round(max(gains), 3)]
    return figures


def _cost(shot: Shot) -> dict[str, Any]:
    by_stage = tasks.costs(tasks.read_records(shot.cfg.shot_dir))
    return {"cpu_hours": round(sum(c.cpu_hours for c in by_stage.values()), 4),
            "gpu_hours": round(sum(c.gpu_hours for c in by_stage.values()), 4),
            "by_stage": {stage: {"cpu_hours": c.cpu_hours, "gpu_hours": c.gpu_hours,
                                 "tasks": c.tasks} for stage, c in by_stage.items()}}
