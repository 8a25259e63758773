"""C2PA and verify on review-sized movies: the time to sign a 1920x1080, 48-frame H.264
.mp4 and ProRes 422 HQ .mov (sign_movie: manifest, plate ingredient, hash of the whole
file, temp file + rename), to read its manifest back (read_movie_manifest), and the whole
``verify`` of it (verify_file: C2PA + the watermark read from up to 300 frames); and the
sidecar of 48 1080p comp EXRs (write_sidecar, check_sidecar). Prints a markdown block for
benchmarks/RESULTS.md.

    .venv/bin/python benchmarks/bench_c2pa.py --out /tmp/benchc2pa
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._machine import machine_line  # noqa: E402
from vfx_double.io.exr import ExrImage, write_exr  # noqa: E402
from vfx_double.io.movie import MovieWriter  # noqa: E402
from vfx_double.licence import Licence  # noqa: E402
from vfx_double.provenance import watermark  # noqa: E402
from vfx_double.provenance.content_credentials import read_movie_manifest, sign_movie  # noqa: E402
from vfx_double.provenance.sidecar import check_sidecar, write_sidecar  # noqa: E402
from vfx_double.provenance.signing import TRUST_FILE, load_signing, make_local_ca  # noqa: E402
from vfx_double.provenance.verify import verify_file  # noqa: E402

SIZE = (1920, 1080)


def frame(i: int) -> np.ndarray:
    """(h, w, 3) float32 0..1: gradients, a moving disc and grain, labelled SYNTHETIC."""
    w, h = SIZE
    rng = np.random.default_rng(i)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    disc = ((x - 600 - 12 * i) ** 2 + (y - 540) ** 2 < 200 ** 2).astype(np.float32)
    rgb = np.stack([x / w, y / h, 0.3 + 0.4 * disc], axis=-1)
    rgb += rng.normal(0.0, 0.02, rgb.shape).astype(np.float32)
    cv2.putText(rgb, "SYNTHETIC", (60, 1000), cv2.FONT_HERSHEY_SIMPLEX, 3.0, (1, 1, 1), 6)
    return np.clip(rgb, 0.0, 1.0)


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path("/tmp/benchc2pa"))
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    signing, trust = make_local_ca(args.out / "ca", name="Bench Studio")
    keyring = args.out / "keyring"
    keyring.mkdir()
    shutil.copy(trust, keyring / TRUST_FILE)
    credentials = load_signing(signing)
    licence = Licence("LIC-0001", "Ada Example", "Ada Example", "Bench Studio", ("DEMO",),
                      ("render", "film"), dt.date(2026, 1, 1), dt.date(2027, 1, 1), "bench")
    payload = watermark.payload_for(licence.licence_id, 3)
    report = {"model_hash": "a" * 64, "config_hash": "b" * 64,
              "watermark": watermark.describe(payload), "show": "DEMO", "shot": "sh010",
              "version": "v003"}
    embedder = watermark.Embedder(payload, SIZE)
    plate = args.out / "plate.jpg"
    cv2.imwrite(str(plate), (frame(0)[::4, ::4, ::-1] * 255).astype(np.uint8))
    originals = {}
    for codec, name, dtype in (("h264", "review.mp4", np.uint8),
                               ("prores", "review.mov", np.uint16)):
        scale = np.iinfo(dtype).max
        with MovieWriter(args.out / name, 24.0, SIZE, codec=codec) as writer:
            for i in range(args.frames):
                writer.add((embedder.embed(frame(i)) * scale + 0.5).astype(dtype))
        originals[codec] = args.out / name
    rows = []
    for codec, original in originals.items():
        path = original.with_name(f"signed{original.suffix}")

        def sign() -> None:
            shutil.copy(original, path)
            sign_movie(path, credentials=credentials, title=path.name, licence=licence,
                       plate_ingredient=plate, report=report)

        copy_s, _ = timed(lambda: shutil.copy(original, path), args.repeats)
        sign_s, _ = timed(sign, args.repeats)
        read_s, state = timed(lambda: read_movie_manifest(path, anchors=trust.read_bytes()),
                              args.repeats)
        verify_s, verdict = timed(lambda: verify_file(path, keyring=keyring), args.repeats)
        assert state.state == "Trusted" and verdict.state == "Trusted", verdict.line
        rows.append((codec, original.stat().st_size, path.stat().st_size, sign_s - copy_s,
                     read_s, verify_s))
    comp = args.out / "comp"
    comp.mkdir()
    pixels = [frame(i).astype(np.float16) for i in range(4)]
    exrs = []
    for i in range(args.frames):
        exrs.append(comp / f"comp.{1001 + i}.exr")
        write_exr(exrs[-1], ExrImage.full_frame(pixels[i % 4], ("R", "G", "B"),
                                                compression="zip"))
    sidecar = args.out / "review" / "frames.manifest.json"
    write_s, _ = timed(lambda: write_sidecar(sidecar, exrs, credentials=credentials,
                                             licence_id="LIC-0001", base=args.out),
                       args.repeats)
    check_s, state = timed(lambda: check_sidecar(sidecar, anchors=trust.read_bytes()),
                           args.repeats)
    assert state.state == "Trusted", state.reason
    exr_mb = sum(p.stat().st_size for p in exrs) / 1e6
    print(f"- Machine: {machine_line()}")
    print(f"- {args.frames} frames {SIZE[0]}x{SIZE[1]}, median of {args.repeats}")
    print("| movie | size | signed size | sign | read manifest | verify (C2PA + watermark) |")
    print("|---|---|---|---|---|---|")
    for codec, before, after, sign_s, read_s, verify_s in rows:
        print(f"| {codec} | {before / 1e6:.1f} MB | +{after - before} B | {sign_s:.2f} s | "
              f"{read_s:.2f} s | {verify_s:.2f} s |")
    print(f"- sidecar of {args.frames} EXRs ({exr_mb:.0f} MB): write {write_s:.2f} s, "
          f"check {check_s:.2f} s")


if __name__ == "__main__":
    main()
