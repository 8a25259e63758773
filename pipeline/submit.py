"""A submitted job: the shot's job graph frozen as an OpenJD template in a numbered folder
of the shot's work area, with the config it was submitted with. Every backend starts here.

```
<shot_dir>/farm/job-001/
  template.json     the OpenJD job template (what every backend runs or translates)
  parameters.json   its job parameter values (ShotConfig, VfxDouble, ConfigSha256, JobDir)
  config.json       the merged shot settings at submission, to say what changed since
  backend.json      the engine it was handed to (a local rerun continues only local jobs)
  logs/             one log per task (backends that run tasks here: local, slurm)
  tasks/            one record per finished task (local backend: what a rerun skips)
```

Every task runs with ``VFX_DOUBLE_CONFIG_SHA256`` set to the config's hash at submission
(a job environment variable in the template): a stage refuses to run when the config has
changed since, and names what changed (:func:`vfx_double.config.check_submitted`).
"""

from __future__ import annotations

import json
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vfx_double.config import ShotConfig
from vfx_double.config import load as load_config
from vfx_double.errors import ConfigError
from vfx_double.io import atomic
from vfx_double.records import read_json
from vfx_double.workarea import WorkArea

from . import graph as graph_mod
from . import openjd

STAGE = "farm"
TEMPLATE = "template.json"
PARAMETERS = "parameters.json"
SNAPSHOT = "config.json"
BACKEND = "backend.json"


@dataclass(frozen=True)
class Job:
    """A job folder and what it holds."""

    folder: Path
    template: dict[str, Any]
    parameters: dict[str, str]
    backend: str | None = None
    _frames: dict[str, list[str | None]] | None = field(default=None, compare=False, repr=False)

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def logs(self) -> Path:
        return self.folder / "logs"

    @property
    def tasks(self) -> Path:
        return self.folder / "tasks"

    def steps(self) -> list[dict[str, Any]]:
        return list(self.template["steps"])

    def environment(self) -> dict[str, str]:
        """The job environment's variables with this job's parameter values filled in."""
        out: dict[str, str] = {}
        for env in self.template.get("jobEnvironments", []):
            for key, value in env.get("variables", {}).items():
                out[key] = self.fill(value)
        return out

    def fill(self, text: str, frames: str | None = None) -> str:
        """``text`` with ``{{Param.X}}`` (and ``{{Task.Param.Frames}}``) filled in."""
        for key, value in self.parameters.items():
            text = text.replace("{{Param.%s}}" % key, value)
        if frames is not None:
            text = text.replace("{{Task.Param.Frames}}", frames)
        return text

    def tasks_of(self, step: dict[str, Any]) -> list[str | None]:
        """The Frames value of each task of ``step`` (``[None]``: one task, no chunks)."""
        if not step.get("parameterSpace"):
            return [None]
        if self._frames is None:
            object.__setattr__(self, "_frames", {})
        if step["name"] not in self._frames:
            self._frames[step["name"]] = openjd.task_frames(self.template, step["name"])
        return list(self._frames[step["name"]])

    def command(self, step: dict[str, Any], frames: str | None = None) -> list[str]:
        """One task's command line, parameters filled in."""
        action = step["script"]["actions"]["onRun"]
        return [self.fill(action["command"], frames)] + [self.fill(a, frames)
                                                         for a in action.get("args", [])]

    def shell_command(self, step: dict[str, Any], frames: str | None = None) -> str:
        return shlex.join(self.command(step, frames))


def default_command() -> str:
    """The ``vfx-double`` next to this Python (a venv's), else the one on PATH."""
    exe = Path(sys.executable).with_name("vfx-double")
    return str(exe) if exe.is_file() else "vfx-double"


def prepare(config: Path, *, run: str | None = None, until: str | None = None,
            command: str | None = None, backend: str | None = None,
            nuke_script: Path | None = None) -> Job:
    """Freeze the job for ``config`` in a new ``farm/job-NNN`` folder and return it."""
    config = Path(config).absolute()
    cfg = load_config(config)
    graph = graph_mod.build(cfg, run=run, until=until, nuke_script=nuke_script)
    area = WorkArea(cfg.shot_dir)
    folder = area.new_version(STAGE)
    parameters = {
        "ShotConfig": str(config),
        "VfxDouble": command or default_command(),
        "ConfigSha256": cfg.config_hash(),
        "JobDir": str(folder),
    }
    template = openjd.template(graph)
    for definition in template["parameterDefinitions"]:  # the rest (Nuke): their defaults
        parameters.setdefault(definition["name"], str(definition.get("default", "")))
    settings = json.loads(json.dumps(cfg.raw, default=str))  # dates as the hash reads them
    atomic.write_json(folder / SNAPSHOT, {"sha256": cfg.config_hash(), "settings": settings},
                      overwrite=False)
    atomic.write_json(folder / PARAMETERS, parameters, overwrite=False)
    if backend:
        atomic.write_json(folder / BACKEND, {"backend": backend}, overwrite=False)
    # the template last: a folder without one is a submission that did not finish
    atomic.write_text(folder / TEMPLATE, json.dumps(template, indent=2) + "\n", overwrite=False)
    return Job(folder, template, parameters, backend)


def open_job(folder: Path) -> Job:
    """A job folder written by :func:`prepare`."""
    template = read_json(folder / TEMPLATE, "options", ConfigError)
    parameters = read_json(folder / PARAMETERS, "options", ConfigError)
    backend = (read_json(folder / BACKEND, "options", ConfigError).get("backend")
               if (folder / BACKEND).is_file() else None)
    return Job(folder, template, {str(k): str(v) for k, v in parameters.items()}, backend)


def latest_job(cfg: ShotConfig, backend: str | None = None) -> Job | None:
    """The shot's latest job (handed to ``backend``, when given) whose submission
    finished, if any."""
    area = WorkArea(cfg.shot_dir)
    for number in reversed(area.versions(STAGE)):
        folder = area.version_dir(STAGE, number)
        if (folder / TEMPLATE).is_file():
            job = open_job(folder)
            if backend is None or job.backend == backend:
                return job
    return None
