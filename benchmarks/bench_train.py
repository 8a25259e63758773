"""Training benchmarks on CPU: same-identity reconstruction, marked-identity swap, throughput.

    .venv/bin/python benchmarks/bench_train.py --data ../shared/data --work /tmp/benchtrain --minutes 10

lp_d3.mp4 (one real person) becomes a LogC3 EXR plate and is tracked once. Its frames are
split in thirds: performer = first third, actor = second third (same person, different
frames), evaluation = last third, never trained on.
- Same identity: train `cpu-tiny`; every so often, swap the held-out crops (performer ->
  actor decoder) and compare with the crops themselves: PSNR and SSIM inside the face
  mask, in ACEScct. Goal: >= 24 dB after 10 minutes.
- Marked identity (synthetic second identity, truth known): the actor crops get a known
  synthetic pattern (digital make-up, labelled synthetic) painted in aligned space. On
  held-out frames the swap should equal the performer crop plus the pattern: PSNR against
  that, and correlation of (swap - input) with the pattern. Goal: correlation >= 0.7.
  Also reported: correlation of (swap - performer-decoder reconstruction) with the pattern,
  the identity difference alone (the model's own reconstruction error cancels).
  ``--no-affine`` trains without the affine jitter, to show how much of the fine pattern
  that jitter blurs.
- Throughput: images/s of `cpu-tiny` training steps, from the same runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import shutil
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import torch
from _machine import machine_line

from vfx_double.color import DEFAULT_CONFIG, ColourConfig
from vfx_double.demo.plates import video_to_plates
from vfx_double.io.exr import read_exr, write_exr
from vfx_double.io.sequences import FrameSequence
from vfx_double.model.losses import dssim
from vfx_double.model.networks import FaceModel, PatchDiscriminator
from vfx_double.train.augment import AugmentSpec
from vfx_double.train.checkpoint import Binding, load_checkpoint
from vfx_double.train.data import FaceDataset, FacesetInfo, PairedBatches, open_faceset
from vfx_double.train.loop import training_loop
from vfx_double.train.presets import PRESETS

LOGC3 = "ARRI LogC3 (EI800)"
CHUNK = 100


def prepare(data: Path, work: Path) -> Path:
    """Plate, track and faceset of lp_d3 (tracked once, reused on reruns)."""
    from vfx_double.track.stage import track_shot

    faceset = work / "faceset"
    if (faceset / "plate" / "meta.json").exists():
        return faceset
    colour = ColourConfig.load(DEFAULT_CONFIG)
    seq = FrameSequence(str(work / "plates" / "lp_d3.####.exr"))
    frames = video_to_plates(data / "video" / "lp_d3.mp4", seq, colour=colour, colourspace=LOGC3)
    from tests.shots import make_shot  # a licensed synthetic-actor shot skeleton

    shot = make_shot(work / "shot")
    for old, new in (("../../plates/plate.####.exr", str(seq.pattern)),
                     ("[1001, 1005]", f"[{frames[0]}, {frames[-1]}]"),
                     ("../../ref/ref.%04d.exr", str(seq.pattern)),
                     ("colourspace: ACEScg", f"colourspace: {LOGC3}")):
        shot.edit(old, new)
    report = track_shot(shot.config, keyring=shot.keyring)
    shutil.copytree(report.faceset_dir / "plate", faceset / "plate")
    return faceset


def subset(info: FacesetInfo, keep: list[int]) -> FacesetInfo:
    return dataclasses.replace(info, frames=[info.frames[i] for i in keep], count=len(keep),
                               files=tuple(info.files[i] for i in keep),
                               landmarks=info.landmarks[keep])


def pattern(size: int) -> np.ndarray:
    """The synthetic make-up: diagonal stripes and a dot grid, +-0.06 in ACEScct."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    stripes = np.sin(2 * math.pi * 6 * (xx + yy))
    dots = np.cos(2 * math.pi * 8 * xx) * np.cos(2 * math.pi * 8 * yy)
    base = 0.04 * stripes + 0.02 * dots
    return np.stack([base, -0.5 * base, 0.8 * base], axis=-1).astype(np.float32)


def marked_faceset(info: FacesetInfo, out: Path) -> FacesetInfo:
    """A copy of ``info``'s crops with the pattern painted inside the mask (SYNTHETIC)."""
    out.mkdir(parents=True, exist_ok=True)
    mark = pattern(info.size)
    crops = []
    meta = json.loads((info.path / "meta.json").read_text())
    by_file = {c["file"]: c for c in meta["crops"]}
    for name in info.files:
        image = read_exr(info.path / name)
        px = image.pixels.copy()
        px[..., :3] += mark * px[..., 3:4]
        if not (out / name).exists():
            write_exr(out / name, image.replace(pixels=px.astype(np.float16)))
        crops.append(by_file[name])
    (out / "meta.json").write_text(json.dumps({**meta, "crops": crops,
                                                "note": "SYNTHETIC marked identity"}))
    return open_faceset(out)


def evaluate(run_dir: Path, preset, binding: Binding, evals: FaceDataset,
             marked: bool) -> dict[str, float]:
    model = FaceModel(preset.spec)
    modules = {"model": model, "discriminator": PatchDiscriminator(preset.spec)}
    optim = {name: torch.optim.Adam(m.parameters()) for name, m in
             (("generator", model), ("discriminator", modules["discriminator"]))}
    load_checkpoint(run_dir, modules, optim, binding)
    model.eval()
    mark = torch.from_numpy(pattern(preset.spec.resolution)).permute(2, 0, 1)
    psnrs, ssims = [], []
    corrs: dict[str, list[float]] = {}
    with torch.no_grad():
        for start in range(0, len(evals), 16):
            items = [evals[i] for i in range(start, min(start + 16, len(evals)))]
            x = torch.stack([it["rgb"] for it in items])
            m = torch.stack([it["mask"] for it in items])
            truth = x + mark * m if marked else x
            swap, _ = model(x, "actor")
            err = ((swap - truth) ** 2 * m).sum(dim=(1, 2, 3)) / (3 * m.sum(dim=(1, 2, 3)))
            psnrs += (10 * torch.log10(1.0 / err)).tolist()
            ssims.append(1 - 2 * float(dssim(swap, truth, m)))
            if marked:
                # Recovered pattern two ways: swap minus the input (the reading;
                # the model's reconstruction error counts against it), and swap minus the
                # same input through the performer decoder (the identity difference alone).
                recon, _ = model(x, "performer")
                inside = m.expand_as(x) > 0.5
                want = (mark * m)[inside]
                for key, base in (("input", x), ("recon", recon)):
                    got = ((swap - base) * m)[inside]
                    corrs.setdefault(key, []).append(
                        float(torch.corrcoef(torch.stack([got, want]))[0, 1]))
    out = {"psnr": float(np.mean(psnrs)), "ssim": float(np.mean(ssims))}
    if marked:
        out["pattern_correlation"] = float(np.mean(corrs["input"]))
        out["pattern_correlation_vs_recon"] = float(np.mean(corrs["recon"]))
    return out


def run(name: str, work: Path, performer: FacesetInfo, actor: FacesetInfo, evals: FacesetInfo,
        minutes: float, marked: bool, augment: AugmentSpec) -> dict:
    preset = PRESETS["cpu-tiny"]
    run_dir = work / f"run-{name}"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    binding = Binding("BENCH", name, "SYNTHETIC-BENCH", "0" * 64, preset.spec.to_dict())
    res = preset.spec.resolution
    batches = PairedBatches(FaceDataset(performer, res, augment, 0),
                            FaceDataset(actor, res, augment, 1), preset.batch_size, 0)
    eval_set = FaceDataset(evals, res, None, 0)
    curve, train_seconds, step = [], 0.0, 0
    while train_seconds < minutes * 60:
        start = time.perf_counter()
        state = training_loop(run_dir, preset, step + CHUNK, batches, binding, seed=0,
                              resume=step > 0, device=torch.device("cpu"), deterministic=False)
        train_seconds += time.perf_counter() - start
        step = state.step
        point = {"step": step, "train_seconds": round(train_seconds, 1),
                 **evaluate(run_dir, preset, binding, eval_set, marked)}
        curve.append(point)
        print(json.dumps({"run": name, **point}), flush=True)
    images = 2 * preset.batch_size * step
    return {"curve": curve, "images_per_second": images / train_seconds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/benchtrain"))
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--only", choices=["same", "marked"])
    parser.add_argument("--no-affine", action="store_true",
                        help="train without the affine jitter (rotate/scale/shift), to see "
                             "how much of the pattern it blurs")
    args = parser.parse_args(argv)
    augment = (AugmentSpec(rotate_deg=0.0, scale=0.0, shift=0.0) if args.no_affine
               else AugmentSpec())
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    info = open_faceset(prepare(args.data, args.work) / "plate")
    third = info.count // 3
    performer = subset(info, list(range(0, third)))
    actor = subset(info, list(range(third, 2 * third)))
    evals = subset(info, list(range(2 * third, info.count)))
    results = {}
    if args.only in (None, "same"):
        results["same"] = run("same", args.work, performer, actor, evals, args.minutes, False,
                              augment)
    if args.only in (None, "marked"):
        marked = marked_faceset(actor, args.work / "marked_actor")
        results["marked"] = run("marked", args.work, performer, marked, evals, args.minutes, True,
                                augment)
    print(f"\n### Training, cpu-tiny ({machine_line()})\n")
    print(f"lp_d3: {info.count} crops; performer frames {performer.frames[0]}-{performer.frames[-1]}, "
          f"actor {actor.frames[0]}-{actor.frames[-1]}, held out {evals.frames[0]}-{evals.frames[-1]}\n")
    for name, res in results.items():
        print(textwrap.dedent(f"""\
            {name}: {res['images_per_second']:.1f} images/s
            | step | train s | PSNR dB | SSIM | pattern corr | vs recon |
            |---:|---:|---:|---:|---:|---:|"""))
        for p in res["curve"]:
            print(f"| {p['step']} | {p['train_seconds']} | {p['psnr']:.2f} | {p['ssim']:.3f} | "
                  f"{p.get('pattern_correlation', float('nan')):.3f} | "
                  f"{p.get('pattern_correlation_vs_recon', float('nan')):.3f} |")
    (args.work / "results.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
