"""The catalog: review version folders found in the work root
(``<work_root>/<show>/<shot>/review/vNNN/report.json``) recorded as shows, shots and
versions. A scan adds what is new and refreshes changed reports; it never deletes, since
notes and statuses hang off the versions."""

from __future__ import annotations

import datetime as dt
import logging
import re
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import VfxDoubleError
from ..review import report as review_report
from .models import Shot, Show, Version

log = logging.getLogger(__name__)
_VERSION = re.compile(r"^v(\d{3,})$")


def find_reports(work_root: Path) -> list[tuple[str, str, str, int, Path]]:
    """``(show, shot, version, number, report path)`` for every review version folder."""
    found = []
    for report in sorted(Path(work_root).glob("*/*/review/v*/report.json")):
        folder = report.parent
        match = _VERSION.match(folder.name)
        if not match or any(p.startswith(".") for p in report.relative_to(work_root).parts):
            continue
        found.append((folder.parent.parent.parent.name, folder.parent.parent.name,
                      folder.name, int(match.group(1)), report))
    return found


def _read_report(path: Path, names: tuple[str, str, str]) -> dict[str, Any] | None:
    """The report when it is a ReviewReport.1 for this folder with what the player needs;
    else None and a log line (one bad folder must not hide the others)."""
    try:
        data = review_report.read(path.parent)  # bounded (4 MB), schema checked
        check_report(data, names)
        return data
    except (OSError, ValueError, VfxDoubleError) as err:
        log.warning("dailies catalog: skipping %s: expected a ReviewReport.1 record: %s",
                    path, err)
        return None


def check_report(data: Any, names: tuple[str, str, str]) -> None:
    """ValueError naming the first field the app cannot use."""
    if not isinstance(data, dict) or data.get("schema") != "ReviewReport.1":
        raise ValueError(f"schema {data.get('schema') if isinstance(data, dict) else data!r}")
    found = tuple(data.get(k) for k in ("show", "shot", "version"))
    if found != names:
        raise ValueError(f"show/shot/version {'/'.join(names)} (the folder), found "
                         f"{'/'.join(map(str, found))}")
    for key in ("first", "last", "slate_frames"):
        if not isinstance(data.get(key), int) or isinstance(data.get(key), bool):
            raise ValueError(f"{key}: an integer, found {data.get(key)!r}")
    if not data["first"] <= data["last"] or data["slate_frames"] < 0:
        raise ValueError(f"first <= last and slate_frames >= 0, found {data['first']}, "
                         f"{data['last']}, {data['slate_frames']}")
    fps = data.get("fps")
    if not isinstance(fps, (int, float)) or isinstance(fps, bool) or not 0 < fps <= 1000:
        raise ValueError(f"fps: a frame rate > 0, found {fps!r}")
    movies = data.get("movies")
    if not isinstance(movies, dict) or not isinstance(movies.get("h264"), str):
        raise ValueError(f"movies.h264: the review movie's name, found {movies!r}")


def _created(report: dict[str, Any]) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(str(report.get("created")))
    except ValueError:
        return None


def scan(session: Session, work_root: Path) -> int:
    """Record every review version under ``work_root``; the number of new versions."""
    work_root = Path(work_root)
    shows = {s.name: s for s in session.scalars(select(Show))}
    shots = {(s.show.name, s.name): s for s in session.scalars(select(Shot))}
    versions = {(v.shot.show.name, v.shot.name, v.name): v
                for v in session.scalars(select(Version))}
    added = 0
    for show_name, shot_name, name, number, path in find_reports(work_root):
        version = versions.get((show_name, shot_name, name))
        report = _read_report(path, (show_name, shot_name, name))
        if report is None:
            continue
        if version is not None:
            if version.report != report:
                version.report = report
            continue
        show = shows.get(show_name)
        if show is None:
            show = shows[show_name] = Show(name=show_name)
            session.add(show)
        shot = shots.get((show_name, shot_name))
        if shot is None:
            shot = shots[(show_name, shot_name)] = Shot(name=shot_name, show=show)
            session.add(shot)
        session.add(Version(shot=shot, name=name, number=number, report=report,
                            folder=path.parent.relative_to(work_root).as_posix(),
                            created=_created(report), status="pending"))
        added += 1
    return added
