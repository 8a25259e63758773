"""Time vfx_double.color against a bare PyOpenColorIO applyRGBA on one plate-sized frame.

    .venv/bin/python benchmarks/bench_color.py --repeats 20

Prints a markdown block for benchmarks/RESULTS.md. The anchor is ``applyRGBA`` in place on
a float32 RGBA array (its copy not timed). ``convert`` leaves the input untouched: it
writes a new array (whose first touch costs page faults) or ``out``, checks alpha and
copies it across, so ours/bare above 1 at one thread is that work.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from typing import Callable

import numpy as np
import PyOpenColorIO as ocio

from _machine import cpu_model

from vfx_double.color import DEFAULT_CONFIG, FAST_FLAGS, PRECISE_FLAGS, ColourConfig


def timings(step: Callable[[], None], repeats: int,
            setup: Callable[[], None] | None = None) -> list[float]:
    """Milliseconds per call of ``step``; ``setup`` runs untimed before each call."""
    result = []
    for _ in range(repeats):
        if setup is not None:
            setup()
        start = time.perf_counter()
        step()
        result.append((time.perf_counter() - start) * 1e3)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--width", type=int, default=2048)
    parser.add_argument("--height", type=int, default=1152)
    parser.add_argument("--src", default="ARRI LogC3 (EI800)")
    parser.add_argument("--dst", default="ACEScg")
    parser.add_argument("--config", default=DEFAULT_CONFIG)
    parser.add_argument("--threads", type=int, nargs="+",
                        default=sorted({1, os.cpu_count() or 1}))
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    frame = rng.uniform(0.05, 0.95, (args.height, args.width, 4)).astype(np.float32)
    frame[..., 3] = 1.0
    mpix = args.width * args.height / 1e6

    start = time.perf_counter()
    raw = ocio.Config.CreateFromFile(args.config)
    load_ms = (time.perf_counter() - start) * 1e3
    # A fresh ColourConfig, not load()'s cached one, so the first builds are real.
    colour = ColourConfig(args.config, raw)
    build_ms = {}
    for precise in (False, True):
        start = time.perf_counter()
        colour.processor(args.src, args.dst, precise=precise)
        build_ms[precise] = (time.perf_counter() - start) * 1e3

    rows = []
    for precise in (False, True):
        mode = "precise" if precise else "fast"
        bare_cpu = raw.getProcessor(args.src, args.dst).getOptimizedCPUProcessor(
            PRECISE_FLAGS if precise else FAST_FLAGS)
        work = np.empty_like(frame)
        bare = timings(lambda: bare_cpu.applyRGBA(work), args.repeats,
                       setup=lambda: np.copyto(work, frame))
        anchor = statistics.median(bare)
        rows.append(("bare `applyRGBA` (in place)", mode, 1, bare, anchor))
        for threads in args.threads:
            ours = timings(lambda: colour.convert(frame, args.src, args.dst, precise=precise,
                                                  threads=threads), args.repeats)
            rows.append(("`ColourConfig.convert`", mode, threads, ours, anchor))
            reused = timings(lambda: colour.convert(frame, args.src, args.dst, precise=precise,
                                                    threads=threads, out=work), args.repeats)
            rows.append(("`ColourConfig.convert(out=)`", mode, threads, reused, anchor))

    print(f"### Colour: `{args.src}` -> `{args.dst}`, {args.width}x{args.height} "
          "float32 RGBA")
    print()
    print(f"{cpu_model()}, {os.cpu_count()} cores; Python {platform.python_version()}, "
          f"PyOpenColorIO {ocio.__version__}, numpy {np.__version__}; config {args.config}; "
          f"{args.repeats} repeats.")
    print(f"Config load {load_ms:.1f} ms; first processor build (not in the table): "
          f"fast {build_ms[False]:.2f} ms, precise {build_ms[True]:.2f} ms.")
    print()
    print("| path | mode | threads | median ms | min ms | max ms | Mpix/s | ours/bare |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for name, mode, threads, times, anchor in rows:
        median = statistics.median(times)
        print(f"| {name} | {mode} | {threads} | {median:.1f} | {min(times):.1f} | "
              f"{max(times):.1f} | {mpix / median * 1e3:.0f} | {median / anchor:.2f} |")


if __name__ == "__main__":
    main()
