"""EXR sequence read -> write: vfx_double.io against bare OpenImageIO calls.

Generates N half RGBA zip frames (noise over gradients, so zip has work to do), then times
alternately, several times each:
  ours  iter_sequence (read-ahead thread) -> write_exr (atomic: temp file, fsync, rename)
  bare  ImageInput.open / read_image / ImageOutput.create / open / write_image / close
  ours_serial  read_exr -> write_exr in a plain loop (no read-ahead): the cost of our layer
and prints a markdown block for benchmarks/RESULTS.md.

    .venv/bin/python benchmarks/bench_io.py --frames 24 --out /tmp/benchio
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import OpenImageIO as oiio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vfx_double.io.exr import ExrImage, read_exr, write_exr  # noqa: E402
from vfx_double.io.sequences import FrameSequence  # noqa: E402
from vfx_double.io.streaming import iter_sequence  # noqa: E402


def make_frame(width: int, height: int, frame: int) -> np.ndarray:
    rng = np.random.default_rng(frame)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    phase = frame * 0.05
    rgba = np.stack([
        x / width + phase,
        y / height,
        0.5 + 0.5 * np.sin((x + y) / 97.0 + phase),
        np.clip(1.2 - ((x - width / 2) ** 2 + (y - height / 2) ** 2) / (width * height / 3), 0, 1),
    ], axis=-1)
    rgba[..., :3] += rng.normal(0.0, 0.01, (height, width, 3)).astype(np.float32)
    return rgba.astype(np.float16)


def generate(seq: FrameSequence, frames: list[int], width: int, height: int) -> None:
    for frame in frames:
        path = seq.path(frame)
        if path.exists():
            continue
        image = ExrImage.full_frame(make_frame(width, height, frame), ("R", "G", "B", "A"),
                                    compression="zip")
        image.set_attribute("vfx_double/bench_frame", frame)
        write_exr(path, image)


def run_ours(src: FrameSequence, dst: Path, frames: list[int]) -> None:
    out = src.with_pattern(dst)
    for frame, image in iter_sequence(src, frames, dtype=None):
        write_exr(out.path(frame), image, compression="zip")


def run_ours_serial(src: FrameSequence, dst: Path, frames: list[int]) -> None:
    out = src.with_pattern(dst)
    for frame in frames:
        write_exr(out.path(frame), read_exr(src.path(frame), dtype=None, frame=frame),
                  compression="zip")


def run_bare(src: FrameSequence, dst: Path, frames: list[int]) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for frame in frames:
        inp = oiio.ImageInput.open(str(src.path(frame)))
        spec = inp.spec()
        pixels = inp.read_image(0, 0, 0, spec.nchannels, spec.format)
        inp.close()
        spec.attribute("compression", "zip")
        target = str(dst / src.frame_name(frame))
        out = oiio.ImageOutput.create(target)
        out.open(target, spec)
        out.write_image(pixels)
        out.close()


def timed(fn: Callable[[FrameSequence, Path, list[int]], None], src: FrameSequence,
          dst: Path, frames: list[int]) -> float:
    shutil.rmtree(dst, ignore_errors=True)
    start = time.perf_counter()
    fn(src, dst, frames)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--out", type=Path, default=Path("/tmp/benchio"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--width", type=int, default=2048)
    parser.add_argument("--height", type=int, default=1152)
    args = parser.parse_args(argv)

    frames = list(range(1001, 1001 + args.frames))
    src = FrameSequence(args.out / f"src_{args.width}x{args.height}" / "plate.####.exr")
    generate(src, frames, args.width, args.height)
    frame_mb = statistics.mean(src.path(f).stat().st_size for f in frames) / 1e6
    for frame in frames:  # warm the page cache so both sides read from memory
        src.path(frame).read_bytes()

    runs = {"ours": run_ours, "bare": run_bare, "ours_serial": run_ours_serial}
    times: dict[str, list[float]] = {name: [] for name in runs}
    order = list(runs)
    for i in range(args.repeats):
        # rotate the order so no variant always runs first (or after the same one)
        for name in order[i % len(order):] + order[:i % len(order)]:
            seconds = timed(runs[name], src, args.out / f"out_{name}", frames)
            times[name].append(seconds / len(frames))
            print(f"repeat {i + 1} {name}: {seconds:.2f} s, "
                  f"{seconds / len(frames) * 1000:.1f} ms/frame", file=sys.stderr)

    med = {name: statistics.median(t) for name, t in times.items()}
    ratio = med["ours"] / med["bare"]
    print(f"### EXR read -> write, {args.width}x{args.height} half RGBA zip\n")
    print(f"- machine: {platform.machine()}, {os.cpu_count()} cores, {platform.system()} "
          f"{platform.release()}; Python {platform.python_version()}, "
          f"OpenImageIO {oiio.VERSION_STRING}, NumPy {np.__version__}")
    print(f"- {len(frames)} frames of {frame_mb:.1f} MB, source in page cache, output to "
          f"`{args.out}`; {args.repeats} repeats each, alternating; medians\n")
    print("| path | s / frame | frames / s |")
    print("|---|---:|---:|")
    for name, label in (("ours", "vfx_double.io: iter_sequence -> write_exr"),
                        ("bare", "bare OpenImageIO"),
                        ("ours_serial", "vfx_double.io, no read-ahead (read_exr -> write_exr)")):
        print(f"| {label} | {med[name]:.4f} | {1 / med[name]:.1f} |")
    print(f"\nOverhead ours / bare: **{ratio:.3f}** (goal <= 1.1); without read-ahead "
          f"{med['ours_serial'] / med['bare']:.3f}. Ours is atomic (temp file, fsync, rename).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
