"""`vfx-double demo` end to end through the local backend: wall time of the whole command
and of each stage's step (first task start to last task end, from the job's task records).

    .venv/bin/python benchmarks/bench_demo.py [--frames 48] [--workers 2]

Goal (issue 12): under 5 minutes for the default demo (48 frames, 200 cpu-tiny steps) on
this 2-core machine. Builds the demo in a fresh temporary folder each time.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _machine import machine_line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench_demo_"))
    cli = str(Path(sys.executable).with_name("vfx-double"))
    try:
        started = time.perf_counter()
        subprocess.run([cli, "demo", "--out", str(root), "--frames", str(args.frames),
                        "--workers", str(args.workers)], check=True, capture_output=True)
        total = time.perf_counter() - started
        tasks = root / "work" / "DEMO" / "sh010" / "farm" / "job-001" / "tasks"
        records = [json.loads(p.read_text()) for p in tasks.glob("*.json")]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(machine_line())
    print(f"vfx-double demo --frames {args.frames} --workers {args.workers}: {total:.1f} s "
          f"end to end (goal < 300 s)")
    first = min(r["started_at"] for r in records)
    for step in ("track", "train", "render", "comp"):
        mine = [r for r in records if r["step"] == step]
        if not mine:
            continue
        a, b = min(r["started_at"] for r in mine), max(r["ended_at"] for r in mine)
        print(f"  {step:<7} {b - a:6.1f} s wall ({len(mine)} task(s), "
              f"{sum(r['seconds'] for r in mine):.1f} task-s), from {a - first:5.1f} s")
    print(f"  before the job (plates, licence, validate): {total - (max(r['ended_at'] for r in records) - first):.1f} s")


if __name__ == "__main__":
    main()
