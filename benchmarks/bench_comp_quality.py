"""Comp quality, same identity, ground truth known: track -> train -> render -> comp.

    .venv/bin/python benchmarks/bench_comp_quality.py --data ../shared/data --work /tmp/benchcompq --steps 1800

lp_d3.mp4 (one real person) becomes a LogC3 half EXR plate. Every stage runs through its
public entry point on a licensed shot. Frames are split in thirds: the performer plate is
the first third, the actor reference the second third (same person, other frames); the
model (`cpu-tiny`, ``--steps``) never sees the last third. The shot is then re-pointed at
the last third, tracked, rendered and comped, and each comp frame is compared with the
original plate frame it replaced:

- PSNR on the face region (the comp's final matte > 0.5), in ACEScct;
- seam: mean gradient magnitude (Sobel, ACEScct luma) in the matte's edge band
  (0.05 < matte < 0.95), comp over plate; goal <= 1.5;
- flicker: mean absolute frame-to-frame difference (ACEScct) on the face region of both
  frames, comp over plate; goal <= 1.2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from _machine import machine_line

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.shots import make_shot  # noqa: E402  (a licensed synthetic-actor shot skeleton)
from vfx_double import acescct  # noqa: E402
from vfx_double.color import DEFAULT_CONFIG, ColourConfig  # noqa: E402
from vfx_double.comp.blend import Look, final_matte  # noqa: E402
from vfx_double.comp.element import read_element  # noqa: E402
from vfx_double.comp.stage import comp_shot  # noqa: E402
from vfx_double.demo.plates import video_to_plates  # noqa: E402
from vfx_double.io.exr import read_exr  # noqa: E402
from vfx_double.io.sequences import FrameSequence  # noqa: E402
from vfx_double.render import render_shot  # noqa: E402
from vfx_double.track.stage import track_shot  # noqa: E402
from vfx_double.train.stage import train_shot  # noqa: E402

LOGC3 = "ARRI LogC3 (EI800)"
LUMA = np.array([0.2722, 0.6741, 0.0537], np.float32)  # AP1 luminance weights


def set_frames(config: Path, plate: tuple[int, int], reference: tuple[int, int],
               plates: str, comp: str) -> None:
    config.write_text(f"""schema: ShotConfig.1
show: SHOW
shot: sh010
work_root: ../../work
plate:
  path: {plates}
  frames: [{plate[0]}, {plate[1]}]
  colourspace: {LOGC3}
actor:
  name: Test Actor (synthetic)
  licence: ../../licences/test.licence.json
  reference:
    path: {plates}
    frames: [{reference[0]}, {reference[1]}]
    colourspace: {LOGC3}
{comp}""")


def to_cct(pixels: np.ndarray, colour: ColourConfig) -> np.ndarray:
    lin = colour.convert(np.ascontiguousarray(pixels[..., :3], np.float32), LOGC3, "ACEScg")
    return acescct.encode(lin)


def measure(plates: FrameSequence, comps: FrameSequence, elements: FrameSequence,
            frames: list[int], look: Look, colour: ColourConfig) -> dict:
    psnrs, seam_c, seam_p, flick_c, flick_p = [], [], [], [], []
    prev = None
    for frame in frames:
        plate = read_exr(plates.path(frame))
        comp = read_exr(comps.path(frame))
        found = final_matte(read_element(elements.path(frame), frame), look, plate.data_window)
        if found is None:
            prev = None
            continue
        matte_box, (x, y, w, h) = found
        matte = np.zeros(plate.pixels.shape[:2], np.float32)
        matte[y:y + h, x:x + w] = matte_box
        p, c = to_cct(plate.pixels, colour), to_cct(comp.pixels, colour)
        face = matte > 0.5
        err = float(np.mean((p[face] - c[face]) ** 2))
        psnrs.append(10 * np.log10(1.0 / max(err, 1e-12)))
        band = (matte > 0.05) & (matte < 0.95)
        for image, out in ((c, seam_c), (p, seam_p)):
            luma = image @ LUMA
            grad = np.hypot(cv2.Sobel(luma, cv2.CV_32F, 1, 0), cv2.Sobel(luma, cv2.CV_32F, 0, 1))
            out.append(float(grad[band].mean()))
        if prev is not None:
            both = face & prev[2]
            flick_c.append(float(np.abs(c - prev[1])[both].mean()))
            flick_p.append(float(np.abs(p - prev[0])[both].mean()))
        prev = (p, c, face)
    return {"frames": len(psnrs), "psnr": float(np.mean(psnrs)),
            "seam_comp": float(np.mean(seam_c)), "seam_plate": float(np.mean(seam_p)),
            "seam_ratio": float(np.mean(seam_c) / np.mean(seam_p)),
            "flicker_comp": float(np.mean(flick_c)), "flicker_plate": float(np.mean(flick_p)),
            "flicker_ratio": float(np.mean(flick_c) / np.mean(flick_p))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/benchcompq"))
    parser.add_argument("--steps", type=int, default=1800)
    parser.add_argument("--colour-match", default="rct")
    args = parser.parse_args(argv)
    work = args.work.resolve()
    colour = ColourConfig.load(DEFAULT_CONFIG)
    plates = FrameSequence(str(work / "plates" / "lp_d3.####.exr"))
    frames = video_to_plates(args.data / "video" / "lp_d3.mp4", plates, colour=colour,
                             colourspace=LOGC3)
    third = len(frames) // 3
    train_p, train_a = (frames[0], frames[third - 1]), (frames[third], frames[2 * third - 1])
    held = (frames[2 * third], frames[-1])
    look = Look(colour_match=args.colour_match)
    comp_yaml = f"comp:\n  colour_match: {look.colour_match}\n  grain: true\n"
    timings = {}
    shot_dir = work / "shot"
    if not shot_dir.exists():
        shot = make_shot(shot_dir)
    else:
        from types import SimpleNamespace
        shot = SimpleNamespace(config=shot_dir / "shots" / "SHOW" / "sh010.yaml",
                               keyring=shot_dir / "keyring")
    area = shot_dir / "work" / "SHOW" / "sh010"
    if not (area / "train").exists():
        set_frames(shot.config, train_p, train_a, str(plates.pattern), comp_yaml)
        start = time.perf_counter()
        track_shot(shot.config, keyring=shot.keyring)
        timings["track_train_frames"] = time.perf_counter() - start
        start = time.perf_counter()
        train_shot(shot.config, steps=args.steps, keyring=shot.keyring, deterministic=False)
        timings["train"] = time.perf_counter() - start
    set_frames(shot.config, held, train_a, str(plates.pattern), comp_yaml)
    for stage, run in (("track_held_out", track_shot), ("render", render_shot),
                       ("comp", comp_shot)):
        start = time.perf_counter()
        report = run(shot.config, keyring=shot.keyring)
        timings[stage] = time.perf_counter() - start
    held_frames = [f for f in frames if held[0] <= f <= held[1]]
    comps = FrameSequence(str(report.comp_dir / f"sh010_comp_{report.comp_dir.name}.####.exr"))
    render_dir = sorted((area / "render").iterdir())[-1]
    elements = FrameSequence(str(render_dir / "face.####.exr"))
    result = measure(plates, comps, elements, held_frames, look, colour)
    result.update({"steps": args.steps, "timings_s": {k: round(v, 1) for k, v in timings.items()},
                   "train_frames": list(train_p), "actor_frames": list(train_a),
                   "held_out": list(held), "colour_match": look.colour_match})
    (work / "results.json").write_text(json.dumps(result, indent=2))
    print(f"\n### Comp quality, same identity ({machine_line()})\n")
    print(f"lp_d3: performer {train_p[0]}-{train_p[1]}, actor {train_a[0]}-{train_a[1]}, "
          f"held out {held[0]}-{held[1]}; cpu-tiny {args.steps} steps; colour match "
          f"{look.colour_match}, grain on\n")
    print("| frames | PSNR dB (face, ACEScct) | seam ratio | flicker ratio |")
    print("|---:|---:|---:|---:|")
    print(f"| {result['frames']} | {result['psnr']:.2f} | {result['seam_ratio']:.3f} | "
          f"{result['flicker_ratio']:.3f} |")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
