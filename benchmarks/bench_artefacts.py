"""Training artefacts a preview shows, measured on a trained run: checkerboard, crop frame.

    .venv/bin/python benchmarks/bench_artefacts.py WORK_AREA [WORK_AREA ...]

For each shot work area (``<work_root>/<show>/<shot>``), the latest train run's latest
checkpoint renders every crop of the latest faceset's plate side, through the performer
path (reconstruction) and the actor path (swap), without augmentation:

- checkerboard: how far the output's spectrum spikes at the pixel shuffle's sub-pixel
  frequencies (every (u, v) with u, v in {0, R/4, R/2, 3R/4} but the origin: the periods
  2 and 4 px that the last two x2 shuffles alias to) above its neighbouring frequencies,
  over the same for the input crop. A face spectrum is smooth there (about 1); a grid
  painted on every output is a spike of several times; a blur lowers the neighbours as
  much as the spike, so it cannot pass for clean.
- frame: mean |output - input| (ACEScct) in the crop's outer ``R/16`` pixels over the
  same error in the ring just inside it. An output with a coloured frame along the crop
  edge reads well above 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vfx_double.model.networks import FaceModel, ModelSpec  # noqa: E402
from vfx_double.model.checkpoint import latest_checkpoint, load_weights  # noqa: E402
from vfx_double.face.faceset import open_faceset  # noqa: E402
from vfx_double.train.data import FaceDataset  # noqa: E402


def subpixel_spike(images: torch.Tensor) -> float:
    """Mean power at the shuffle's alias frequencies over the mean power of the frequencies
    two bins around them (luma, mean removed, averaged over the batch first)."""
    luma = images.mean(dim=1)
    luma = luma - luma.mean(dim=(1, 2), keepdim=True)
    power = (torch.fft.fft2(luma).abs() ** 2).mean(dim=0)
    r = images.shape[-1]
    bins = [0, r // 4, r // 2, 3 * r // 4]
    spikes, around = [], []
    for u in bins:
        for v in bins:
            if (u, v) == (0, 0):
                continue
            spikes.append(power[u, v])
            ring = [power[(u + du) % r, (v + dv) % r] for du in (-2, 0, 2) for dv in (-2, 0, 2)
                    if (du, dv) != (0, 0)]
            around.append(torch.stack(ring).mean())
    return float(torch.stack(spikes).mean() / torch.stack(around).mean())


def frame_ratio(out: torch.Tensor, ref: torch.Tensor) -> float:
    r = out.shape[-1]
    band = max(1, r // 16)
    err = (out - ref).abs().mean(dim=1)
    edge = torch.ones(r, r, dtype=torch.bool)
    edge[band:-band, band:-band] = False
    ring = torch.zeros(r, r, dtype=torch.bool)
    ring[band:-band, band:-band] = True
    ring[2 * band:-2 * band, 2 * band:-2 * band] = False
    return float(err[:, edge].mean() / err[:, ring].mean())


def measure(area: Path) -> dict:
    run = sorted((area / "train").iterdir())[-1]
    options = json.loads((run / "options.json").read_text())
    spec = ModelSpec.from_dict(options["preset"]["spec"])
    model = FaceModel(spec)
    load_weights(latest_checkpoint(run), {"model": model}, {})
    model.eval()
    faceset = sorted((area / "faceset").iterdir())[-1] / "plate"
    data = FaceDataset(open_faceset(faceset), spec.resolution, None, 0)
    x = torch.stack([data[i]["rgb"] for i in range(len(data))])
    out: dict = {"run": str(run), "spec": spec.to_dict(), "crops": len(data)}
    with torch.no_grad():
        for path in ("performer", "actor"):
            y = torch.cat([model(x[i:i + 32], path)[0] for i in range(0, len(x), 32)])
            out[path] = {"checkerboard": subpixel_spike(y) / subpixel_spike(x),
                         "frame": frame_ratio(y, x)}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("areas", type=Path, nargs="+")
    args = parser.parse_args(argv)
    print("| run | layout | recon checkerboard | swap checkerboard | recon frame | swap frame |")
    print("|---|---|---:|---:|---:|---:|")
    for area in args.areas:
        m = measure(area)
        print(f"| {area} | {m['spec']['layout']}/{m['spec']['padding']} | "
              f"{m['performer']['checkerboard']:.2f} | {m['actor']['checkerboard']:.2f} | "
              f"{m['performer']['frame']:.2f} | {m['actor']['frame']:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
