"""Task records: one small JSON file per stage run (a farm task or a command typed by hand),
saying how it ended and what it cost, whatever engine ran it.

``<shot_dir>/tasks/<stage>-<UTC time>-<host>-<pid>.json``: stage, frames, job, log, host,
start and end, wall, CPU (the process and its children, user + system) and GPU seconds
(wall time on each CUDA device the task used), exit status and error line. ``vfx-double
status`` sums them per stage: the cost a producer compares shots by, and the last error
with its log.
"""

from __future__ import annotations

import datetime as dt
import os
import resource
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import TRAIN_STOPPED, WorkAreaError
from .io import atomic
from .records import read_json

SCHEMA = "TaskRecord.1"
FOLDER = "tasks"
#: set by a backend: the log its task's output goes to
LOG_ENV = "VFX_DOUBLE_TASK_LOG"
#: records read at most (the newest), so status stays quick on a shot with a long history
LIMIT = 20_000


@dataclass(frozen=True)
class Start:
    wall: float
    clock: float
    cpu: float
    children: float


#: whether this process's record counts its children's CPU time (not when they are ranks
#: that record their own: ``train --nproc``)
_CHILDREN = [True]


def count_children(yes: bool) -> None:
    _CHILDREN[0] = yes


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def begin() -> Start:
    return Start(time.time(), time.monotonic(), _cpu(resource.RUSAGE_SELF),
                 _cpu(resource.RUSAGE_CHILDREN))


def gpus_used() -> int:
    """CUDA devices this process allocated memory on (0 without torch or CUDA)."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return 0
    return sum(1 for i in range(torch.cuda.device_count()) if torch.cuda.max_memory_allocated(i))


def finish(stage: str, config: Path, frames: str | None, start: Start, exit_code: int,
           error: str = "") -> Path | None:
    """Write the record of a ``stage`` run on ``config``; None when its shot cannot be found
    (a config too broken to load has no work area to record in)."""
    from .config import load

    try:
        shot_dir = load(config).shot_dir
    except Exception:  # noqa: BLE001 - any config the stage refused: nothing to record in
        return None
    wall = time.monotonic() - start.clock
    cpu = _cpu(resource.RUSAGE_SELF) - start.cpu
    if _CHILDREN[0]:
        cpu += _cpu(resource.RUSAGE_CHILDREN) - start.children
    gpus = gpus_used()
    host = socket.gethostname().split(".")[0]
    stamp = dt.datetime.fromtimestamp(start.wall, dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
    record = {
        "schema": SCHEMA, "stage": stage, "frames": frames, "config": str(config),
        "job": Path(job).name if (job := os.environ.get("VFX_DOUBLE_JOB")) else None,
        "log": os.environ.get(LOG_ENV) or None, "host": host, "pid": os.getpid(),
        "started": _iso(start.wall), "ended": _iso(time.time()),
        "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
        "gpus": gpus, "gpu_s": round(wall * gpus, 3), "exit": exit_code, "error": error[:500],
    }
    path = shot_dir / FOLDER / f"{stage}-{stamp}-{host}-{os.getpid()}.json"
    try:
        atomic.write_json(path, record, overwrite=False)
    except (OSError, FileExistsError, WorkAreaError):
        return None  # a record is bookkeeping: never turn a stage's outcome into a failure
    return path


def _iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class StageCost:
    """A stage's task records summed."""

    tasks: int = 0
    failed: int = 0
    #: training tasks a signal stopped at a checkpoint (exit 75), to be resumed
    stopped: int = 0
    cpu_hours: float = 0.0
    gpu_hours: float = 0.0
    wall_hours: float = 0.0
    #: frames of failed tasks no later task of the same frames finished
    failed_frames: list[str] = field(default_factory=list)
    last_error: str = ""
    last_error_log: str | None = None


def read_records(shot_dir: Path) -> list[dict[str, Any]]:
    """The shot's task records, oldest first (unreadable ones skipped)."""
    folder = Path(shot_dir) / FOLDER
    if not folder.is_dir():
        return []
    paths = sorted(folder.glob("*.json"), key=lambda p: p.name.split("-", 1)[-1])[-LIMIT:]
    out = []
    for path in paths:
        try:
            record = read_json(path, "options", WorkAreaError)
        except WorkAreaError:
            continue
        if record.get("schema") == SCHEMA:
            out.append(record)
    return sorted(out, key=lambda r: str(r.get("started")))


def costs(records: list[dict[str, Any]]) -> dict[str, StageCost]:
    out: dict[str, StageCost] = {}
    outcome: dict[tuple[str, Any], dict[str, Any]] = {}
    for rec in records:
        cost = out.setdefault(str(rec.get("stage")), StageCost())
        cost.tasks += 1
        cost.cpu_hours += float(rec.get("cpu_s") or 0) / 3600
        cost.gpu_hours += float(rec.get("gpu_s") or 0) / 3600
        cost.wall_hours += float(rec.get("wall_s") or 0) / 3600
        outcome[(str(rec.get("stage")), rec.get("frames"))] = rec
        if rec.get("exit") == TRAIN_STOPPED:
            cost.stopped += 1
        elif rec.get("exit"):
            cost.failed += 1
            cost.last_error = str(rec.get("error") or f"exit status {rec.get('exit')}")
            cost.last_error_log = rec.get("log")
    for (stage, frames), rec in outcome.items():
        if rec.get("exit") and rec.get("exit") != TRAIN_STOPPED:
            out[stage].failed_frames.append(frames or "all")
    for cost in out.values():
        cost.cpu_hours, cost.gpu_hours, cost.wall_hours = (
            round(cost.cpu_hours, 4), round(cost.gpu_hours, 4), round(cost.wall_hours, 4))
    return out
