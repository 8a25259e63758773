"""Atomic file writes: write a temporary file beside the target, then rename over it.

A reader never sees a half-written file, and a crash leaves at most a stray temporary
file (named ``.<name>.tmp-<pid>-<n>``) that later runs ignore.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any, Iterator

_counter = itertools.count()


def temp_path_for(target: str | os.PathLike[str]) -> Path:
    """A unique temporary path in the same folder as ``target`` (same filesystem)."""
    target = Path(target)
    return target.with_name(f".{target.stem}.tmp-{os.getpid()}-{next(_counter)}{target.suffix}")


def is_temp_path(path: str | os.PathLike[str]) -> bool:
    return ".tmp-" in Path(path).name and Path(path).name.startswith(".")


_TEMP_PID = re.compile(r"\.tmp-(\d+)-\d+")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale(folder: str | os.PathLike[str], *, folders: bool = False) -> list[Path]:
    """Remove the temp files (and with ``folders`` temp folders, such as a checkpoint cut
    short) in ``folder`` left by writers that were killed (their pid is gone); never one of
    a live process. Returns what was removed."""
    removed = []
    for path in Path(folder).iterdir() if Path(folder).is_dir() else ():
        m = _TEMP_PID.search(path.name)
        if not (is_temp_path(path) and m and int(m.group(1)) != os.getpid()
                and not pid_alive(int(m.group(1)))):
            continue
        if path.is_dir() and folders:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
        elif path.is_file():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
    return removed


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path; on success rename it onto ``target``.

    With ``overwrite=False`` an existing target is never replaced (``FileExistsError``):
    the rename uses a hard link, which fails instead of clobbering.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_for(target)
    try:
        yield tmp
        fsync_file(tmp)
        if overwrite:
            os.replace(tmp, target)
        else:
            os.link(tmp, target)
            tmp.unlink()
        fsync_dir(target.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_bytes(target: str | os.PathLike[str], data: bytes, *, overwrite: bool = True) -> None:
    with atomic_path(target, overwrite=overwrite) as tmp:
        tmp.write_bytes(data)


def write_text(target: str | os.PathLike[str], text: str, *, overwrite: bool = True) -> None:
    write_bytes(target, text.encode("utf-8"), overwrite=overwrite)


def write_json(target: str | os.PathLike[str], obj: Any, *, overwrite: bool = True) -> None:
    write_text(target, json.dumps(obj, indent=2, sort_keys=True) + "\n", overwrite=overwrite)


def fsync_file(path: Path) -> None:
    """Flush a written file's data to disk before it is renamed into place."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Flush a folder's entries (a rename into it); filesystems that refuse fsync on a
    folder are let be, as the rename still orders after the file's data."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
