"""Comp quality on real footage, same identity, measured by what blur cannot fake.

    .venv/bin/python benchmarks/bench_comp_quality.py --clip lp_d3 --work /tmp/benchq --steps 1800

A clip of one real person becomes a LogC3 half EXR plate. As a user would set up a
same-person shot: actor reference = the clip's first two thirds, plate = the last third.
Every stage runs through its public entry point on a licensed shot: ``track`` (plate and
actor), ``train`` (the preset, ``--steps``), ``render``, then ``comp`` twice:

- ``model``: detail recovery off and grain off, so the figures are the model's pixels;
- ``default``: the shot's comp defaults (detail recovery auto, grain on), what a
  compositor gets.

Measures (see ``_quality.py``), per frame and pooled: resolution efficiency against a
flat fill (floor) and the plate squeezed to the model's resolution and back (ceiling),
detail ratio, halo, seam, flicker; expression fidelity by re-tracking the comp frames
(``track`` on the comp sequence) against the plate's own track: Pearson r of mouth and
eye opening, NME-68 between the tracks, on all frames and on the frames the coverage
report (``track/vNNN/coverage.json``) says the actor data covers; Spearman rank
correlation of coverage distance with per-frame core error. Side-by-side PNGs (plate |
comp | matte) of three plate frames go to ``--pictures``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np
from scipy.stats import spearmanr
from _machine import machine_line
from _quality import (HALO_MIN_MATTE, FrameMeasure, measure_frame, mouth_eye_correlation,
                      nme68, pooled, side_by_side, silhouette)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.shots import make_shot  # noqa: E402  (a licensed synthetic-actor shot skeleton)
from vfx_double import acescct  # noqa: E402
from vfx_double.color import DEFAULT_CONFIG, ColourConfig  # noqa: E402
from vfx_double.comp.blend import final_matte  # noqa: E402
from vfx_double.config import Comp  # noqa: E402
from vfx_double.face.element import read_element  # noqa: E402
from vfx_double.comp.stage import comp_shot  # noqa: E402
from vfx_double.demo.plates import video_to_plates  # noqa: E402
from vfx_double.io.exr import read_exr  # noqa: E402
from vfx_double.io.sequences import FrameSequence  # noqa: E402
from vfx_double.render.stage import render_shot  # noqa: E402
from vfx_double.face import track as track_result  # noqa: E402
from vfx_double.track.coverage import expression_measures  # noqa: E402
from vfx_double.track.coverage_report import load as load_coverage  # noqa: E402
from vfx_double.track.run import display_u8  # noqa: E402
from vfx_double.track.stage import track_shot  # noqa: E402
from vfx_double.train.stage import train_shot  # noqa: E402

LOGC3 = "ARRI LogC3 (EI800)"
VARIANTS = {"model": {"detail": "off", "grain": "false"},
            "default": {"detail": "auto", "grain": "true"}}


def write_config(path: Path, shot: str, plate: tuple[str, tuple[int, int]],
                 reference: tuple[str, tuple[int, int]], comp: dict[str, str],
                 train: dict[str, str]) -> None:
    comp_lines = "".join(f"  {k}: {v}\n" for k, v in comp.items())
    train_lines = "".join(f"  {k}: {v}\n" for k, v in train.items())
    path.write_text(f"""schema: ShotConfig.2
show: SHOW
shot: {shot}
work_root: ../../work
plate:
  path: {plate[0]}
  frames: [{plate[1][0]}, {plate[1][1]}]
  colourspace: {LOGC3}
actor:
  name: Test Actor (synthetic)
  licence: ../../licences/test.licence.json
  reference:
    path: {reference[0]}
    frames: [{reference[1][0]}, {reference[1][1]}]
    colourspace: {LOGC3}
""" + (f"comp:\n{comp_lines}" if comp_lines else "")
                    + (f"train:\n{train_lines}" if train_lines else ""))


def to_cct(pixels: np.ndarray, colour: ColourConfig) -> np.ndarray:
    lin = colour.convert(np.ascontiguousarray(pixels[..., :3], np.float32), LOGC3, "ACEScg")
    return acescct.encode(lin)


def measure_variant(plates: FrameSequence, comps: FrameSequence, elements: FrameSequence,
                    track: track_result.TrackResult, frames: list[int], look: Comp,
                    colour: ColourConfig, resolution: int) -> tuple[dict, list[FrameMeasure]]:
    index = {f: i for i, f in enumerate(track.frames)}
    size = int(track.settings.get("crop_size", 256))
    measures: list[FrameMeasure] = []
    flick = [0.0, 0.0]
    halo_plate = [0.0, 0]
    prev = None
    for frame in frames:
        plate = read_exr(plates.path(frame))
        found = final_matte(read_element(elements.path(frame), frame), look, plate.data_window)
        if found is None:
            prev = None
            continue
        matte_box, (x, y, w, h) = found
        matte = np.zeros(plate.pixels.shape[:2], np.float32)
        matte[y:y + h, x:x + w] = matte_box
        p = to_cct(plate.pixels, colour)
        c = to_cct(read_exr(comps.path(frame)).pixels, colour)
        i = index[frame]
        fm = measure_frame(frame, p, c, matte, track.matrices[i], track.points[i], size,
                           resolution)
        measures.append(fm)
        face = matte > 0.5
        if prev is not None:
            both = face & prev[2]
            flick[0] += float(np.abs(c - prev[1])[both].mean())
            flick[1] += float(np.abs(p - prev[0])[both].mean())
            band = (matte > HALO_MIN_MATTE) & ~silhouette(track.points[i], p.shape[:2])
            halo_plate[0] += float(np.abs(p - prev[0]).mean(axis=2)[band].sum())
            halo_plate[1] += int(band.sum())
        prev = (p, c, face)
    return pooled(measures, (flick[0], flick[1]), (halo_plate[0], halo_plate[1])), measures


def expression(plate_track: track_result.TrackResult, comp_track: track_result.TrackResult,
               covered: dict[int, bool]) -> dict:
    frames = [f for f in plate_track.frames if f in set(comp_track.frames)]
    pi = {f: i for i, f in enumerate(plate_track.frames)}
    ci = {f: i for i, f in enumerate(comp_track.frames)}
    ok = [f for f in frames if plate_track.valid[pi[f]] and comp_track.valid[ci[f]]]
    p = plate_track.points[[pi[f] for f in ok]]
    c = comp_track.points[[ci[f] for f in ok]]
    mp, ep = expression_measures(p)
    mc, ec = expression_measures(c)
    finite = np.isfinite(mp) & np.isfinite(mc) & np.isfinite(ep) & np.isfinite(ec)
    ok = [f for f, keep in zip(ok, finite) if keep]
    p, c, mp, ep, mc, ec = p[finite], c[finite], mp[finite], ep[finite], mc[finite], ec[finite]
    keep = np.array([covered.get(f, True) for f in ok])
    out = {"frames": len(ok), "covered_frames": int(keep.sum())}
    for name, sel in (("all", np.ones_like(keep)), ("covered", keep)):
        out[name] = {
            "mouth_r": mouth_eye_correlation(mc[sel], mp[sel]),
            "eye_r": mouth_eye_correlation(ec[sel], ep[sel]),
            "mouth_amplitude": float(np.std(mc[sel]) / max(np.std(mp[sel]), 1e-9)),
            "mouth_mean_ratio": float(np.mean(mc[sel]) / max(np.mean(mp[sel]), 1e-9)),
            "nme68": nme68(c[sel], p[sel]) if sel.any() else float("nan")}
    out["per_frame"] = {"frames": ok, "mouth_plate": mp.round(4).tolist(),
                        "mouth_comp": mc.round(4).tolist(), "eye_plate": ep.round(4).tolist(),
                        "eye_comp": ec.round(4).tolist()}
    return out


def coverage_of(track_dir: Path) -> dict:
    """Per-frame combined coverage distance and covered flag from the track's record."""
    report = load_coverage(track_dir / "coverage.json")
    covered = report.counted & ~report.uncovered
    return {"distance": dict(zip(report.frames, report.distance["combined"].tolist())),
            "covered": dict(zip(report.frames, covered.tolist())),
            "uncovered": [r.text for r in report.ranges]}


def pictures(out: Path, tag: str, frames: list[int], plates: FrameSequence,
             comps: dict[str, FrameSequence], elements: FrameSequence, look: Comp,
             colour: ColourConfig) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for frame in frames:
        plate = read_exr(plates.path(frame))
        element = read_element(elements.path(frame), frame)
        x, y, w, h = element.box
        pad = max(w, h) // 8
        H, W = plate.pixels.shape[:2]
        x0, y0, x1, y1 = max(0, x - pad), max(0, y - pad), min(W, x + w + pad), min(H, y + h + pad)

        def crop(pixels: np.ndarray) -> np.ndarray:
            return display_u8(colour, np.ascontiguousarray(pixels[y0:y1, x0:x1, :3]), LOGC3)

        panels, labels = [crop(plate.pixels)], [f"plate {frame}"]
        for name, seq in comps.items():
            panels.append(crop(read_exr(seq.path(frame)).pixels))
            labels.append(f"SYNTHETIC comp ({name})")
        found = final_matte(element, look, plate.data_window)
        matte = np.zeros((H, W), np.float32)
        if found is not None:
            mb, (mx, my, mw, mh) = found
            matte[my:my + mh, mx:mx + mw] = mb
        m8 = (np.clip(matte[y0:y1, x0:x1], 0, 1) * 255).astype(np.uint8)
        panels.append(np.repeat(m8[:, :, None], 3, axis=2))
        labels.append("matte")
        path = out / f"{tag}_{frame}.png"
        cv2.imwrite(str(path), side_by_side(panels, labels)[:, :, ::-1])
        written.append(path)
    return written


def halo_cell(summary: dict) -> str:
    """``error / plate change``, or why there is none: with the matte wholly inside the
    face silhouette there is no band for a halo to be in."""
    if not summary["halo_pixels"]:
        return "none: matte inside the silhouette"
    return f"{summary['halo_error']:.4f} / {summary['halo_plate_change']:.4f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--clip", default="lp_d3")
    parser.add_argument("--work", type=Path, default=Path("/tmp/benchq"))
    parser.add_argument("--steps", type=int, default=1800)
    parser.add_argument("--preset", default="cpu-tiny")
    parser.add_argument("--train", action="append", default=[],
                        help="extra train.KEY=VALUE override for the shot config")
    parser.add_argument("--quick", action="store_true",
                        help="picture measures only: no re-tracking of the comp, no PNGs")
    parser.add_argument("--pictures", type=Path, default=None,
                        help="folder for side-by-side PNGs (default: WORK/pictures)")
    args = parser.parse_args(argv)
    work = args.work.resolve()
    colour = ColourConfig.load(DEFAULT_CONFIG)
    plates = FrameSequence(str(work / "plates" / f"{args.clip}.####.exr"))
    frames = video_to_plates(args.data / "video" / f"{args.clip}.mp4", plates, colour=colour,
                             colourspace=LOGC3)
    split = len(frames) * 2 // 3
    actor, held = (frames[0], frames[split - 1]), (frames[split], frames[-1])
    shot_dir = work / "shot"
    config = shot_dir / "shots" / "SHOW" / "sh010.yaml"
    keyring = shot_dir / "keyring"
    if not shot_dir.exists():
        make_shot(shot_dir).approve(plates.pattern)  # same identity: the licence names the clip
    train = {"preset": args.preset, **dict(kv.split("=", 1) for kv in args.train)}
    timings: dict[str, float] = {}

    def write(comp: dict[str, str]) -> None:
        write_config(config, "sh010", (str(plates.pattern), held), (str(plates.pattern), actor),
                     {"colour_match": "rct", **comp}, train)

    write(VARIANTS["model"])
    area = shot_dir / "work" / "SHOW" / "sh010"

    def timed(name: str, fn, **kw):
        start = time.perf_counter()
        out = fn(config, keyring=keyring, **kw)
        timings[name] = round(time.perf_counter() - start, 1)
        return out

    if not (area / "track").exists() or not any(area.glob("track/*/coverage.json")):
        timed("track", track_shot, qc=True)  # (again for a work area tracked before coverage)
    if not (area / "train").exists():
        timed("train", train_shot, steps=args.steps, deterministic=False)
    timed("render", render_shot)
    track_dir = sorted((area / "track").iterdir())[-1]
    track = track_result.load(track_dir / "track.json")
    render_dir = sorted((area / "render").iterdir())[-1]
    elements = FrameSequence(str(render_dir / "face.####.exr"))
    options = json.loads((sorted((area / "train").iterdir())[-1] / "options.json").read_text())
    resolution = int(options["preset"]["spec"]["resolution"])
    held_frames = [f for f in frames if held[0] <= f <= held[1]]
    coverage = coverage_of(track_dir)
    results: dict = {"clip": args.clip, "steps": args.steps, "preset": args.preset,
                     "train_overrides": train, "actor_frames": list(actor),
                     "plate_frames": list(held), "coverage_uncovered": coverage["uncovered"]}
    comps: dict[str, FrameSequence] = {}
    for name, comp in VARIANTS.items():
        write(comp)
        report = timed(f"comp_{name}", comp_shot)
        comps[name] = FrameSequence(str(report.folder /
                                        f"sh010_comp_{report.folder.name}.####.exr"))
        look = Comp(colour_match="rct", grain=comp["grain"] == "true")
        summary, per_frame = measure_variant(plates, comps[name], elements, track, held_frames,
                                             look, colour, resolution)
        for part, want in (("covered", True), ("uncovered", False)):
            sel = [f for f in per_frame if coverage["covered"].get(f.frame, True) is want]
            if sel:
                model, floor, ceil = (float(np.mean([getattr(f, a) for f in sel]))
                                      for a in ("model", "floor", "ceiling"))
                summary[f"efficiency_{part}"] = (model - floor) / (ceil - floor)
                summary[f"frames_{part}"] = len(sel)
        pairs = [(coverage["distance"][f.frame], f.core_mse) for f in per_frame
                 if np.isfinite(coverage["distance"].get(f.frame, np.nan))]
        summary["coverage_spearman"] = float(spearmanr(*zip(*pairs)).statistic)
        summary["per_frame"] = [{**asdict(f), "efficiency": f.efficiency} for f in per_frame]
        results[name] = summary
        if args.quick:
            continue
        # Expression fidelity: the comp frames through the tracker, as a new shot.
        retrack = shot_dir / "shots" / "SHOW" / f"retrack_{name}.yaml"
        write_config(retrack, f"retrack_{name}", (str(comps[name].pattern), held),
                     (str(plates.pattern), (actor[0], actor[0] + 9)), {}, {})
        start = time.perf_counter()
        rep = track_shot(retrack, keyring=keyring)
        timings[f"retrack_{name}"] = round(time.perf_counter() - start, 1)
        summary["expression"] = expression(track, rep.results["plate"], coverage["covered"])
    pics = args.pictures or work / "pictures"
    if not args.quick:
        mouth = np.array(results["model"]["expression"]["per_frame"]["mouth_plate"])
        picks = [held_frames[len(held_frames) // 6],
                 results["model"]["expression"]["per_frame"]["frames"][int(np.argmax(mouth))],
                 held_frames[-len(held_frames) // 6]]
        results["pictures"] = [str(p) for p in pictures(
            pics, f"{args.clip}_{args.preset}", picks, plates, comps, elements,
            Comp(colour_match="rct"), colour)]
    results["timings_s"] = timings
    (work / "results.json").write_text(json.dumps(results, indent=2))
    print(f"\n### Comp quality, same identity ({machine_line()})\n")
    print(f"{args.clip}: actor {actor[0]}-{actor[1]}, plate {held[0]}-{held[1]}; {args.preset} "
          f"{args.steps} steps {train}; timings {timings}\n")
    print("| comp | efficiency all / covered / uncovered | core dB model / floor / ceiling | "
          "detail s1 / s2 | halo / plate change | seam | flicker | mouth r | eye r | mouth ampl "
          "| NME-68 | spearman |")
    print("|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    nan = {"covered": dict.fromkeys(("mouth_r", "eye_r", "mouth_amplitude", "nme68"),
                                    float("nan"))}
    for name in VARIANTS:
        s = results[name]
        e = s.get("expression", nan)["covered"]
        print(f"| {name} | {s['efficiency']:.2f} / {s.get('efficiency_covered', np.nan):.2f} / "
              f"{s.get('efficiency_uncovered', np.nan):.2f} | {s['psnr_core_model']:.1f} / "
              f"{s['psnr_core_floor']:.1f} / {s['psnr_core_ceiling']:.1f} | "
              f"{s['detail_ratio'][0]:.2f} / {s['detail_ratio'][1]:.2f} | "
              f"{halo_cell(s)} | {s['seam_ratio']:.2f} | "
              f"{s['flicker_ratio']:.2f} | {e['mouth_r']:.2f} | {e['eye_r']:.2f} | "
              f"{e['mouth_amplitude']:.2f} | {e['nme68']:.3f} | "
              f"{s.get('coverage_spearman', float('nan')):.2f} |")
    print(f"uncovered: {coverage['uncovered']}")
    print(f"pictures: {results.get('pictures')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
