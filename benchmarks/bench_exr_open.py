"""What the truncation check (io/exr_layout.py) adds to opening an EXR frame.

    .venv/bin/python benchmarks/bench_exr_open.py [--frames 48]

Writes a 2048x1152 RGBA half plate frame per compression (zip, piz, dwaa), then times
``read_header`` and ``read_exr`` with the check and, as the anchor in the same run, with
it switched off; medians of repeated rounds, and the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from _machine import machine_line

from vfx_double.io import exr
from vfx_double.io.exr import ExrImage, read_exr, read_header, write_exr


def timed(fn, paths, rounds: int = 5) -> float:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        for path in paths:
            fn(path)
        samples.append((time.perf_counter() - start) / len(paths) * 1e3)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=24)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"machine: {machine_line()}")
    with tempfile.TemporaryDirectory() as tmp:
        for compression in ("zip", "piz", "dwaa"):
            paths = []
            for n in range(args.frames):
                px = rng.uniform(0, 1, (1152, 2048, 4)).astype(np.float16)
                path = Path(tmp) / f"{compression}.{n:04d}.exr"
                write_exr(path, ExrImage.full_frame(px, ("R", "G", "B", "A")),
                          compression=compression)
                paths.append(path)
            real = exr.truncation
            rows = {}
            for name, fn in (("header", read_header), ("decode", read_exr)):
                checked = timed(fn, paths)
                exr.truncation = lambda path: None
                try:
                    anchor = timed(fn, paths)
                finally:
                    exr.truncation = real
                rows[name] = (checked, anchor)
            print(f"{compression}: " + "; ".join(
                f"{name} {c:.2f} ms vs {a:.2f} ms without the check (ratio {c / a:.3f})"
                for name, (c, a) in rows.items()))


if __name__ == "__main__":
    main()
