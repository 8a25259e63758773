"""Per-task overhead of the local backend (pipeline.local: openjd-sessions, one Session per
task, the job environment entered, a log per task, a record per task) over a bare
``subprocess.run`` of the same command lines, one after the other.

    .venv/bin/python benchmarks/bench_local_backend.py [--tasks 20] [--repeats 3]

The task is ``vfx-double --version`` (a short real task: the CLI's start-up). The anchor runs
the same 20 command lines with ``subprocess.run``; the backend runs a job of one step with
20 tasks on one worker. Reported: the median over repeats of each, per task, and the ratio
(goal <= 2x).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _machine import machine_line

from pipeline import local
from pipeline.backends import RunOptions
from pipeline.submit import open_job


def job_of(folder: Path, command: list[str], tasks: int) -> Path:
    """A job of one step whose ``tasks`` tasks each run ``command``."""
    folder.mkdir(parents=True)
    template = {
        "specificationVersion": "jobtemplate-2023-09", "name": "overhead",
        "parameterDefinitions": [{"name": "JobDir", "type": "STRING", "default": ""}],
        "jobEnvironments": [{"name": "env", "variables": {"VFX_DOUBLE_JOB": "{{Param.JobDir}}"}}],
        "steps": [{"name": "task", "parameterSpace": {"taskParameterDefinitions": [
            {"name": "N", "type": "INT", "range": f"1-{tasks}"}]},
            "script": {"actions": {"onRun": {"command": command[0], "args": command[1:]}}}}],
    }
    (folder / "template.json").write_text(json.dumps(template))
    (folder / "parameters.json").write_text(json.dumps({"JobDir": str(folder)}))
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    command = [str(Path(sys.executable).with_name("vfx-double")), "--version"]
    root = Path(tempfile.mkdtemp(prefix="bench_local_"))
    bare, backend = [], []
    try:
        subprocess.run(command, check=True, capture_output=True)  # warm the page cache
        for repeat in range(args.repeats):
            started = time.perf_counter()
            for _ in range(args.tasks):
                subprocess.run(command, check=True, capture_output=True)
            bare.append(time.perf_counter() - started)
            job = open_job(job_of(root / f"job{repeat}", command, args.tasks))
            started = time.perf_counter()
            code = local.run(job, RunOptions(workers=1), lambda _: None)
            backend.append(time.perf_counter() - started)
            assert code == 0, f"the job failed: see {job.logs}"
            assert len(list(job.tasks.glob("*.json"))) == args.tasks
    finally:
        shutil.rmtree(root, ignore_errors=True)
    a, b = statistics.median(backend), statistics.median(bare)
    print(machine_line())
    print(f"command: {' '.join(command)}; {args.tasks} tasks, median of {args.repeats}")
    print(f"subprocess.run (anchor): {b:.2f} s, {1000 * b / args.tasks:.0f} ms/task")
    print(f"local backend, 1 worker: {a:.2f} s, {1000 * a / args.tasks:.0f} ms/task "
          f"(+{1000 * (a - b) / args.tasks:.0f} ms/task)")
    print(f"ratio backend/anchor: {a / b:.2f}x (goal <= 2x)")


if __name__ == "__main__":
    main()
