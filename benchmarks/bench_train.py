"""Training benchmarks on CPU: same-identity reconstruction, marked-identity swap, throughput.

    .venv/bin/python benchmarks/bench_train.py --data ../shared/data --work /tmp/benchtrain --steps 1800

lp_d3.mp4 (one real person) becomes a LogC3 EXR plate and is tracked once. Its frames are
split in thirds: performer = first third, actor = second third (same person, different
frames), evaluation = last third, never trained on.
- Same identity: train `cpu-tiny` for ``--steps`` (its learning-rate and warp schedule laid
  over that many steps); every ``--every`` steps, swap the held-out crops (performer ->
  actor decoder) and compare with the crops themselves: PSNR and SSIM inside the face
  mask, in ACEScct. Goal: >= 24 dB after 10 minutes.
- Marked identity (synthetic second identity, truth known): the actor crops get a known
  synthetic pattern (digital make-up, labelled synthetic) painted in aligned space, drawn
  at the model's resolution: blobs and bands at least 4 model pixels wide, so a model can
  hold it at all. On held-out frames the identity difference, swap minus the same input
  through the performer decoder (the model's own reconstruction error cancels), should be
  the pattern: its correlation with the pattern. Goal: >= 0.7 for `cpu-tiny` in 10
  minutes. Also reported: correlation of (swap - input), which the reconstruction error
  bounds, and the same identity difference after comp's detail recovery (the crops
  enlarged 4x, the performer's own high band put back above the model's band limit): what
  it keeps of the pattern. ``--no-affine`` trains without the affine jitter.
- Throughput: images/s of `cpu-tiny` training steps, from the same runs (evaluation time
  not counted); "10 minutes" is the steps that throughput gives in 600 s on an idle machine.
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
from vfx_double.comp import detail
from vfx_double.demo.plates import video_to_plates
from vfx_double.io.exr import read_exr, write_exr
from vfx_double.io.sequences import FrameSequence
from vfx_double.model.losses import dssim
from vfx_double.model.networks import FaceModel, PatchDiscriminator
from vfx_double.train.augment import AugmentSpec
from vfx_double.model.checkpoint import Binding, load_checkpoint
from vfx_double.face.faceset import FacesetInfo, open_faceset
from vfx_double.train.data import FaceDataset, PairedBatches
from vfx_double.train.loop import training_loop
from vfx_double.train.presets import PRESETS

LOGC3 = "ARRI LogC3 (EI800)"


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
    shot.approve(seq.pattern)  # same-identity: the licence names the clip
    report = track_shot(shot.config, keyring=shot.keyring)
    shutil.copytree(report.faceset_dir / "plate", faceset / "plate")
    return faceset


def subset(info: FacesetInfo, keep: list[int]) -> FacesetInfo:
    return dataclasses.replace(info, frames=[info.frames[i] for i in keep], count=len(keep),
                               files=tuple(info.files[i] for i in keep),
                               landmarks=info.landmarks[keep])


#: the marked pattern's finest feature, in model pixels at 64 px (half a period)
MIN_FEATURE = 4


def pattern(size: int, resolution: int = 64) -> np.ndarray:
    """The synthetic make-up, +-0.06 ACEScct: diagonal bands (period 4 features) and a grid
    of soft blobs (period 3 features) of ``MIN_FEATURE`` model pixels at ``resolution``,
    drawn at ``size`` (the same pattern at any size)."""
    yy, xx = (np.mgrid[0:size, 0:size].astype(np.float32) + 0.5) / size
    feature = MIN_FEATURE / resolution  # as a fraction of the crop
    bands = np.sin(2 * math.pi * (xx + yy) / (4 * feature * math.sqrt(2)))
    blobs = np.cos(2 * math.pi * xx / (3 * feature)) * np.cos(2 * math.pi * yy / (3 * feature))
    base = 0.04 * bands + 0.02 * blobs
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
    res = preset.spec.resolution
    mark = torch.from_numpy(pattern(res, res)).permute(2, 0, 1)
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
                corrs.setdefault("detail", []).append(after_detail(swap - recon, m, res))
    out = {"psnr": float(np.mean(psnrs)), "ssim": float(np.mean(ssims))}
    if marked:
        out["pattern_correlation"] = float(np.mean(corrs["input"]))
        out["pattern_correlation_vs_recon"] = float(np.mean(corrs["recon"]))
        out["pattern_correlation_detail"] = float(np.mean(corrs["detail"]))
    return out


#: plate pixels per model pixel for the detail-recovery check (a 64 px face shown at 256 px)
DETAIL_SCALE = 4


def after_detail(difference: torch.Tensor, mask: torch.Tensor, res: int) -> float:
    """The identity difference's pattern correlation once comp's detail recovery has run.

    Swap and reconstruction both go through ``lowpass(face) + plate - lowpass(plate)`` with
    the same plate, so their difference after it is ``lowpass(swap - recon)``: the crops
    enlarged ``DETAIL_SCALE`` times (bicubic, as render warps them), low-passed as comp
    does at that scale, correlated with the pattern drawn at the enlarged size."""
    size = res * DETAIL_SCALE
    up = torch.nn.functional.interpolate(difference, size=(size, size), mode="bicubic",
                                         align_corners=False)
    m = torch.nn.functional.interpolate(mask, size=(size, size), mode="bilinear",
                                        align_corners=False)
    t = detail.spread(float(DETAIL_SCALE))
    lows = []
    for image in up.permute(0, 2, 3, 1).numpy():
        flat = np.ones(image.shape[:2], np.float32)
        lows.append(detail.recover(image, np.zeros_like(image), flat, t).face)
    low = torch.from_numpy(np.stack(lows)).permute(0, 3, 1, 2)
    mark = torch.from_numpy(pattern(size, res)).permute(2, 0, 1)
    inside = m.expand_as(low) > 0.5
    got, want = (low * m)[inside], (mark * m)[inside]
    return float(torch.corrcoef(torch.stack([got, want]))[0, 1])


def run(name: str, work: Path, performer: FacesetInfo, actor: FacesetInfo, evals: FacesetInfo,
        steps: int, every: int, marked: bool, augment: AugmentSpec) -> dict:
    preset = PRESETS["cpu-tiny"]
    run_dir = work / f"run-{name}"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    binding = Binding("BENCH", name, "SYNTHETIC-BENCH", "0" * 64, preset.spec.to_dict())
    res = preset.spec.resolution
    batches = PairedBatches(FaceDataset(performer, res, augment, 0),
                            FaceDataset(actor, res, augment, 1), preset.batch_size, 0,
                            warp_stop=preset.warp_stop(steps))
    eval_set = FaceDataset(evals, res, None, 0)
    curve, train_seconds, step = [], 0.0, 0
    while step < steps:
        start = time.perf_counter()
        state = training_loop(run_dir, preset, min(step + every, steps), batches, binding,
                              seed=0, resume=step > 0, device=torch.device("cpu"),
                              deterministic=False, total_steps=steps)
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
    parser.add_argument("--steps", type=int, default=1800,
                        help="training steps (the schedule's target); 10 minutes of cpu-tiny "
                             "on the reference machine")
    parser.add_argument("--every", type=int, default=300, help="evaluate every N steps")
    parser.add_argument("--only", choices=["same", "marked"])
    parser.add_argument("--no-affine", action="store_true",
                        help="train without the affine jitter (rotate/scale/shift), to see "
                             "how much of the pattern it blurs")
    parser.add_argument("--colour", type=float, default=None,
                        help="colour jitter (ACEScct per channel) instead of the preset's, "
                             "to measure what it costs on held-out frames")
    args = parser.parse_args(argv)
    augment = PRESETS["cpu-tiny"].augment
    if args.no_affine:
        augment = dataclasses.replace(augment, rotate_deg=0.0, scale=0.0, shift=0.0)
    if args.colour is not None:
        augment = dataclasses.replace(augment, colour=args.colour)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    info = open_faceset(prepare(args.data, args.work) / "plate")
    third = info.count // 3
    performer = subset(info, list(range(0, third)))
    actor = subset(info, list(range(third, 2 * third)))
    evals = subset(info, list(range(2 * third, info.count)))
    results = {}
    if args.only in (None, "same"):
        results["same"] = run("same", args.work, performer, actor, evals, args.steps,
                              args.every, False, augment)
    if args.only in (None, "marked"):
        marked = marked_faceset(actor, args.work / "marked_actor")
        results["marked"] = run("marked", args.work, performer, marked, evals, args.steps,
                                args.every, True, augment)
    print(f"\n### Training, cpu-tiny ({machine_line()})\n")
    print(f"lp_d3: {info.count} crops; performer frames {performer.frames[0]}-{performer.frames[-1]}, "
          f"actor {actor.frames[0]}-{actor.frames[-1]}, held out {evals.frames[0]}-{evals.frames[-1]}\n")
    for name, res in results.items():
        print(textwrap.dedent(f"""\
            {name}: {res['images_per_second']:.1f} images/s
            | step | train s | PSNR dB | SSIM | pattern corr | vs recon | vs recon, detail on |
            |---:|---:|---:|---:|---:|---:|---:|"""))
        for p in res["curve"]:
            print(f"| {p['step']} | {p['train_seconds']} | {p['psnr']:.2f} | {p['ssim']:.3f} | "
                  f"{p.get('pattern_correlation', float('nan')):.3f} | "
                  f"{p.get('pattern_correlation_vs_recon', float('nan')):.3f} | "
                  f"{p.get('pattern_correlation_detail', float('nan')):.3f} |")
    (args.work / "results.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
