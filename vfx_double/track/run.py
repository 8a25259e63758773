"""``vfx-double track``: plate and actor reference -> versioned track, faceset and QC.

Pass one reads each frame (between detections only the rows around the face), shows the
models display-referred sRGB made with OCIO from the sequence's colourspace where they look
(:mod:`.display`), follows the performer and keeps the pixels it decoded around the face
(:mod:`.kept`). Then gaps are filled, landmarks smoothed (zero lag, the whole shot is
known) and aligned. Pass two crops the aligned faces from the kept pixels (decoding the
plate again where its box was not kept), converts them to the network encoding and writes
them (and, with QC, reads whole frames for the preview). Memory holds landmarks, not
frames, so it does not grow with the shot's pixels; the kept pixels are in a scratch file.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import cv2
import numpy as np

from ..color import ColourConfig
from ..config import Performer, ShotConfig
from ..errors import TrackingError
from ..face.align import align_matrix, warp_points
from ..face.crop import aligned_crop, aligned_crop_box
from ..face.faceset import FacesetWriter
from ..face.matte import hull_mask
from ..face.track import TrackResult
from ..io.exr import ExrHeader, ExrImage, as_float32, read_bands, read_exr, read_header
from ..io.plate_check import RGB, PlateCheck
from ..io.sequences import FrameSequence, format_frames
from ..io.streaming import iter_sequence, read_ahead_of
from ..progress import ProgressFn
from .backends import FaceBox, LandmarkBackend
from .display import DisplayFrame, display_u8, warped
from .follow import Follower
from .gaps import fill_gaps, gap_ranges
from .kept import KeptRegions
from .measures import head_pose, sharpness
from .rows import RowPlan
from .smooth import smooth_landmarks

SHARPNESS_SIZE = 128


@dataclass
class PassOne:
    """Per-frame findings of pass one, in plate (display-window) pixels."""

    frames: list[int]
    frame_size: tuple[int, int] = (0, 0)
    points: list[np.ndarray | None] = field(default_factory=list)
    confidence: list[float] = field(default_factory=list)
    others: list[list[FaceBox]] = field(default_factory=list)
    sharpness: list[float] = field(default_factory=list)
    #: each frame's data window, so pass two reads only the rows its crop needs
    windows: list[tuple[int, int, int, int]] = field(default_factory=list)
    chosen: FaceBox | None = None
    chosen_frame: int | None = None
    #: frames decoded only around the face, and those of them whose follow step needed
    #: rows outside what was decoded (then read whole)
    bands: int = 0
    misses: int = 0


def pass_one(seq: FrameSequence, frames: list[int], colourspace: str, colour: ColourConfig,
             backend: LandmarkBackend, cfg: ShotConfig, performer: Performer,
             hint: FaceBox | None = None, progress: ProgressFn | None = None,
             plan_rows: bool = True, kept: KeptRegions | None = None) -> PassOne:
    """Follow the performer through ``frames``. With ``plan_rows`` a frame between
    detections is decoded only around the face (:mod:`.rows`); what is found is the same
    either way (a frame whose rows fall short is read whole). ``kept`` keeps the decoded
    pixels around each face found, for pass two."""
    found = PassOne(frames)
    follower = Follower(backend, performer, cfg.track.min_confidence,
                        cfg.track.redetect_every, hint=hint)
    check = PlateCheck(seq, frames[0] if frames else None)
    headers = check.headers(frames)
    index = {frame: i for i, frame in enumerate(frames)}
    plan = RowPlan(headers[frames[0]].data_window[3] if frames else 0,
                   cfg.track.redetect_every)

    def read(frame: int) -> ExrImage:
        rows = plan.rows(index[frame]) if plan_rows else None
        return (_read_whole(seq, frame) if rows is None
                else _read_rows(seq, frame, rows, headers[frame]))

    # Frame i + 1 is decoded while frame i is followed, planned from frame i - 1: reading
    # further ahead would plan from older frames and need wider margins.
    for frame, image in read_ahead_of(frames, read, f"read {seq.pattern}", read_ahead=0):
        check.image(frame, image)
        header = headers[frame]
        dx, dy = header.data_window[:2]
        top = image.data_window[1] - dy
        found.windows.append(tuple(header.data_window))  # type: ignore[arg-type]
        found.frame_size = tuple(header.display_window[2:4])  # type: ignore[assignment]

        def whole(frame: int = frame) -> np.ndarray:
            image = _read_whole(seq, frame)
            check.image(frame, image)
            return image.pixels

        # Converted where the follow step and the sharpness crop look, the whole frame only
        # for a detection; rows missing from a band are read then (a miss).
        rgb = DisplayFrame(colour, image.pixels, colourspace, top=top,
                           height=header.data_window[3], read_whole=whole)
        faces = follower.step(rgb)
        marks = faces.landmarks
        offset = np.array([dx, dy], dtype=np.float64)
        if marks is None:
            found.points.append(None)
            found.confidence.append(0.0)
            found.sharpness.append(0.0)
        else:
            found.points.append(marks.points + offset)
            found.confidence.append(float(marks.confidence))
            found.sharpness.append(_quick_sharpness(rgb, marks.points, cfg.track.coverage))
            if kept is not None:
                # rgb.pixels: the rows decoded, or the whole frame after a miss
                kept.keep(frame, rgb.pixels, (dx, dy + rgb.rows[0], rgb.pixels.shape[1],
                                              rgb.rows[1] - rgb.rows[0]), marks.points + offset)
        found.others.append([_shift(b, dx, dy) for b in faces.others])
        if found.chosen is None and follower.chosen is not None:
            found.chosen, found.chosen_frame = _shift(follower.chosen, dx, dy), frame
        found.bands += image.data_window != header.data_window
        found.misses += rgb.missed
        plan.seen(index[frame], rgb.asked)
        if progress:
            progress(1)
    return found


def _read_whole(seq: FrameSequence, frame: int) -> ExrImage:
    # As stored (half, for most plates): the decode skips a float conversion and the
    # finite check runs on half the bytes; the sRGB made from it is the same (half ->
    # float32 is exact).
    return read_exr(seq.path(frame), dtype=None, frame=frame)


def _read_rows(seq: FrameSequence, frame: int, rows: tuple[int, int],
               header: ExrHeader) -> ExrImage:
    """Rows ``top <= y < bottom`` of the data window (from its top), R, G and B."""
    x, y, w, _ = header.data_window
    pixels = read_bands(seq.path(frame), [(y + rows[0], y + rows[1])], RGB, frame=frame)
    return ExrImage(pixels=pixels, channels=RGB, data_window=(x, y + rows[0], w, len(pixels)),
                    display_window=header.display_window)


def _shift(box: FaceBox, dx: float, dy: float) -> FaceBox:
    return FaceBox(box.x0 + dx, box.y0 + dy, box.x1 + dx, box.y1 + dy, box.score)


def _quick_sharpness(rgb: np.ndarray | DisplayFrame, points: np.ndarray,
                     coverage: float) -> float:
    """Sharpness of a small aligned grey crop: cheap, and comparable across the shot (a
    plate's crop is warped from its pixels and then converted, as the models' crops are)."""
    matrix = align_matrix(points, SHARPNESS_SIZE, coverage)
    crop = warped(rgb, matrix, SHARPNESS_SIZE, cv2.INTER_AREA)
    if crop is None:
        return 0.0
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    mask = hull_mask(warp_points(matrix, points), SHARPNESS_SIZE)
    return sharpness(grey[:, :, None], mask)


def finish(found: PassOne, name: str, seq: FrameSequence, colourspace: str,
           backend: LandmarkBackend, cfg: ShotConfig, performer: Performer,
           fps: float) -> TrackResult:
    """Gaps, smoothing, alignment and flags over the whole sequence."""
    t = len(found.frames)
    have = np.array([p is not None for p in found.points])
    if not have.any():
        raise TrackingError(f"{seq.pattern} frames {format_frames(found.frames)}",
                            "a face on at least one frame", "no face on any frame",
                            "check the plate shows a face of at least ~60 px and the "
                            "colourspace is right (the detector sees sRGB made from it)")
    raw = np.zeros((t, 68, 2))
    raw[have] = np.stack([p for p in found.points if p is not None])
    confidence = np.asarray(found.confidence)
    filled, interpolated, long_gaps = fill_gaps(raw, have, cfg.track.max_gap)
    valid = have | interpolated
    points = smooth_landmarks(filled, cfg.track.smoothing, valid=valid, fps=fps)
    size, coverage = cfg.track.crop_size, cfg.track.coverage
    matrices = np.zeros((t, 2, 3))
    boxes = np.zeros((t, 4))
    for i in np.flatnonzero(valid):
        matrices[i] = align_matrix(points[i], size, coverage)
        boxes[i] = [*points[i].min(0), *points[i].max(0)]
    long_frames = {i for a, b in long_gaps for i in range(a, b + 1)}
    flags: list[list[str]] = []
    for i in range(t):
        f: list[str] = []
        if not valid[i]:
            f.append("no_face")
        if interpolated[i]:
            f.append("interpolated")
        if have[i] and confidence[i] < cfg.track.min_confidence:
            f.append("low_confidence")
        if i in long_frames:
            f.append("long_gap")
        flags.append(f)
    gaps = [(found.frames[a], found.frames[b]) for a, b in gap_ranges(have)]
    settings = {k: getattr(cfg.track, k) for k in ("smoothing", "max_gap", "coverage",
                                                   "crop_size", "min_confidence")}
    return TrackResult(
        sequence=name, source=seq.pattern, colourspace=colourspace,
        frame_size=found.frame_size, frames=found.frames, points_raw=np.where(
            have[:, None, None], raw, np.nan), points=np.where(valid[:, None, None], points, np.nan),
        boxes=boxes, confidence=confidence, matrices=matrices, flags=flags,
        backend={"name": backend.name, "version": backend.version()}, settings=settings,
        performer={"select": performer.select, "chosen_on": found.chosen_frame,
                   "box": None if found.chosen is None else
                   [round(v, 1) for v in (found.chosen.x0, found.chosen.y0,
                                          found.chosen.x1, found.chosen.y1)]},
        summary={"frames": t, "found": int(have.sum()), "interpolated": int(interpolated.sum()),
                 "no_face": int((~valid).sum()),
                 "gaps": [list(g) for g in gaps],
                 "long_gaps": [[found.frames[a], found.frames[b]] for a, b in long_gaps]},
    )


def frame_hint(seq: FrameSequence, frame: int, colourspace: str, colour: ColourConfig,
               backend: LandmarkBackend, cfg: ShotConfig) -> FaceBox | None:
    """For ``performer.select: frame``: the largest face on that frame seeds the choice."""
    image = read_exr(seq.path(frame))
    boxes = backend.detect(display_u8(colour, image.pixels, colourspace))
    if not boxes:
        raise TrackingError(f"{cfg.where('performer', 'frame')}", f"a face on frame {frame}",
                            "none", "pick a frame where the performer is visible")
    best = max(boxes, key=lambda b: b.width * b.height)
    return _shift(best, *image.data_window[:2])


def track_sequence(name: str, seq: FrameSequence, frames: list[int], colourspace: str,
                   colour: ColourConfig, backend: LandmarkBackend, cfg: ShotConfig,
                   performer: Performer, fps: float, hint: FaceBox | None = None,
                   progress: ProgressFn | None = None, kept: KeptRegions | None = None
                   ) -> tuple[TrackResult, PassOne, float]:
    """Track one sequence at its own frame rate ``fps`` (smoothing is in seconds)."""
    start = time.perf_counter()
    found = pass_one(seq, frames, colourspace, colour, backend, cfg, performer, hint=hint,
                     progress=progress, kept=kept)
    if kept is not None:
        kept.finish()
    result = finish(found, name, seq, colourspace, backend, cfg, performer, fps=fps)
    return result, found, time.perf_counter() - start


def crop_frames(result: TrackResult, found: PassOne, seq: FrameSequence, colour: ColourConfig,
                network: str, cfg: ShotConfig, out: FacesetWriter, qc_sink: Callable | None = None,
                progress: ProgressFn | None = None,
                sources: dict[int, str] | None = None, kept: KeptRegions | None = None) -> float:
    """Pass two: write the aligned crops through ``out`` (with each frame's source file
    sha256 from ``sources``); return the median sharpness. A crop whose pixels pass one
    kept (``kept``) is made from them instead of decoding the plate again."""
    size = cfg.track.crop_size
    sharp = np.asarray(found.sharpness)
    have = np.array([p is not None for p in found.points])
    median = float(np.median(sharp[have])) if have.any() else 0.0

    def encode(region: np.ndarray) -> np.ndarray:
        return colour.convert(region, result.colourspace, network)

    reasons = [_skip_reason(flags, sharp[i], cfg.track.min_sharpness * median)
               for i, flags in enumerate(result.flags)]
    if qc_sink is not None:
        # The preview shows whole frames: read them whole.
        wanted = list(result.frames)
        images: Iterator[tuple[int, Any]] = iter_sequence(seq, wanted)
    else:
        # Only the rows each crop reads, and nothing of a frame skipped (issue 15): EXR
        # decodes only the chunks that hold them, and the crop is the same bit for bit.
        windows = dict(zip(found.frames, found.windows))
        bands = {}
        for i, frame in enumerate(result.frames):
            window = windows.get(frame) or read_header(seq.path(frame)).data_window
            box = aligned_crop_box(result.matrices[i], size, window) if reasons[i] is None else None
            if box is not None:
                bands[frame] = box, window
        wanted = list(bands)

        def read(frame: int) -> _Band:
            box, window = bands[frame]
            pixels = kept.take(frame, box) if kept is not None else None
            if pixels is None:
                return _read_band(seq, frame, (box[1], box[1] + box[3]), window)
            # Exactly the crop's box: aligned_crop finds the same box in it (its corner
            # is on the same grid) and makes the same crop. Checked by pass one.
            return _Band(as_float32(pixels), box)

        images = read_ahead_of(wanted, read, f"read {seq.pattern}")
    wanted_set = set(wanted)
    check = PlateCheck(seq)

    for i, frame in enumerate(result.frames):
        reason = reasons[i]
        image, crop = None, None
        if frame in wanted_set:
            got, image = next(images)
            assert got == frame
            if qc_sink is not None:  # whole frames; a band is checked as it is read
                check.finite(frame, image.pixels, image.channels, image.data_window)
        matrix = result.matrices[i]
        if reason is None and image is not None:
            crop = aligned_crop(image.pixels, image.data_window, matrix, size, encode)
        if crop is None and reason is None:
            reason = "no_face"  # tracked, but the crop lies wholly off the frame
        if qc_sink is not None:
            qc_sink(i, frame, image, reason)
        if reason is not None:
            out.skip(frame, reason)
        else:
            points_crop = warp_points(matrix, result.points[i])
            out.add(frame, crop, hull_mask(points_crop, size), matrix, points_crop, sharp[i],
                    result.confidence[i], head_pose(result.points[i], result.frame_size),
                    source=(sources or {}).get(frame))
        if progress:
            progress(1)
    return median


def _skip_reason(flags: list[str], sharpness: float, least: float) -> str | None:
    """Why a tracked frame gives no crop, before its pixels are read; None: crop it."""
    for flag in ("no_face", "interpolated", "low_confidence"):
        if flag in flags:
            return flag
    return "blurred" if sharpness < least else None


@dataclass
class _Band:
    """Rows of a plate frame: ``pixels`` (rows, W, 3) cover ``data_window``."""

    pixels: np.ndarray
    data_window: tuple[int, int, int, int]


def _read_band(seq: FrameSequence, frame: int, rows: tuple[int, int],
               window: tuple[int, int, int, int]) -> _Band:
    pixels = read_bands(seq.path(frame), [rows], RGB, frame=frame)
    band = (window[0], rows[0], window[2], rows[1] - rows[0])
    # Pass one decoded only the rows around the face between detections: these may hold
    # rows it did not check.
    PlateCheck(seq).finite(frame, pixels, RGB, band)
    # float32 here, on the read-ahead thread and by OpenCV, rather than by NumPy in the
    # crop on the main thread (bit-identical; the crop works in float32 either way)
    return _Band(as_float32(pixels), band)
