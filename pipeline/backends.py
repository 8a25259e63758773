"""The farm engines a job runs on, behind one call: ``run(job, options, echo) -> exit code``.

- ``local`` (default): runs the template here with openjd-sessions (``pipeline.local``).
- ``deadline``: writes a Deadline Cloud job bundle; ``--submit`` hands it to
  ``deadline bundle submit`` (``pipeline.deadline``).
- ``slurm``: sbatch array jobs chained with ``afterok`` (``pipeline.slurm``).
- ``opencue``: an OpenCue outline through pyoutline (``pipeline.opencue``).

Never a scheduler of our own: each backend hands the job to an existing engine.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

from vfx_double.errors import ConfigError

from .submit import Job

NAMES = ("local", "deadline", "slurm", "opencue")


@dataclass(frozen=True)
class RunOptions:
    """What ``vfx-double run`` was asked for, beyond the job itself."""

    workers: int = 1          # local: tasks at once
    submit: bool = False      # deadline, opencue: hand the written job to the engine
    wait: bool = True         # slurm: wait for the job to end, reporting its state
    out: Path | None = None   # deadline, opencue: where to write the bundle / outline


class Backend(Protocol):
    def run(self, job: Job, options: RunOptions, echo: Callable[[str], None]) -> int: ...


def backend(name: str, where: str = "--backend") -> Backend:
    """The backend module called ``name``; ConfigError naming the valid ones otherwise."""
    if name not in NAMES:
        raise ConfigError(where, f"a backend: one of {', '.join(NAMES)}", repr(name),
                          "pick one of those (local runs on this machine)")
    return importlib.import_module(f"pipeline.{name}")  # type: ignore[return-value]
