"""The per-shot work area: numbered, never-overwritten output folders per stage.

```
<work_root>/<show>/<shot>/
  track/v001/  faceset/v001/  train/run-001/  render/v001/  comp/v001/  review/v001/
  farm/job-001/  (a submitted job: pipeline/submit.py)  tasks/  (task records: cost)
  audit.jsonl
```
A new version folder is made with an exclusive ``mkdir``, so two processes asking at once
get different numbers and nothing earlier is ever overwritten. Frame stages (render, comp)
continue their latest version when it was started with the same options, so a rerun or a
second farm chunk fills in frames instead of starting over.
"""

from __future__ import annotations

import fcntl
import json
import re
from pathlib import Path
from typing import Any

from .errors import WorkAreaError
from .io import atomic
from .records import canonical_json, read_bounded

OPTIONS = "options.json"

#: stage -> prefix of its numbered folders
STAGES: dict[str, str] = {
    "track": "v",
    "faceset": "v",
    "train": "run-",
    "render": "v",
    "comp": "v",
    "review": "v",
    "farm": "job-",
    "nuke": "v",
}
PAD = 3


class WorkArea:
    def __init__(self, shot_dir: Path) -> None:
        self.root = Path(shot_dir)

    @property
    def audit_path(self) -> Path:
        return self.root / "audit.jsonl"

    def stage_dir(self, stage: str) -> Path:
        _prefix(stage)
        return self.root / stage

    def version_name(self, stage: str, number: int) -> str:
        return f"{_prefix(stage)}{number:0{PAD}d}"

    def versions(self, stage: str) -> list[int]:
        """Existing version numbers of ``stage``, ascending."""
        folder = self.stage_dir(stage)
        pattern = re.compile(rf"^{re.escape(_prefix(stage))}(\d+)$")
        if not folder.is_dir():
            return []
        found = (pattern.match(p.name) for p in folder.iterdir() if p.is_dir())
        return sorted(int(m.group(1)) for m in found if m)

    def latest(self, stage: str) -> Path | None:
        numbers = self.versions(stage)
        return self.stage_dir(stage) / self.version_name(stage, numbers[-1]) if numbers else None

    def version_dir(self, stage: str, number: int) -> Path:
        return self.stage_dir(stage) / self.version_name(stage, number)

    def new_version(self, stage: str) -> Path:
        """Create and return the next numbered folder of ``stage``; never reuses one."""
        folder = self.stage_dir(stage)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise WorkAreaError(str(folder), "a writable work area", str(err),
                                "check work_root in the shot config and its permissions") from err
        number = (self.versions(stage) or [0])[-1] + 1
        for _ in range(1000):
            path = self.version_dir(stage, number)
            try:
                path.mkdir()
                return path
            except FileExistsError:
                number += 1
            except OSError as err:
                raise WorkAreaError(str(path), "a writable work area", str(err)) from err
        raise WorkAreaError(str(folder), "a free version number", "1000 taken in a row")

    def named(self, stage: str, name: str) -> tuple[Path, bool]:
        """The version folder ``name`` of ``stage`` (``run-003``), made if it is not there
        yet; True when it was made now. A farm job names its version when it is submitted,
        so its first task starts it and a retried task continues it, with one command line."""
        match = re.fullmatch(rf"{re.escape(_prefix(stage))}(\d+)", name or "")
        if match is None or len(match.group(1)) < PAD:
            raise WorkAreaError(f"{stage} version {name!r}",
                                f"a name like {self.version_name(stage, 3)}", repr(name))
        path = self.stage_dir(stage) / name
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.mkdir()
            return path, True
        except FileExistsError:
            return path, False
        except OSError as err:
            raise WorkAreaError(str(path), "a writable work area", str(err)) from err

    def version_for(self, stage: str, options: dict[str, Any]) -> tuple[Path, bool]:
        """The latest version of ``stage`` if its ``options.json`` equals ``options``, else a
        new version with them frozen in it; True when an existing version is continued.

        Farm chunks of one job start at the same time: the choice is made under an
        exclusive lock on the stage folder, so they all land in the same version.
        """
        folder = self.stage_dir(stage)
        wanted = canonical_json(options)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            lock = open(folder / ".lock", "a+b")
        except OSError as err:
            raise WorkAreaError(str(folder), "a writable work area", err.strerror or str(err),
                                "check work_root in the shot config and its permissions") from err
        with lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            latest = self.latest(stage)
            if latest is not None and (latest / OPTIONS).is_file():
                try:
                    current = canonical_json(json.loads(
                        read_bounded(latest / OPTIONS, "options", WorkAreaError)))
                except (OSError, ValueError, RecursionError, WorkAreaError):
                    current = None  # not ours as written: never continue it
                if current == wanted:
                    return latest, True
            path = self.new_version(stage)
            atomic.write_json(path / OPTIONS, options, overwrite=False)
            return path, False


def _prefix(stage: str) -> str:
    try:
        return STAGES[stage]
    except KeyError:
        raise WorkAreaError(f"stage '{stage}'", "one of " + ", ".join(STAGES), repr(stage)) from None
