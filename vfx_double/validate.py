"""``vfx-double validate``: check a shot before anything runs, with no side effects.

Checks run in order and the first failure stops the rest (as in pyblish): the config,
the colour config and every colourspace it names, the plate and actor reference frames
(present and readable), then the likeness licence for this show, its use, training and
rendering, today.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from . import config as config_mod
from . import licence as licence_mod
from .color import ColourConfig, resolve_config_uri
from .config import Sequence, ShotConfig
from .errors import LicenceError, MediaError
from .io.exr import read_exr, read_header
from .io.sequences import FrameSequence, format_frames
from .progress import ProgressFn

#: a shot needs its licence to grant these, plus the shot's own use (film or advertising)
STAGE_USES = ("train", "render")


@dataclass
class Report:
    config: ShotConfig
    lines: list[str] = field(default_factory=list)


def sequence_frames(seq_cfg: Sequence, where: str,
                    requested: tuple[int, int] | None = None) -> tuple[FrameSequence, list[int]]:
    """The sequence's frames (or the ``requested`` part of them), all on disk; else MediaError."""
    seq = FrameSequence(str(seq_cfg.path), seq_cfg.frames)
    existing = seq.existing()
    if not existing:
        raise MediaError(where, f"frames matching {seq_cfg.path}",
                         f"none in {seq_cfg.path.parent}", "check the path and the frame token")
    frames = seq.frames()
    if requested is not None:
        first, last = requested
        if first < frames[0] or last > frames[-1]:
            raise MediaError(where, f"--frames inside the sequence's {frames[0]}-{frames[-1]}",
                             f"{first}-{last}", "pick frames the plate has")
        frames = [f for f in frames if first <= f <= last]
    missing = seq.missing(frames)
    if missing:
        have = format_frames(existing)
        raise MediaError(where, f"frames {format_frames(frames)} of {seq_cfg.path}",
                         f"missing frames {format_frames(missing)} (on disk: {have})",
                         "restore them or narrow the frame range")
    return seq, frames


def check_sequence(seq_cfg: Sequence, where: str, *, read_pixels: bool,
                   progress: ProgressFn | None = None) -> tuple[FrameSequence, list[int]]:
    """The sequence's frames, all present and readable; raise MediaError naming the first bad one."""
    seq, frames = sequence_frames(seq_cfg, where)
    for frame in frames:
        path = seq.path(frame)
        if read_pixels:
            read_exr(path)
        else:
            read_header(path)
        if progress:
            progress(1)
    return seq, frames


def validate(path: str | Path, *, keyring: Path | None = None, today: dt.date | None = None,
             read_pixels: bool = True, progress: ProgressFn | None = None) -> Report:
    cfg = config_mod.load(path)
    report = Report(cfg)
    today = today or dt.date.today()

    uri = resolve_config_uri(cfg.colour.config, cfg.source.parent)
    colour = ColourConfig.load(uri)
    spaces = {
        ("plate", "colourspace"): cfg.plate.colourspace,
        ("actor", "reference", "colourspace"): cfg.actor.reference.colourspace,
        ("colour", "working"): cfg.colour.working,
        ("colour", "network"): cfg.colour.network,
    }
    if cfg.colour.output is not None:
        spaces[("colour", "output")] = cfg.colour.output
    for key, name in spaces.items():
        colour.resolve(name, where=cfg.where(*key))
    report.lines.append(f"colour: {colour.uri}; plate {cfg.plate.colourspace}, "
                        f"working {cfg.colour.working}, network {cfg.colour.network}, "
                        f"output {cfg.output_colourspace}")

    plate, frames = check_sequence(cfg.plate, cfg.where("plate", "path"),
                                   read_pixels=read_pixels, progress=progress)
    header = read_header(plate.path(frames[0]))
    x, y, w, h = header.data_window
    report.lines.append(f"plate: {len(frames)} frames {format_frames(frames)}, "
                        f"{w}x{h}, channels {','.join(header.channels)}")
    _, ref_frames = check_sequence(cfg.actor.reference, cfg.where("actor", "reference", "path"),
                                   read_pixels=read_pixels, progress=progress)
    report.lines.append(f"actor reference: {len(ref_frames)} frames {format_frames(ref_frames)}")

    uses = (*STAGE_USES, cfg.use)
    lic = shot_licence(cfg, uses, keyring=keyring, on=today)
    report.lines.append(f"licence: {lic.licence_id} for {lic.actor}, show {cfg.show}, "
                        f"uses {', '.join(uses)}, valid until {lic.valid_until}")
    return report


def shot_licence(cfg: ShotConfig, uses: tuple[str, ...], *, keyring: Path | None = None,
                 on: dt.date | None = None) -> licence_mod.Licence:
    """The shot's licence, verified against the studio keyring and checked for each use.

    The keyring comes from the caller (CLI flag) or the environment, never from the shot
    config, so editing YAML cannot make an untrusted licence pass.
    """
    where = cfg.where("actor", "licence")
    ring = licence_mod.load_keyring(keyring)
    lic = licence_mod.verify(cfg.actor.licence, ring)
    if lic.actor != cfg.actor.name:
        raise LicenceError(f"{cfg.actor.licence} (field actor)", f"a licence for actor '{cfg.actor.name}' "
                           f"(actor.name at {cfg.where('actor', 'name')})", repr(lic.actor),
                           "use the licence issued for this actor")
    for use in uses:
        licence_mod.require(lic, cfg.show, use, on or dt.date.today(), where=where)
    return lic
