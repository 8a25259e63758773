"""``report.json`` of a review version (``ReviewReport.1``): what the dailies show about it.

One record per review version, written last (it marks the version complete), read by the
dailies app and by a rerun of review. Fields (see ``vfx_double.review.stage``): show, shot,
version, the comp / render / training run it came from, first..last source frames, fps,
size, slate frames, creation time, the licence (id, actor, valid dates, uses, shows), model
and config hashes, the OCIO display and view, the movies (``h264``, ``prores``, ``plate``),
contact sheet, thumbnail, EXR sidecar, watermark payload, ``synthetic``, metrics (tracking,
training, comp) and cost (CPU- and GPU-hours per stage, from the shot's task records).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import WorkAreaError
from ..io import atomic
from ..records import read_record

SCHEMA = ("ReviewReport", 1)
NAME = "report.json"


def write(folder: Path, record: dict[str, Any]) -> Path:
    path = Path(folder) / NAME
    atomic.write_json(path, {"schema": f"{SCHEMA[0]}.{SCHEMA[1]}", **record})
    return path


def read(folder: Path) -> dict[str, Any]:
    """The version's report; WorkAreaError when it is missing, unreadable or newer."""
    return read_record(Path(folder) / NAME, SCHEMA, WorkAreaError,
                       what="a finished review version's report.json",
                       hint="run `vfx-double review SHOT.yaml`: a version without one did "
                            "not finish", kind="report")
