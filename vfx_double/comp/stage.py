"""The comp stage: face elements over the plates, written as ``<shot>_comp_vNNN.####.exr``.

Two passes over the frames asked for:

1. colour statistics (only when ``comp.colour_match`` is not ``none``): each element and
   the plate rows under it (EXR decodes only those chunks) give one frame's statistics;
   they are smoothed over time with zero lag. A frame's smoothed value depends only on the
   frames within :func:`colour_match.window` of it, so the pass reads that many frames
   around the range and farm chunks give exactly what one whole-shot run gives;
2. the comp: elements and plates read ahead on a thread, each frame comped inside its
   matte's box (:mod:`.blend`) and written behind on worker threads. Only the plate rows
   the face's comp reads and changes are decoded and encoded again; every other row of
   the output is the plate's own compressed chunk, copied byte for byte
   (:mod:`..io.exr_chunks`; a tiled plate, another output compression or colourspace
   decode and write the frame whole). So the comp checks the plate pixels of those rows
   (``validate`` checks them all), and rows it never touches keep whatever they store.
   Memory holds a few frames whatever the length of the shot.

A rerun continues the latest comp version made from the same render, settings and plate,
and writes only frames that are missing or do not decode.
"""

from __future__ import annotations

import time
import zlib
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..config import Comp
from ..errors import MediaError, WorkAreaError
from ..face.element import PREFIX, Element, element_channels, read_element, unpremultiply
from ..face.matte import margin
from ..io.exr import Attribute, ExrHeader, ExrImage, as_float32, read_bands, read_exr, read_header
from ..io.exr_chunks import lines_per_chunk, write_band
from ..io.plate_check import PlateCheck, written_back
from ..io.sequences import FrameSequence, format_frames
from ..io.streaming import WriteBehind, read_ahead_of, write_frame
from ..progress import stage_progress
from ..records import hash_file, read_json
from ..shot import FrameReport, open_shot
from . import colour_match, detail, record, shot_grain
from .blend import CompColour, comp_frame, grow

#: temporal smoothing of the colour statistics, in frames (Gaussian sigma)
STATS_SIGMA = 4.0
#: the stats pass reads one band of ``STATS_BAND`` rows (a zip chunk) in every
#: ``STATS_ROW_STEP`` across the face box
STATS_BAND = 16
STATS_ROW_STEP = 3
#: frames measured at once by the stats pass, and how many are queued ahead of the one
#: being taken (a bound on what waits in memory: each is a few numbers)
STATS_WORKERS = 2
STATS_AHEAD = 4


@dataclass
class CompReport(FrameReport):
    passed_through: list[int] = field(default_factory=list)
    #: frames whose grain did not match the shot's and were given their own estimate
    own_grain: list[int] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = self.summary("comp:", rate_digits=2)
        if self.passed_through:
            out.append(f"no face, plate passed through: {format_frames(self.passed_through)}")
        if self.own_grain:
            out.append("grain unlike the shot's, measured on the frame itself: "
                       f"{format_frames(self.own_grain)}")
        return out


#: the plate's own ``vfx_double/`` attributes (import-video's source clip, the plate's
#: colourspace) go under this prefix in the comp, so none can be read as the comp's own
#: provenance
PLATE_PREFIX = PREFIX + "plate/"


def plate_attributes(attributes: list[Attribute]) -> list[Attribute]:
    """The plate's header for the comp: ``vfx_double/x`` becomes ``vfx_double/plate/x``
    (replacing one of that name already there: the plate's own fact is the nearer one);
    everything else passes through as it is, in order."""
    def moved(name: str) -> str:
        ours = name.startswith(PREFIX) and not name.startswith(PLATE_PREFIX)
        return PLATE_PREFIX + name[len(PREFIX):] if ours else name

    renamed = [(moved(a.name), a) for a in attributes]
    targets = {new for new, a in renamed if new != a.name}
    return [Attribute(new, a.type, a.value) for new, a in renamed
            if new != a.name or new not in targets]


def comp_shot(path: str | Path, *, frames: tuple[int, int] | None = None,
              keyring: Path | None = None, bar: Callable | None = None) -> CompReport:
    shot = open_shot(path, uses=("render", "use"), frames=frames, keyring=keyring)
    cfg, look = shot.cfg, shot.cfg.comp
    spaces = CompColour(shot.colour, shot.spaces.plate, shot.spaces.working, shot.spaces.output)
    render_dir = shot.require("render")
    plate_seq, plate_frames = shot.plate, shot.frames
    elements = FrameSequence(str(render_dir / f"face.{'#' * plate_seq.padding}.exr"))
    missing = elements.missing(plate_frames)
    if missing:
        raise MediaError(str(elements.pattern), f"face elements for {format_frames(plate_frames)}",
                         f"missing frames {format_frames(missing)}",
                         f"run `vfx-double render {cfg.source} --frames "
                         f"{missing[0]}-{missing[-1]}`")
    expect = _element_provenance(render_dir, shot.licence.licence_id)
    options = {"schema": "CompOptions.2", "render": render_dir.name,
               "render_options_sha256": hash_file(render_dir / "options.json"),
               "comp": asdict(cfg.comp), "plate": str(cfg.plate.path),
               "plate_colourspace": spaces.plate, "working": spaces.working,
               "output": spaces.output, "licence_id": shot.licence.licence_id,
               "stats_sigma": STATS_SIGMA,
               "detail_plate_at_model_limit": detail.PLATE_AT_MODEL_LIMIT,
               "detail_agree": [detail.AGREE_DEAD, detail.AGREE_WIDTH],
               "match_record": f"{record.SCHEMA[0]}.{record.SCHEMA[1]}"}
    if look.grain:
        options["grain_estimate"] = shot_grain.options()
    comp_dir, _ = shot.version_for("comp", options)
    out_seq = FrameSequence(str(comp_dir / f"{cfg.shot}_comp_{comp_dir.name}."
                                           f"{'#' * plate_seq.padding}.exr"))
    report = CompReport(comp_dir, plate_frames)
    report.kept, todo = shot.split(out_seq)
    all_frames = shot.all_plate_frames()
    check = PlateCheck(plate_seq, all_frames[0])
    headers = check.headers(todo)
    start = time.perf_counter()
    stats = (_smoothed_stats(todo, all_frames, plate_seq, elements, spaces, headers, bar)
             if todo and look.colour_match != "none" else {})
    shot_model = (shot_grain.shot_model(comp_dir, all_frames, plate_seq, elements, spaces)
                  if todo and look.grain else None)
    base_seed = zlib.crc32(f"{cfg.show}/{cfg.shot}".encode())
    provenance = shot.provenance(colourspace=spaces.output, render=render_dir.name,
                                 modelHash=expect["modelHash"])
    colourspaces = {"plate": spaces.plate, "working": spaces.working, "output": spaces.output}
    compressions = {f: written_back(headers[f], cfg.comp.compression)[0] for f in todo}

    def read(frame: int) -> tuple[Element, ExrImage, bool]:
        """On the read-ahead thread: the element, then the plate: only the rows the face's
        comp reads and writes when the frame can be written by splicing, else whole."""
        element = read_element(elements.path(frame), frame, expect)
        header, path = headers[frame], plate_seq.path(frame)
        rows = (_plate_rows(element, look, header) if spaces.output == spaces.plate
                and compressions[frame] == header.compression else None)
        if rows is None:
            return element, read_exr(path, dtype=None, frame=frame), False
        pixels = read_bands(path, [rows], list(header.channels), frame=frame)
        x, _, width, _ = header.data_window
        return element, ExrImage(pixels=pixels, channels=header.channels,
                                 data_window=(x, rows[0], width, rows[1] - rows[0]),
                                 display_window=header.display_window,
                                 attributes=header.attributes,
                                 compression=header.compression), True

    with stage_progress(bar, len(todo), f"comp {cfg.shot}") as progress, \
            WriteBehind() as writer:
        for frame, (element, plate, rows_only) in read_ahead_of(todo, read,
                                                                f"read {plate_seq.pattern}"):
            check.image(frame, plate)
            plate_path = plate_seq.path(frame)
            grain_model = None
            if look.grain and element.face:
                frame_grain = shot_grain.frame_model(
                    shot_model, plate, element.box, spaces,
                    whole=partial(read_exr, plate_path, dtype=None, frame=frame)
                    if rows_only else None)
                grain_model = frame_grain.model
                if frame_grain.own:
                    report.own_grain.append(frame)
            pixels, box = comp_frame(plate, element, look, spaces, stats.get(frame),
                                     grain_model, seed=(base_seed + frame) & 0xFFFFFFFF,
                                     in_place=True)
            out = plate.replace(pixels=pixels, attributes=plate_attributes(plate.attributes))
            for attr in provenance:
                out.set_attribute(attr.name, attr.value, attr.type)
            out.set_attribute(PREFIX + "modelHash", element.model_hash, "string")
            out.set_attribute(PREFIX + "face", int(box is not None), "int")
            if box is None:
                report.passed_through.append(frame)
            spread = (None if box is None else detail.frame_spread(
                look.detail, element.model_pixel, f"face element, frame {frame}"))
            match = record.frame_record(
                frame, render=render_dir.name, colourspaces=colourspaces, look=look, box=box,
                element_box=element.box, stats=stats.get(frame), grain_model=grain_model,
                spread=spread)
            header = headers[frame]
            writer.submit(_write_comped, comp_dir, match, plate_seq.padding,
                          out_seq.path(frame), out, plate_path if rows_only else None,
                          compression=compressions[frame], pixel_type=list(_formats(header)),
                          tile_size=header.tile_size)
            report.written.append(frame)
            progress(1)
    report.seconds = time.perf_counter() - start
    shot.audit(
        "comp", inputs={"render_options": hash_file(render_dir / "options.json")},
        outputs={"options": hash_file(comp_dir / "options.json")},
        extra={"version": comp_dir.name, "frames": format_frames(plate_frames),
               "written": len(report.written)})
    return report


def _write_comped(comp_dir: Path, match: dict[str, Any], padding: int, path: Path,
                  image: ExrImage, plate: Path | None, **options: Any) -> bool:
    """On a writer thread: a frame's match record, then the frame (so a frame on disk
    always has its record; a rerun rewrites a frame that is missing). Both are fsynced
    before their rename, which costs the main thread nothing here. With ``plate``,
    ``image`` is some of the frame's rows, and every other row is the plate's own chunks
    (:func:`.exr_chunks.write_band`)."""
    record.write_frame_record(comp_dir, match, padding)
    if plate is None:
        return write_frame(path, image, **options)
    options.pop("tile_size")
    return write_frame(path, image, write=partial(write_band, plate=plate), **options)


def _plate_rows(element: Element, look: Comp, header: ExrHeader) -> tuple[int, int] | None:
    """The plate rows ``y0 <= y < y1`` the comp of this frame reads and changes (the
    matte's region, grown by what detail reads around it), on whole EXR chunks; a frame
    without a face reads one chunk. None when the plate is not stored in scanline chunks
    the comp can splice."""
    lines = lines_per_chunk(header.compression)
    if header.tile_size or lines is None:
        return None
    x, y, width, height = window = header.data_window
    region = (grow(element.box, margin(look.erode, look.feather), window)
              if element.face and look.mix > 0.0 else None)
    if region is None:
        return y, min(y + lines, y + height)
    t = detail.frame_spread(look.detail, element.model_pixel,
                            f"face element, frame {element.frame}")
    if t is not None:
        region = grow(region, detail.margin(t), window)
    top = y + (region[1] - y) // lines * lines
    bottom = y + -(-(region[1] + region[3] - y) // lines) * lines
    return top, min(bottom, y + height)


def _element_provenance(render_dir: Path, licence_id: str) -> dict[str, str]:
    """What every element of ``render_dir`` must say about itself: the model and licence
    its render options froze, and its version."""
    path = render_dir / "options.json"
    options = read_json(path, "options", WorkAreaError)
    if not isinstance(options, dict) or not all(
            isinstance(options.get(k), str) for k in ("weights_sha256", "licence_id")):
        raise WorkAreaError(str(path), "render options with weights_sha256 and licence_id",
                            "a file without them", "render again: this version was not made "
                            "by `vfx-double render`")
    if options["licence_id"] != licence_id:
        raise WorkAreaError(f"{path} (licence_id)", f"{licence_id!r}, the shot's licence",
                            repr(options["licence_id"]), "render again under this licence")
    return {"modelHash": options["weights_sha256"], "licenceId": licence_id,
            "render": render_dir.name}


def _formats(header: ExrHeader) -> tuple[str, ...]:
    """The plate's per-channel pixel types, so every channel is written as it was stored."""
    formats = header.channel_formats
    if any(f not in ("half", "float") for f in formats):
        raise MediaError(str(header.path), "half or float channels",
                         f"channel types {', '.join(formats)}",
                         "comp passes through half and float channels only; convert the "
                         "integer channels (e.g. IDs) to float upstream")
    return formats


def _smoothed_stats(todo: list[int], all_frames: list[int], plate_seq: FrameSequence,
                    elements: FrameSequence, spaces: CompColour,
                    headers: dict[int, ExrHeader], bar: Callable | None
                    ) -> dict[int, colour_match.FrameStats]:
    """``headers``: the plate headers already read (the frames to comp); the window's
    frames beyond them are read here."""
    radius = colour_match.window(STATS_SIGMA)
    near = {f for t in todo for f in range(t - radius, t + radius + 1)}
    wanted = [f for f in all_frames if f in near]
    have = [f for f in wanted if elements.path(f).is_file()]
    measured: dict[int, colour_match.FrameStats | None] = {}

    def measure(frame: int) -> colour_match.FrameStats | None:
        plate_header = headers.get(frame) or read_header(plate_seq.path(frame), frame=frame)
        return _measure(plate_seq.path(frame), elements.path(frame), frame, spaces,
                        plate_header.data_window[:2])

    # One band at a time is one EXR chunk: its decode and the measuring keep one core busy,
    # so frames are measured on STATS_WORKERS threads (OpenImageIO, OCIO and NumPy's large
    # operations release the GIL). Results are taken in frame order; the first error stops
    # the frames not yet started.
    pool = ThreadPoolExecutor(max_workers=STATS_WORKERS, thread_name_prefix="stats")
    try:
        with stage_progress(bar, len(have), "colour stats") as progress:
            pending = deque(pool.submit(measure, frame) for frame in have[:STATS_AHEAD])
            for i, frame in enumerate(have):
                if i + STATS_AHEAD < len(have):
                    pending.append(pool.submit(measure, have[i + STATS_AHEAD]))
                measured[frame] = pending.popleft().result()
                progress(1)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return colour_match.smooth(measured, STATS_SIGMA)


def _measure(plate_path: Path, element_path: Path, frame: int, spaces: CompColour,
             plate_origin: tuple[int, int]) -> colour_match.FrameStats | None:
    """One frame's statistics from every ``STATS_ROW_STEP``-th band of rows of the face
    box: EXR decodes only those chunks of plate and element, and mean, spread and
    quantiles of a face need far fewer pixels than the box holds."""
    header = read_header(element_path, frame=frame)
    if not header.attribute(PREFIX + "face", 0):
        return None
    x, y, w, h = header.data_window
    plate_x, plate_y = plate_origin
    first = plate_y + (y - plate_y) // STATS_BAND * STATS_BAND
    bands = [(max(top, y), min(top + STATS_BAND, y + h))
             for top in range(first, y + h, STATS_BAND * STATS_ROW_STEP)]
    plate_rows = read_bands(plate_path, bands, ["R", "G", "B"], frame=frame)
    px0 = x - plate_x
    if px0 < 0 or px0 + w > plate_rows.shape[1]:
        return None
    plate_px = as_float32(plate_rows[:, px0:px0 + w])
    element_px = as_float32(read_bands(element_path, bands,
                                       list(element_channels(header.channels)), frame=frame))
    if (plate_px.shape[:2] != element_px.shape[:2] or not np.isfinite(element_px).all()
            or not np.isfinite(plate_px).all()):
        # the comp pass refuses a non-finite frame with the pixel's position; its statistics
        # must not reach the frames it is smoothed with
        return None
    plate_lin = spaces.colour.convert(plate_px, spaces.plate, spaces.working)
    alpha, matte = element_px[..., 3], element_px[..., 4]
    colour = unpremultiply(element_px[..., :3], alpha)
    # The face's inside: where the raw matte is solid, away from the edge the comp feathers.
    weight = np.clip(matte * 2.0 - 1.0, 0.0, 1.0) * (alpha > 0.999)
    return colour_match.measure(plate_lin, colour, weight)
