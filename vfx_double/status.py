"""``vfx-double status``: where a shot stands, read from its work area alone (it writes
nothing and needs no licence): per stage its versions and, for the latest, what is done and
what is missing; training's step of its target, last loss and time spent; the audit log.

Cost per stage (CPU- and GPU-hours) is summed from the shot's task records
(:mod:`vfx_double.tasks`: every stage run leaves one, on any engine), with the tasks that
failed, the frames no later task finished, and the last error with its log.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import audit
from . import config as config_mod
from .errors import VfxDoubleError, WorkAreaError
from .face import track as track_record
from .io.sequences import FrameSequence, format_frames
from .model.checkpoint import latest_checkpoint
from .records import last_json_line, read_json
from .shot import sequence_frames
from .tasks import StageCost, costs, read_records
from .workarea import WorkArea


@dataclass
class StageStatus:
    stage: str
    versions: list[str] = field(default_factory=list)
    latest: str | None = None
    #: what the latest version holds, in words ("48/48 frames", "step 200 of 3000")
    done: str = ""
    missing: str = ""
    detail: dict[str, Any] = field(default_factory=dict)
    cost: StageCost | None = None


@dataclass
class ShotStatus:
    show: str
    shot: str
    plate_frames: str
    stages: list[StageStatus]
    audit: str

    def lines(self) -> list[str]:
        out = [f"{self.show}/{self.shot}: plate {self.plate_frames}"]
        for s in self.stages:
            head = f"  {s.stage:<8} {len(s.versions)} version(s)"
            if s.latest:
                head += f", latest {s.latest}: {s.done}"
                if s.missing:
                    head += f"; missing {s.missing}"
            out.append(head)
            c = s.cost
            if c is not None and c.tasks:
                out.append(f"           cost {c.cpu_hours:.3f} CPU-h, {c.gpu_hours:.3f} GPU-h "
                           f"over {c.tasks} task(s), {c.failed} failed"
                           + (f", {c.stopped} stopped and resumed or to resume" if c.stopped
                              else ""))
                if c.failed_frames:
                    out.append(f"           failed, not redone: {', '.join(c.failed_frames)}")
                if c.last_error:
                    out.append(f"           last error: {c.last_error}"
                               + (f" (log {c.last_error_log})" if c.last_error_log else ""))
        out.append(f"  audit    {self.audit}")
        return out

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)


def _frames_status(seq: FrameSequence, frames: list[int]) -> tuple[str, str]:
    missing = seq.missing(frames)
    return (f"{len(frames) - len(missing)}/{len(frames)} frames",
            format_frames(missing) if missing else "")


def shot_status(path: str | Path) -> ShotStatus:
    cfg = config_mod.load(path)
    area = WorkArea(cfg.shot_dir)
    plate, frames = sequence_frames(cfg.plate, cfg.where("plate", "path"))
    stages = []
    spent = costs(read_records(cfg.shot_dir))
    for stage in ("track", "faceset", "train", "render", "comp", "review"):
        status = StageStatus(stage, [area.version_name(stage, n) for n in area.versions(stage)],
                             cost=spent.get(stage))
        latest = area.latest(stage)
        status.latest = latest.name if latest else None
        if latest is not None:
            _fill(status, stage, latest, plate, frames, cfg.shot)
        stages.append(status)
    try:
        report = audit.check(area.audit_path)
        words = f"{report.entries} entries, chain intact; {report.signature}"
    except VfxDoubleError as err:
        words = f"not verified: {err.one_line()}"
    return ShotStatus(cfg.show, cfg.shot, format_frames(frames), stages, words)


def _fill(status: StageStatus, stage: str, folder: Path, plate: FrameSequence,
          frames: list[int], shot: str) -> None:
    if stage == "track":
        if (folder / "track.json").is_file():
            result = track_record.load(folder / "track.json")
            s = result.summary
            status.done = f"faces on {s['found']}/{s['frames']} frames"
            untracked = [f for f in frames if f not in set(result.frames)]
            status.missing = format_frames(untracked) if untracked else ""
        else:
            status.done = "incomplete (no track.json)"
    elif stage == "faceset":
        counts = {}
        for side in ("plate", "actor"):
            meta = folder / side / "meta.json"
            counts[side] = len(_json(meta, "record").get("crops", [])) if meta.is_file() else 0
        status.done = f"{counts['plate']} plate crops, {counts['actor']} actor crops"
    elif stage == "train":
        step, target = run_progress(folder)
        last = last_json_line(folder / "metrics.jsonl")
        status.done = f"step {step}" + (f" of {target}" if target else "")
        if last:
            status.done += (f", loss {last.get('total', float('nan')):.4f}, "
                            f"{last.get('time', 0.0) / 3600:.2f} h of training")
        status.detail = {"step": step, "target": target, "last": last}
    elif stage == "review":
        done = (folder / "report.json").is_file()
        status.done = ("movies signed, report written" if done
                       else "incomplete (no report.json)")
    else:
        pattern = (f"face.{'#' * plate.padding}.exr" if stage == "render" else
                   f"{shot}_comp_{folder.name}.{'#' * plate.padding}.exr")
        status.done, status.missing = _frames_status(FrameSequence(str(folder / pattern)),
                                                     frames)


def run_progress(run: Path) -> tuple[int, Any]:
    """(the step of a training run's latest complete checkpoint, 0 before its first; the
    target steps its options.json records, None when it records none)."""
    checkpoint = latest_checkpoint(run)
    step = int(_json(checkpoint / "state.json", "checkpoint state")["step"]) if checkpoint else 0
    options = _json(run / "options.json", "options") if (run / "options.json").is_file() else {}
    return step, options.get("steps")


def _json(path: Path, kind: str) -> dict[str, Any]:
    data = read_json(path, kind, WorkAreaError)
    return data if isinstance(data, dict) else {}


