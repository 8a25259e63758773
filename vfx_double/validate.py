"""``vfx-double validate``: check a shot before anything runs, with no side effects.

The shot is opened as every stage opens it (:func:`vfx_double.shot.open_shot`: the config,
the licence for this show, its use, training and rendering, today, the colour config and
every colourspace it names, the plate frames on disk), then every plate and actor
reference frame is read, and every reference frame must be media the licence approves. The first failure stops the rest (as in pyblish).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from pathlib import Path

from . import licence as licence_mod
from .config import ShotConfig
from .io.exr import ExrHeader, read_exr, read_header
from .io.plate_check import PlateCheck, written_back
from .io.sequences import FrameSequence, format_frames
from .progress import ProgressFn
from .shot import open_shot

#: a shot needs its licence to grant these, plus the shot's own use (film or advertising)
STAGE_USES = ("train", "render")


@dataclass
class Report:
    config: ShotConfig
    lines: list[str] = field(default_factory=list)


def _read_all(seq: FrameSequence, frames: list[int], *, read_pixels: bool,
              progress: ProgressFn | None) -> ExrHeader:
    """Every frame's header checked (size, RGB channels), and with ``read_pixels`` every
    frame decoded and its pixels checked finite; the first that fails raises MediaError
    naming it; returns the first frame's header."""
    check = PlateCheck(seq)
    first = None
    for frame in frames:
        header = read_header(seq.path(frame))
        check.header(frame, header)
        first = first or header
        if read_pixels:
            check.image(frame, read_exr(seq.path(frame)))
        if progress:
            progress(1)
    assert first is not None  # sequence_frames never returns no frames
    return first


def validate(path: str | Path, *, keyring: Path | None = None, today: dt.date | None = None,
             read_pixels: bool = True, progress: ProgressFn | None = None) -> Report:
    shot = open_shot(path, uses=(*STAGE_USES, "use"), keyring=keyring,
                     on=today or dt.date.today())
    cfg, lic = shot.cfg, shot.licence
    report = Report(cfg)
    report.lines.append(f"colour: {shot.colour.uri}; plate {cfg.plate.colourspace}, "
                        f"working {cfg.colour.working}, network {cfg.colour.network}, "
                        f"output {cfg.output_colourspace}")
    header = _read_all(shot.plate, shot.frames, read_pixels=read_pixels, progress=progress)
    x, y, w, h = header.data_window
    report.lines.append(f"plate: {len(shot.frames)} frames {format_frames(shot.frames)}, "
                        f"{w}x{h}, channels {','.join(header.channels)}, {header.compression}"
                        f"{', tiled' if header.tile_size else ''}")
    compression, why = written_back(header, cfg.comp.compression)
    report.lines.append(
        f"comp writes: {compression} ({why}), {'tiled' if header.tile_size else 'scanlines'}, "
        "every channel as stored; " + ("lossy: pixels outside the face change too"
                                        if replace(header, compression=compression).lossy else
                                        "pixels outside the face stay bit-identical"))
    ref, ref_frames = shot.footage("actor")
    _read_all(ref, ref_frames, read_pixels=read_pixels, progress=progress)
    licence_mod.require_media(lic, [(f, ref.path(f)) for f in ref_frames])
    report.lines.append(f"actor reference: {len(ref_frames)} frames {format_frames(ref_frames)}")
    report.lines.append(f"licence: {lic.licence_id} for {lic.actor}, show {cfg.show}, "
                        f"uses {', '.join((*STAGE_USES, cfg.use))}, valid until {lic.valid_until}")
    return report

