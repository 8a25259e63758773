"""``vfx-double run``: a shot's job on the backend asked for. Locally the shot's latest job
is continued (its done tasks skipped; a complete one is reported, not run again) unless
``new``; every other backend gets a new job folder per call."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Callable

from vfx_double.config import changes_since, load
from vfx_double.errors import ConfigError

from . import local
from .backends import RunOptions
from .backends import backend as get_backend
from .submit import SNAPSHOT, Job, latest_job, prepare

#: engines whose workers are other machines with their own vfx-double (local and slurm run
#: this install's, on this machine or a cluster sharing its file system)
REMOTE = ("deadline", "opencue")


def start(config: Path, *, backend: str | None = None, until: str | None = None,
          workers: int = 1, new: bool = False, run: str | None = None,
          out: Path | None = None, submit: bool = False, wait: bool = True,
          command: str | None = None, nuke_script: Path | None = None, echo: Callable[[str], None] = print) -> int:
    cfg = load(config)
    name = backend or cfg.farm.backend
    engine = get_backend(name, "--backend" if backend else cfg.where("farm", "backend"))
    options = RunOptions(workers=workers, submit=submit, wait=wait, out=out)
    job = None if new or name != "local" else latest_job(cfg, "local")
    if job is not None and not left(job):
        echo(f"run: {job.name} ({job.folder}) is complete: nothing to do; add --new to run "
             "the shot again (new versions; nothing is overwritten)")
        return 0
    if job is not None:
        last = job.steps()[-1]["name"]
        if (until is not None and until != last) or (run is not None
                                                     and f"({run})" not in job.template["name"]):
            raise ConfigError("vfx-double run", f"the --until/--run of {job.name}, which has "
                              f"tasks left (until {last}, {job.template['name']})",
                              f"--until {until or '(none)'} --run {run or '(none)'}",
                              "rerun as before to continue it, or add --new")
        changed(job, cfg)
        echo(f"run: continuing {job.name} ({job.folder})")
    else:
        preflight = getattr(engine, "check_reachable", None)
        if preflight is not None:
            preflight()  # an engine that cannot take the job: refused before a job folder
        if command is None and name in REMOTE:
            command = "vfx-double"  # the workers' own install, on their PATH
        job = prepare(config, run=run, until=until, backend=name, command=command,
                      nuke_script=nuke_script)
        echo(f"run: {job.name} ({job.folder}) on {name}")
    return engine.run(job, options, echo)


def left(job: Job) -> int:
    """How many of ``job``'s tasks are not done."""
    done = local.finished(job)
    return sum(t.key not in done for t in local.plan(job))


def changed(job: Job, cfg) -> None:  # type: ignore[no-untyped-def]
    """Refuse to continue a job whose shot config changed since it was submitted."""
    if job.parameters.get("ConfigSha256") == cfg.config_hash():
        return
    diff = changes_since(job.folder / SNAPSHOT, cfg) or "its settings' hash"
    raise ConfigError(str(cfg.source), f"the config {job.name} was submitted with",
                      f"changed since: {diff}",
                      "restore it to continue the job, or start a new one with --new")


def job_status(cfg) -> dict | None:  # type: ignore[no-untyped-def, type-arg]
    """The shot's latest job for ``vfx-double status``: its folder, engine and, for a local
    job, tasks done, failed (with their logs) and left."""
    job = latest_job(cfg)
    if job is None:
        return None
    out = {"job": job.name, "folder": str(job.folder), "backend": job.backend,
           "template": job.template["name"]}
    if job.backend == "slurm":
        from . import slurm

        try:
            out["slurm"] = {s.step: s.summary() for s in slurm.state(job)}
        except (OSError, ConfigError, subprocess.SubprocessError) as err:
            out["slurm"] = {"error": str(err).splitlines()[0][:200]}
    if job.backend == "local":
        tasks = local.plan(job)
        states = local.states(job)
        out["tasks"] = len(tasks)
        out["done"] = sum(states.get(t.key) == "done" for t in tasks)
        out["failed"] = {t.label: str(job.logs / f"{t.key}.log") for t in tasks
                         if states.get(t.key) == "failed"}
    return out


def job_lines(info: dict | None) -> list[str]:  # type: ignore[type-arg]
    if info is None:
        return ["  farm     no job yet (vfx-double run SHOT.yaml)"]
    line = f"  farm     latest {info['job']} ({info['backend'] or 'written only'})"
    if "slurm" in info:
        line += ": " + "; ".join(f"{k} {v}" for k, v in info["slurm"].items())
    if "tasks" in info:
        line += f": {info['done']}/{info['tasks']} tasks done"
        if info["failed"]:
            line += ", failed: " + "; ".join(f"{k} (log {v})" for k, v in info["failed"].items())
    return [line]
