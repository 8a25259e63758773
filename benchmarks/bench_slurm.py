"""The demo shot through a real single-node Slurm cluster against the local backend.

    .venv/bin/python benchmarks/bench_slurm.py [--frames 12] [--train-steps 60] [--no-local]

Needs root and Debian's slurm-wlm + munge: the cluster is the tests' one
(``tests/pipeline/slurm_cluster.py``: munged, slurmctld and slurmd on 127.0.0.1, started
in a temporary folder and stopped after). The demo shot (synthetic) is built twice, in two
folders, the same way; one copy runs as one job through ``pipeline.slurm`` (submit, wait
polling ``scontrol``), the other through ``pipeline.local`` with as many workers as the
node has CPUs (Slurm runs that many one-CPU tasks at once). Reported: each backend's wall
time from submission to the last step's end, and for Slurm each step's span from its
first task's start to its last task's end as the scheduler recorded them (so the gaps are
scheduling: dependency release, ``sched_interval``), plus the scheduler's share.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _machine import machine_line  # noqa: E402

from pipeline import slurm  # noqa: E402
from pipeline.backends import RunOptions  # noqa: E402
from pipeline.submit import prepare  # noqa: E402
from tests.pipeline.slurm_cluster import SlurmCluster  # noqa: E402
from vfx_double.demo import shot as demo_shot  # noqa: E402


def _time(text: str) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        return None


def build(root: Path, frames: int, steps: int):  # type: ignore[no-untyped-def]
    return demo_shot.build(root, frames=frames, train_steps=steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--train-steps", type=int, default=60)
    parser.add_argument("--no-local", action="store_true", help="time Slurm only")
    parser.add_argument("--work", type=Path, help="keep everything here (default: a temp dir)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench_slurm_"))
    work.mkdir(parents=True, exist_ok=True)
    print(machine_line())
    print(f"demo: {args.frames} frames, cpu-tiny, {args.train_steps} training steps")

    shot = build(work / "slurm_demo", args.frames, args.train_steps)
    os.environ["VFX_DOUBLE_KEYRING"] = str(shot.keyring)
    cluster = SlurmCluster(work / "cluster")
    cluster.start()
    os.environ.update(cluster.env)
    try:
        job = prepare(shot.config, backend="slurm")
        started = time.perf_counter()
        code = slurm.run(job, RunOptions(wait=True), lambda line: None)
        wall = time.perf_counter() - started
        states = slurm.state(job)
    finally:
        cluster.stop()
    if code != 0:
        raise SystemExit(f"slurm job failed ({code}); logs in {job.logs}")
    print(f"slurm: {wall:.1f} s wall from submission to the end of the last step")
    busy = 0.0
    for s in states:
        starts = [_time(t.start) for t in s.tasks.values()]
        ends = [_time(t.end) for t in s.tasks.values()]
        if None in starts or None in ends:
            print(f"  {s.step}: no start/end times")
            continue
        span = (max(ends) - min(starts)).total_seconds()  # type: ignore[type-var,operator]
        busy += span
        print(f"  {s.step:7s} {span:6.0f} s ({len(s.tasks)} task{'s' * (len(s.tasks) > 1)}, "
              f"{min(starts):%H:%M:%S} -> {max(ends):%H:%M:%S})")   # type: ignore[type-var]
    print(f"  steps' spans {busy:.0f} s; scheduling and polling {wall - busy:.0f} s "
          "(Slurm records whole seconds)")

    if args.no_local:
        return
    try:
        from pipeline import local
    except ImportError:
        print("local: pipeline.local not here; skipped")
        return
    shot = build(work / "local_demo", args.frames, args.train_steps)
    os.environ["VFX_DOUBLE_KEYRING"] = str(shot.keyring)
    job = prepare(shot.config, backend="local")
    workers = os.cpu_count() or 1
    started = time.perf_counter()
    code = local.run(job, RunOptions(workers=workers), lambda line: None)
    local_wall = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"local job failed ({code}); logs in {job.logs}")
    print(f"local ({workers} workers): {local_wall:.1f} s wall")
    print(f"slurm / local: {wall / local_wall:.2f}x")
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
