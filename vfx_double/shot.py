"""The one shot context every stage opens: what a stage knows before it does its own work.

:func:`open_shot` loads the shot config (upgraded to today's schema), passes the licence
gate for the uses the stage needs, resolves every colourspace the config names, finds the
plate frames asked for (all on disk) and opens the shot's work area. The :class:`Shot` it
returns is how a stage finds the previous stage's output (:meth:`Shot.require`), picks or
continues its own version (:meth:`Shot.version_for`), splits a frame range into frames
already written and frames to do (:meth:`Shot.split`), stamps its outputs
(:meth:`Shot.provenance`) and records what it did (:meth:`Shot.audit`). Track, train,
render, comp and review open it; so does ``vfx-double validate``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import config as config_mod
from . import licence as licence_mod
from .audit import AuditLog
from .color import ColourConfig, resolve_config_uri
from .config import Sequence, ShotConfig
from .errors import MediaError, WorkAreaError
from .face.element import PREFIX
from .io.atomic import sweep_stale
from .io.exr import Attribute
from .io.sequences import FrameSequence, format_frames
from .io.streaming import readable_exr
from .workarea import WorkArea

#: a stage's input -> (what the error calls it, the command that makes it)
_MADE_BY = {"track": ("a track version", "track"), "faceset": ("a faceset version", "track"),
            "train": ("a training run", "train"), "render": ("a render version", "render"),
            "comp": ("a comp version", "comp")}


@dataclass(frozen=True)
class Spaces:
    """The shot's colourspaces, resolved to the names the OCIO config uses."""

    plate: str
    reference: str
    working: str
    network: str
    #: what the comp writes: ``colour.output``, else the plate's own
    output: str


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


@dataclass
class Shot:
    cfg: ShotConfig
    licence: licence_mod.Licence
    colour: ColourConfig
    spaces: Spaces
    area: WorkArea
    #: the plate sequence and the frames asked for (every plate frame unless ``frames=``)
    plate: FrameSequence
    frames: list[int]
    requested: tuple[int, int] | None = None

    @property
    def source(self) -> Path:
        """The shot config's path, as commands name it in hints."""
        return self.cfg.source

    def footage(self, name: str) -> tuple[FrameSequence, list[int]]:
        """``plate`` (the frames asked for) or ``actor`` (the whole actor reference)."""
        if name == "plate":
            return self.plate, self.frames
        return sequence_frames(self.cfg.actor.reference,
                               self.cfg.where("actor", "reference", "path"))

    def footage_config(self, name: str) -> Sequence:
        """The config's sequence behind ``plate`` or ``actor`` (its fps, colourspace...)."""
        return self.cfg.plate if name == "plate" else self.cfg.actor.reference

    def all_plate_frames(self) -> list[int]:
        return self.frames if self.requested is None else sequence_frames(
            self.cfg.plate, self.cfg.where("plate", "path"))[1]

    def require(self, stage: str) -> Path:
        """The latest version of ``stage`` (an earlier stage's output); else a WorkAreaError
        naming the command that makes it."""
        latest = self.area.latest(stage)
        if latest is None:
            what, command = _MADE_BY[stage]
            raise WorkAreaError(str(self.area.stage_dir(stage)), what, "none",
                                f"run `vfx-double {command} {self.source}` first")
        return latest

    def new_version(self, stage: str) -> Path:
        return self.area.new_version(stage)

    def version_for(self, stage: str, options: dict[str, Any]) -> tuple[Path, bool]:
        """The latest ``stage`` version made with these ``options`` (a rerun or another farm
        chunk continues it), else a new one; see :meth:`WorkArea.version_for`. A continued
        version is swept of the temp files its killed writers left."""
        folder, continued = self.area.version_for(stage, options)
        if continued:
            sweep_stale(folder)
        return folder, continued

    def split(self, out: FrameSequence) -> tuple[list[int], list[int]]:
        """(kept, todo): the frames asked for whose output in ``out`` already decodes, and
        the rest (missing, or there but broken)."""
        kept: list[int] = []
        todo: list[int] = []
        for frame in self.frames:
            (kept if readable_exr(out.path(frame)) else todo).append(frame)
        return kept, todo

    def provenance(self, *, colourspace: str, **more: str) -> list[Attribute]:
        """Header attributes every frame a stage writes carries: licence, config hash, the
        synthetic label, its colourspace, then ``more`` (e.g. ``modelHash``) as strings."""
        return [Attribute(PREFIX + "licenceId", "string", self.licence.licence_id),
                Attribute(PREFIX + "configHash", "string", self.cfg.config_hash()),
                Attribute(PREFIX + "synthetic", "int", 1),
                Attribute(PREFIX + "colourspace", "string", colourspace),
                *(Attribute(PREFIX + k, "string", v) for k, v in more.items())]

    def audit(self, stage: str, *, inputs: dict[str, str], outputs: dict[str, str],
              extra: dict[str, Any] | None = None) -> None:
        """Append what ``stage`` did to the shot's hash-chained audit log."""
        AuditLog(self.area.audit_path).append(
            stage, inputs=inputs, outputs=outputs, licence_id=self.licence.licence_id,
            config_hash=self.cfg.config_hash(), extra=extra or {})


def open_shot(path: str | Path, *, uses: tuple[str, ...], frames: tuple[int, int] | None = None,
              keyring: Path | None = None, on: dt.date | None = None) -> Shot:
    """Open a shot for a stage that needs the licence to grant ``uses`` (``"use"`` stands
    for the shot's own, film or advertising), over plate ``frames`` (all when None).

    The order of checks is the order a user fixes things in: the config, the licence,
    colour, then frames on disk. The keyring comes from the caller (CLI flag) or the
    environment, never from the shot config."""
    cfg = config_mod.load(path)
    config_mod.check_submitted(cfg)
    wanted = tuple(cfg.use if u == "use" else u for u in uses)
    lic = licence_mod.check(cfg.actor.licence, cfg.show, wanted, on, keyring,
                            actor=cfg.actor.name, where=cfg.where("actor", "licence"))
    colour = ColourConfig.load(resolve_config_uri(cfg.colour.config, cfg.source.parent))
    plate_space = colour.resolve(cfg.plate.colourspace, where=cfg.where("plate", "colourspace"))
    spaces = Spaces(
        plate=plate_space,
        reference=colour.resolve(cfg.actor.reference.colourspace,
                                 where=cfg.where("actor", "reference", "colourspace")),
        working=colour.resolve(cfg.colour.working, where=cfg.where("colour", "working")),
        network=colour.resolve(cfg.colour.network, where=cfg.where("colour", "network")),
        output=(colour.resolve(cfg.colour.output, where=cfg.where("colour", "output"))
                if cfg.colour.output else plate_space))
    plate, plate_frames = sequence_frames(cfg.plate, cfg.where("plate", "path"), frames)
    return Shot(cfg, lic, colour, spaces, WorkArea(cfg.shot_dir), plate, plate_frames, frames)


@dataclass
class FrameReport:
    """What a frame stage (render, comp) did: the frames asked for, written and kept."""

    folder: Path
    frames: list[int]
    written: list[int] = field(default_factory=list)
    kept: list[int] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self, label: str, rate_digits: int = 1) -> list[str]:
        rate = len(self.written) / self.seconds if self.seconds else 0.0
        return [f"{label:<7} {self.folder}",
                f"frames: {format_frames(self.frames)}; written {len(self.written)}, "
                f"kept {len(self.kept)} (already complete); {rate:.{rate_digits}f} frames/s"]
