"""The track stage as the CLI and farm run it: checks, versions, passes, QC, audit."""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from .. import licence as licence_mod
from ..config import Performer
from ..errors import ConfigError
from ..face.faceset import FacesetWriter
from ..face.track import TrackResult
from ..io.atomic import sweep_stale, temp_path_for
from ..io.exr import ExrImage
from ..io.sequences import FrameSequence
from ..progress import stage_progress
from ..records import hash_file, hash_tree
from ..shot import Shot, open_shot
from .backends import LandmarkBackend, get_backend
from .coverage import coverage
from .coverage_plot import plot_coverage
from .coverage_report import CoverageReport
from .display import display_u8
from .kept import KeptRegions
from .preview import PreviewWriter
from .qc import QcFrame, contact_sheet, resized
from .run import PassOne, crop_frames, frame_hint, track_sequence

CONTACT_THUMBS = 36
THUMB_WIDTH = 640


@dataclass
class TrackReport:
    track_dir: Path
    faceset_dir: Path
    results: dict[str, TrackResult] = field(default_factory=dict)
    facesets: dict[str, dict] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    qc_files: list[Path] = field(default_factory=list)
    coverage: CoverageReport | None = None

    def lines(self) -> list[str]:
        out = [f"track:   {self.track_dir}", f"faceset: {self.faceset_dir}"]
        for name, result in self.results.items():
            s = result.summary
            fps = s["frames"] / self.seconds[name] if self.seconds.get(name) else 0.0
            gaps = ", ".join(f"{a}-{b}" if a != b else str(a) for a, b in s["gaps"]) or "none"
            meta = self.facesets[name]
            skipped = ", ".join(f"{n} {k}" for k, n in meta["skipped"].items() if n) or "none"
            out.append(f"{name}: faces on {s['found']}/{s['frames']} frames, "
                       f"{s['interpolated']} interpolated, gaps {gaps}; "
                       f"{len(meta['crops'])} crops, skipped {skipped}; {fps:.1f} frames/s")
        if self.coverage is not None:
            out += self.coverage.lines()
        out += [f"qc:      {p}" for p in self.qc_files]
        return out


def manifest_hash(seq: FrameSequence, frames: list[int]) -> str:
    """sha256 over each frame's name, size and mtime: identifies the plate as read without
    hashing terabytes of pixels on every run."""
    digest = hashlib.sha256()
    for frame in frames:
        stat = seq.path(frame).stat()
        digest.update(f"{seq.path(frame).name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def track_shot(path: str | Path, *, frames: tuple[int, int] | None = None, qc: bool = False,
               keyring: Path | None = None, bar: Callable | None = None) -> TrackReport:
    """Run tracking and faceset extraction for a shot; returns what was written."""
    # The actor reference becomes training data: the licence must grant training.
    shot = open_shot(path, uses=("train",), frames=frames, keyring=keyring)
    cfg, colour = shot.cfg, shot.colour
    plate_seq, plate_frames = shot.footage("plate")
    ref_seq, ref_frames = shot.footage("actor")
    # The licensor consented to a likeness in this footage: every reference frame must be
    # one the licence lists, and each actor crop records which one it came from.
    ref_files = [(f, ref_seq.path(f)) for f in ref_frames]
    ref_sources = {f: hash_file(path) for f, path in ref_files}
    licence_mod.require_media(shot.licence, ref_files, [ref_sources[f] for f in ref_frames])
    if cfg.performer.select == "frame" and cfg.performer.frame not in plate_frames:
        raise ConfigError(cfg.where("performer", "frame"),
                          f"a frame of the tracked range {plate_frames[0]}-{plate_frames[-1]}",
                          str(cfg.performer.frame), "pick a frame inside the plate range")
    spaces = {"plate": shot.spaces.plate, "actor": shot.spaces.reference}
    # The plate and the actor reference are tracked at the same time, each on a thread with
    # its own backend: a sequence's pass one keeps about one core busy (its decode overlaps
    # its landmarks), and OpenImageIO, OpenCV and the landmark graphs release the GIL. The
    # backends see one image at a time with no memory of the last (FaceMesh in static
    # image mode), so each sequence's result is what it was one after the other. A second
    # backend costs 0.1 s; both are made here, one after the other, as each silences the
    # native logs of its start-up.
    backends: dict[str, LandmarkBackend] = {}
    running: dict[str, Future] = {}
    # Pass two crops from the pixels pass one decoded around the face where it can.
    with _kept(shot, list(spaces)) as kept, \
            ThreadPoolExecutor(max_workers=len(spaces), thread_name_prefix="track") as pool:
        try:
            for name in spaces:
                backends[name] = get_backend(cfg.track.backend, weights=cfg.track.weights,
                                             where=cfg.where("track", "backend"))
            hint = (frame_hint(plate_seq, cfg.performer.frame, spaces["plate"], colour,
                               backends["plate"], cfg) if cfg.performer.select == "frame"
                    and cfg.performer.frame is not None else None)
            jobs = {"plate": (plate_seq, plate_frames, cfg.performer, hint),
                    "actor": (ref_seq, ref_frames, Performer(), None)}

            def pass_one(name: str) -> tuple[TrackResult, PassOne, float]:
                seq, seq_frames, performer, seed = jobs[name]
                with stage_progress(bar, len(seq_frames), f"track {name}") as update:
                    return track_sequence(
                        name, seq, seq_frames, spaces[name], colour, backends[name], cfg,
                        performer, shot.footage_config(name).fps, hint=seed, progress=update,
                        kept=kept[name])

            running = {name: pool.submit(pass_one, name) for name in jobs}
            tracked = {name: future.result() for name, future in running.items()}
        finally:
            for future in running.values():  # one failed: the other's result is not needed
                future.cancel()
            wait(list(running.values()))
            for backend in backends.values():
                backend.close()

        track_dir = shot.new_version("track")
        faceset_dir = shot.new_version("faceset")
        report = TrackReport(track_dir, faceset_dir)

        def pass_two(name: str) -> tuple[dict, float, list[Path]]:
            result, found, _ = tracked[name]
            seq = jobs[name][0]
            result.save(track_dir / ("track.json" if name == "plate" else f"{name}.json"))
            start = time.perf_counter()
            with FacesetWriter(faceset_dir / name, result.sequence, shot.spaces.network,
                               cfg.track.crop_size, cfg.track.coverage, seq.padding) as writer:
                with stage_progress(bar, len(result.frames), f"faceset {name}") as update, \
                        _qc(qc, track_dir / "qc", name, result, found, shot) as sink:
                    median = crop_frames(result, found, seq, colour, shot.spaces.network, cfg,
                                         writer, qc_sink=sink, progress=update,
                                         sources=ref_sources if name == "actor" else None,
                                         kept=kept[name])
                facesets = writer.finish(median, str(track_dir.relative_to(cfg.shot_dir)))
            qc_files = sorted((track_dir / "qc").glob(f"{name}_*")) if qc else []
            return facesets, time.perf_counter() - start, qc_files

        # the two facesets at the same time too (each writes its own folder)
        cropping = {name: pool.submit(pass_two, name) for name in jobs}
        for name, future in cropping.items():
            facesets, secs, qc_files = future.result()
            report.results[name] = tracked[name][0]
            report.seconds[name] = tracked[name][2] + secs
            report.facesets[name] = facesets
            report.qc_files += qc_files

    # Against the actor frames the faceset kept: those are what the model will learn from.
    cover = coverage(report.results["plate"], report.results["actor"],
                     {c["frame"] for c in report.facesets["actor"]["crops"]})
    cover.plate["track"], cover.actor["track"] = "track.json", "actor.json"
    cover.save(track_dir / "coverage.json")
    report.coverage = cover
    if qc:
        report.qc_files.append(plot_coverage(
            cover, track_dir / "qc" / "coverage.png",
            title=f"{cfg.show}/{cfg.shot} plate {plate_frames[0]}-{plate_frames[-1]} vs actor "
                  f"{ref_frames[0]}-{ref_frames[-1]}"))

    shot.audit("track",
               inputs={"plate": manifest_hash(plate_seq, plate_frames),
                       "reference": manifest_hash(ref_seq, ref_frames)},
               outputs={"track": hash_tree(track_dir), "faceset": hash_tree(faceset_dir)},
               extra={"frames": [plate_frames[0], plate_frames[-1]], "backend": cfg.track.backend,
                      "track_version": track_dir.name, "faceset_version": faceset_dir.name})
    return report


@contextlib.contextmanager
def _kept(shot: Shot, names: list[str]) -> Iterator[dict[str, KeptRegions]]:
    """Pass one's kept pixels (:mod:`.kept`) of each sequence, in a scratch folder beside
    the track versions, removed on leaving; named as a temp file of this process, so the
    next run sweeps the folder of a run that was killed."""
    stage_dir = shot.area.stage_dir("track")
    stage_dir.mkdir(parents=True, exist_ok=True)
    sweep_stale(stage_dir, folders=True)
    folder = temp_path_for(stage_dir / "pass-one")
    folder.mkdir()
    kept = {name: KeptRegions(folder / f"{name}.raw", shot.cfg.track.crop_size,
                              shot.cfg.track.coverage) for name in names}
    try:
        yield kept
    finally:
        for regions in kept.values():
            regions.close()
        shutil.rmtree(folder, ignore_errors=True)


class _qc:
    """Feeds pass two's frames to the H.264 preview and the contact sheet when --qc."""

    def __init__(self, enabled: bool, folder: Path, name: str, result: TrackResult,
                 found: PassOne, shot: Shot) -> None:
        self.enabled, self.folder, self.name, self.shot = enabled, folder, name, shot
        self.result, self.found, self.colour, self.cfg = result, found, shot.colour, shot.cfg
        self.writer = None
        self.thumbs: list = []
        count = len(result.frames)
        self.pick = set(np.linspace(0, count - 1, min(CONTACT_THUMBS, count)).round().astype(int))

    def __enter__(self) -> Callable | None:
        if not self.enabled:
            return None
        self.folder.mkdir(parents=True, exist_ok=True)
        self.writer = PreviewWriter(self.folder / f"{self.name}_preview.mp4",
                                    fps=self.shot.footage_config(self.name).fps)
        self.writer.__enter__()
        return self.add

    def add(self, i: int, frame: int, image: ExrImage, reason: str | None) -> None:
        r = self.result
        dx, dy = image.data_window[:2]
        offset = np.array([dx, dy])
        flags = list(r.flags[i]) + ([reason] if reason and reason not in r.flags[i] else [])
        valid = "no_face" not in r.flags[i]
        raw = self.found.points[i]
        qc = QcFrame(
            frame=frame, image=display_u8(self.colour, image.pixels, r.colourspace),
            points=r.points[i] - offset if valid else None,
            raw_points=raw - offset if raw is not None else None,
            box=tuple((r.boxes[i] - np.tile(offset, 2)).tolist()) if valid else None,
            others=[(b.x0 - dx, b.y0 - dy, b.x1 - dx, b.y1 - dy) for b in self.found.others[i]],
            flags=flags, confidence=float(r.confidence[i]) if valid else None)
        assert self.writer is not None
        self.writer.add(qc)
        if i in self.pick:
            # Thumbnails only: the sheet must not hold dozens of full-size 4K frames.
            h, w = qc.image.shape[:2]
            self.thumbs.append(resized(qc, THUMB_WIDTH, max(2, round(h * THUMB_WIDTH / w))))

    def __exit__(self, *exc: object) -> None:
        if self.writer is None:
            return
        self.writer.__exit__(*exc)
        if exc[0] is None:
            s = self.result.summary
            contact_sheet(self.thumbs, self.folder / f"{self.name}_contact.png",
                          title=f"{self.cfg.show}/{self.cfg.shot} {self.name}: "
                                f"{self.result.backend['version']}, faces {s['found']}/{s['frames']}, "
                                f"performer: {self.result.performer.get('select')}")
