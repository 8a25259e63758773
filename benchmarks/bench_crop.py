"""The one crop recipe (face.crop.aligned_crop) against the whole-frame recipe track used
before issue 10, on a tracked shot's plates.

    .venv/bin/vfx-double demo --out /tmp/benchcrop --train-steps 0
    .venv/bin/python benchmarks/bench_crop.py --shot /tmp/benchcrop/shot_configs/DEMO/sh010.yaml

Per tracked frame, from the decoded plate: the anchor converts the whole frame to the
network encoding and warps the crop out of it (what track's faceset pass did); the
recipe converts only the face's region (a plate box on the whole frame's pyramid grid,
grown for the filter taps) and warps that (what render did, and now both do). Reported:
the largest difference between the two crops (0 means the faceset is unchanged) and the
median milliseconds of each, with the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
from _machine import machine_line

from vfx_double import config as config_mod
from vfx_double.color import ColourConfig, resolve_config_uri
from vfx_double.face import track as track_record
from vfx_double.face.crop import aligned_crop, warp_crop, with_offset
from vfx_double.io.exr import read_exr
from vfx_double.io.sequences import FrameSequence
from vfx_double.workarea import WorkArea


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shot", type=Path, required=True, help="a tracked shot's config")
    parser.add_argument("--frames", type=int, default=24, help="tracked frames to time")
    args = parser.parse_args()
    cfg = config_mod.load(args.shot)
    colour = ColourConfig.load(resolve_config_uri(cfg.colour.config, cfg.source.parent))
    network = colour.resolve(cfg.colour.network)
    track_dir = WorkArea(cfg.shot_dir).latest("track")
    assert track_dir is not None, f"track {args.shot} first"
    track = track_record.load(track_dir / "track.json")
    seq = FrameSequence(str(cfg.plate.path), cfg.plate.frames)
    size = int(track.settings["crop_size"])
    space = track.colourspace
    picked = [i for i in np.flatnonzero(track.valid)][: args.frames]
    whole_ms, region_ms, worst = [], [], 0.0
    for i in picked:
        image = read_exr(seq.path(track.frames[i]))
        matrix = track.matrices[i]
        t0 = time.perf_counter()
        anchor = warp_crop(colour.convert(image.pixels[:, :, :3], space, network),
                           with_offset(matrix, image.data_window), size)
        t1 = time.perf_counter()
        crop = aligned_crop(image.pixels, image.data_window, matrix, size,
                            lambda region: colour.convert(region, space, network))
        t2 = time.perf_counter()
        assert crop is not None
        whole_ms.append((t1 - t0) * 1e3)
        region_ms.append((t2 - t1) * 1e3)
        worst = max(worst, float(np.abs(anchor - crop).max()))
    w, h = image.data_window[2:]
    whole, region = statistics.median(whole_ms), statistics.median(region_ms)
    print(f"machine: {machine_line()}")
    print(f"shot {cfg.show}/{cfg.shot}: {len(picked)} frames {w}x{h}, crop {size} px")
    print(f"largest difference, recipe vs whole frame: {worst:.3g}")
    print(f"whole-frame anchor {whole:.1f} ms, region recipe {region:.1f} ms per frame "
          f"(median); ratio {region / whole:.3f}")


if __name__ == "__main__":
    main()
