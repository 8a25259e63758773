"""``vfx-double train --nproc N``: one command line that trains on N GPUs, so a farm task
(local, Deadline, OpenCue or Slurm) stays ``vfx-double train SHOT.yaml --run run-NNN``.

The command starts ``torch.distributed.run`` (torchrun) with N copies of itself and waits.
A stop signal (SIGTERM from an engine's preemption, SIGUSR1 from Slurm's ``--signal``,
Ctrl-C) is passed on as SIGTERM to torchrun, which hands it to every rank; the ranks agree
on one step, checkpoint and exit. torchrun reports that as a failure, so the exit status is
decided here from the run itself: short of its target after a signal -> 75 (retry or
requeue: the same command line resumes it), at its target -> 0, else torchrun's status.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Callable

from .. import tasks
from ..errors import TRAIN_STOPPED, WorkAreaError
from ..status import run_progress
from .rank import ARGV_ENV

#: the environment torchrun gives each rank: inside it, --nproc is already satisfied
RANK_ENV = "LOCAL_RANK"
SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)


def under_torchrun() -> bool:
    return RANK_ENV in os.environ


def command(nproc: int) -> list[str]:
    """torchrun with ``nproc`` ranks of :mod:`vfx_double.train.rank`."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone",
            f"--nproc_per_node={nproc}", "-m", "vfx_double.train.rank"]


def launch(nproc: int, argv: list[str], run_dir: Callable[[], Path | None]) -> int:
    """Run ``nproc`` ranks and return train's exit status (see the module's docstring).
    ``run_dir`` finds the run once it is over (named, or the shot's latest)."""
    tasks.count_children(False)  # each rank records its own CPU and GPU time
    env = {**os.environ, ARGV_ENV: json.dumps(["train", *argv])}
    proc = subprocess.Popen(command(nproc), env=env)
    signalled: list[int] = []

    def forward(signum: int, frame: object) -> None:
        signalled.append(signum)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)

    previous = {s: signal.signal(s, forward) for s in SIGNALS}
    try:
        code = proc.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if code == 0 or not signalled:
        return code
    run = run_dir()
    try:
        step, target = run_progress(run) if run is not None else (0, None)
    except (WorkAreaError, KeyError, TypeError, ValueError):
        return code  # the run cannot say where it stands: torchrun's word stands
    if not isinstance(target, int):
        return code
    # the signal came after the last step (torchrun still says 1): the run is done
    return TRAIN_STOPPED if step < target else 0

