"""Training throughput and model FLOPs utilisation on one GPU (synthetic batches).

    PYTHONPATH=. python3 benchmarks/bench_train_gpu.py --preset gpu-256 --out gpu_check.json

Runs the real ``train_step`` (both decoders, DSSIM + priority L1 + mask losses, Adam,
bf16 autocast) on random smooth crops already on the GPU, so the figure is the model's,
not the data loader's. MFU = achieved model FLOP/s over the card's dense bf16 peak; model
FLOPs per step = 3 x forward FLOPs (forward + backward) x 2 x batch images.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace

import torch
import torch.nn.functional as F

from vfx_double.model.networks import FaceModel, PatchDiscriminator, flops_breakdown, flops_per_image
from vfx_double.face.align import TEMPLATE_68
from vfx_double.train.loop import PairForward, set_determinism, train_step, with_priority
from vfx_double.train.presets import PRESETS

#: dense bf16 tensor-core peaks (vendor datasheets, SXM parts)
PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12}


def peak_for(name: str) -> float | None:
    return next((v for k, v in PEAK_BF16.items() if k in name), None)


def side(batch: int, res: int, device: torch.device) -> dict[str, torch.Tensor]:
    noise = torch.rand(batch, 3, res // 8, res // 8, device=device)
    rgb = 0.2 + 0.5 * F.interpolate(noise, size=(res, res), mode="bicubic", align_corners=False)
    mask = torch.zeros(batch, 1, res, res, device=device)
    mask[:, :, res // 8: -res // 8, res // 8: -res // 8] = 1.0
    marks = torch.tensor(TEMPLATE_68, dtype=torch.float32, device=device) * 0.6 * res + 0.2 * res
    return {"rgb": rgb, "target_rgb": rgb.clone(), "mask": mask, "target_mask": mask.clone(),
            "landmarks": marks.expand(batch, 68, 2).contiguous()}


def measure(preset_name: str, batch: int, steps: int, gan: bool, device: torch.device,
            channels_last: bool = False, compile_model: bool = False) -> dict:
    preset = PRESETS[preset_name]
    losses = replace(preset.losses, gan_start=0, gan_full=1) if gan else preset.losses
    spec = preset.spec
    set_determinism(False)
    model = FaceModel(spec).to(device)
    disc = PatchDiscriminator(spec).to(device) if gan else None
    opt_g = torch.optim.Adam(model.parameters(), lr=preset.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), lr=preset.lr, betas=(0.5, 0.999)) if disc else None
    pair = PairForward(model)
    # As the loop does: priority maps made before the step (there, on the CPU with the batch).
    batch_data = with_priority({"performer": side(batch, spec.resolution, device),
                                "actor": side(batch, spec.resolution, device)},
                               losses, spec.resolution)
    if channels_last:
        model.to(memory_format=torch.channels_last)
        for part in batch_data.values():
            part["rgb"] = part["rgb"].contiguous(memory_format=torch.channels_last)
    if compile_model:
        pair = torch.compile(pair)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16)
    for step in range(5):
        train_step(pair, disc, opt_g, opt_d, batch_data, losses, step, autocast)
    torch.cuda.synchronize()
    start = time.perf_counter()
    for step in range(steps):
        train_step(pair, disc, opt_g, opt_d, batch_data, losses, step + 5, autocast)
    torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / steps
    flops = 3 * flops_per_image(spec) * 2 * batch
    if gan:
        flops += 3 * 3 * flops_breakdown(spec)["discriminator"] * batch
    name = torch.cuda.get_device_name(device)
    peak = peak_for(name)
    return {"preset": preset_name, "batch": batch, "gan": gan, "channels_last": channels_last,
            "compiled": compile_model, "ms_per_step": seconds * 1e3,
            "images_per_second": 2 * batch / seconds, "model_tflops_per_second": flops / seconds / 1e12,
            "mfu": (flops / seconds / peak) if peak else None, "peak_bf16": peak,
            "max_memory_gib": torch.cuda.max_memory_allocated(device) / 2**30}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="gpu-256", choices=sorted(PRESETS))
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batches", default="16,32")
    parser.add_argument("--out", default="gpu_check.json")
    parser.add_argument("--variants", action="store_true",
                        help="also try channels_last and torch.compile at the largest batch")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("no CUDA device", file=sys.stderr)
        return 2
    device = torch.device("cuda")
    rows = []
    for batch in (int(b) for b in args.batches.split(",")):
        for gan in (False, True):
            row = measure(args.preset, batch, args.steps, gan, device)
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.variants:
        batch = max(int(b) for b in args.batches.split(","))
        for cl, comp in ((True, False), (False, True), (True, True)):
            row = measure(args.preset, batch, args.steps, False, device, cl, comp)
            rows.append(row)
            print(json.dumps(row), flush=True)
    info = {"device": torch.cuda.get_device_name(device), "torch": torch.__version__, "rows": rows}
    with open(args.out, "w") as out:
        json.dump(info, out, indent=2)
    print(f"| batch | GAN | channels_last | compiled | ms/step | images/s | model TFLOP/s | MFU |"
          f"  ({info['device']}, torch {info['torch']})")
    for r in rows:
        mfu = f"{100 * r['mfu']:.1f}%" if r["mfu"] is not None else "n/a"
        print(f"| {r['batch']} | {'on' if r['gan'] else 'off'} | {r['channels_last']} | "
              f"{r['compiled']} | {r['ms_per_step']:.1f} | "
              f"{r['images_per_second']:.0f} | {r['model_tflops_per_second']:.1f} | {mfu} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
