"""Tracking speed end to end (issue 15): `track` (plate and actor, faceset written) on the
demo shot at 1920x1080, or at 3840x2160 with a small face, in frames/s.

    .venv/bin/python benchmarks/bench_track_speed.py --work /tmp/bts --size 1080
    .venv/bin/python benchmarks/bench_track_speed.py --work /tmp/bts4k --size 4k --frames 24

The shot is built once by the demo builder (the 4K one with its frame size and face height
changed: a face about 120 px tall on the 2160 px frame); each run is a fresh track version.
Frames/s is both sequences' frames over `track_shot`'s time (backend load included), the
figure bench_track.py reports. To compare two versions of the code, run this file from
each checkout on the same shot, in turn, on the same machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from _machine import machine_line

from vfx_double.demo import plates, shot as demo_shot
from vfx_double.track.stage import track_shot

SIZES = {"1080": ((1920, 1080), None), "4k": ((3840, 2160), 120.0)}


def build(work: Path, size: str, frames: int) -> demo_shot.DemoShot:
    frame_size, face_height = SIZES[size]
    saved = demo_shot.FRAME_SIZE, demo_shot.build_world
    demo_shot.FRAME_SIZE = frame_size
    if face_height is not None:
        demo_shot.build_world = lambda colour, face_height: plates.build_world(  # noqa: ARG005
            colour, face_height=SIZES[size][1])
    try:
        return demo_shot.build(work, frames=frames)
    finally:
        demo_shot.FRAME_SIZE, demo_shot.build_world = saved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench_track_speed"))
    parser.add_argument("--size", choices=sorted(SIZES), default="1080")
    parser.add_argument("--frames", type=int, default=48, help="frames per sequence")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    shot = build(args.work, args.size, args.frames)
    rates, cpu = [], []
    for _ in range(args.runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        report = track_shot(shot.config, keyring=shot.keyring)
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - start_cpu
        frames = sum(len(r.frames) for r in report.results.values())
        rates.append(frames / seconds)
        cpu.append(1000.0 * cpu_seconds / frames)
    print(machine_line())
    # CPU beside wall: on a shared 2-core machine the wall rate follows the other jobs, the
    # CPU a frame (all this process's threads) far less.
    print(f"track end to end, {args.size}, {args.frames} + {args.frames} frames: median "
          f"{statistics.median(rates):.2f} frames/s (runs: "
          f"{', '.join(f'{r:.2f}' for r in rates)}); CPU {statistics.median(cpu):.0f} ms a "
          f"frame; load average {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
