"""Review encode speed at 1920x1080 against a bare ffmpeg call on the same comp frames.

    .venv/bin/python benchmarks/bench_review.py --shot /tmp/demo14/shot_configs/DEMO/sh010.yaml \
        --keyring /tmp/demo14/keyring --signing /tmp/demo14/c2pa/signing --repeats 2

Needs a shot with a finished comp (``vfx-double demo`` makes one: 48 frames, 1920x1080,
half-float LogC3 EXRs). Each repeat runs ``vfx-double review --new`` (a new version each
time; they are left in the work area).

- Ours: ``review_shot``: per frame the comp and the plate read, both through the OCIO display
  view, burn-ins, watermark, three encodes at once (H.264 crf 18 + ProRes 422 HQ of the
  review, H.264 of the plate), then C2PA signing of both movies, the signed sidecar of the
  EXR hashes, contact sheet and report.
- Anchors: the ffmpeg in the imageio-ffmpeg wheel reading the same comp EXRs itself (no
  colour management, no burn-ins, no watermark, no plate movie, no signing), with our
  encoder settings: (a) H.264 alone, (b) ProRes 422 HQ alone, (c) both outputs from one call.
- Also: peak RSS of a review in a child process (memory is flat in shot length: frames
  stream through, nothing is held but a few frames).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _machine import machine_line

from vfx_double import config as config_mod
from vfx_double.io.movie import _ffmpeg_exe
from vfx_double.workarea import WorkArea

VF = ("scale=out_color_matrix=bt709:out_range=tv,format={fmt},setparams=range=tv:"
      "color_primaries=bt709:color_trc=bt709:colorspace=bt709")
H264 = ["-vf", VF.format(fmt="yuv420p"), "-c:v", "libx264", "-preset", "medium", "-crf", "18",
        "-pix_fmt", "yuv420p", "-movflags", "+faststart"]
PRORES = ["-vf", VF.format(fmt="yuv422p10le"), "-c:v", "prores_ks", "-profile:v", "3",
          "-vendor", "apl0", "-pix_fmt", "yuv422p10le"]


def anchor(pattern: str, first: int, outputs: list[tuple[list[str], Path]]) -> float:
    cmd = [_ffmpeg_exe(), "-v", "error", "-y", "-start_number", str(first), "-framerate", "24",
           "-i", pattern]
    for args, out in outputs:
        cmd += [*args, str(out)]
    start = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - start


def ours(shot: Path, keyring: Path, signing: Path) -> tuple[float, int]:
    """Seconds and peak RSS (KiB) of one `vfx-double review` in a child process."""
    start = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-f", "%M", str(ROOT / ".venv/bin/vfx-double"),
                           "review", str(shot), "--new", "--keyring", str(keyring),
                           "--signing", str(signing)], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"review failed: {proc.stderr.strip().splitlines()[-1]}")
    return seconds, int(proc.stderr.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shot", type=Path, required=True)
    ap.add_argument("--keyring", type=Path, required=True)
    ap.add_argument("--signing", type=Path, required=True)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    cfg = config_mod.load(args.shot)
    area = WorkArea(cfg.shot_dir)
    comp = area.latest("comp")
    assert comp is not None, "the shot has no comp: run `vfx-double demo` first"
    exrs = sorted(comp.glob("*.exr"))
    frames = len(exrs)
    first = int(exrs[0].name.split(".")[-2])
    pattern = str(comp / f"{cfg.shot}_comp_{comp.name}.%04d.exr")
    tmp = Path("/tmp/bench_review")
    tmp.mkdir(exist_ok=True)
    runs: dict[str, list[float]] = {"ours": [], "h264": [], "prores": [], "both": []}
    rss = []
    for _ in range(args.repeats):
        seconds, peak = ours(args.shot, args.keyring, args.signing)
        runs["ours"].append(seconds)
        rss.append(peak)
        runs["h264"].append(anchor(pattern, first, [(H264, tmp / "a.mp4")]))
        runs["prores"].append(anchor(pattern, first, [(PRORES, tmp / "a.mov")]))
        runs["both"].append(anchor(pattern, first, [(H264, tmp / "b.mp4"),
                                                    (PRORES, tmp / "b.mov")]))
    med = {k: statistics.median(v) for k, v in runs.items()}
    fps = {k: frames / v for k, v in med.items()}
    result = {
        "machine": machine_line(), "date": dt.date.today().isoformat(), "frames": frames,
        "size": "1920x1080", "repeats": args.repeats,
        "seconds_median": {k: round(v, 2) for k, v in med.items()},
        "frames_per_s": {k: round(v, 2) for k, v in fps.items()},
        "ours_vs_both_anchor_time_ratio": round(med["ours"] / med["both"], 2),
        "ours_vs_h264_anchor_time_ratio": round(med["ours"] / med["h264"], 2),
        "ours_vs_prores_anchor_time_ratio": round(med["ours"] / med["prores"], 2),
        "peak_rss_mib": round(max(rss) / 1024, 1),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
