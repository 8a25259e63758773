"""The actor model as TorchScript for Nuke's CatFileCreator, and its sidecar (NukeModel.1).

Nuke's Inference node runs a ``.cat`` file that CatFileCreator makes from a TorchScript
file. Inference hands the model the whole image it is given as one ``(1, C, H, W)`` tensor
and wants one ``(1, C', H * outputScale, W * outputScale)`` tensor back; a top-level int or
float attribute of the module becomes a knob when CatFileCreator declares a user knob of
the same name (Foundry, ".cat File Creation Reference": Tensor Sizes, Custom Knobs,
Appendix; https://learn.foundry.com/nuke/developers/15.0/catfilecreationreferenceguide/).

:class:`NukeSwap` is that contract around the performer -> actor swap
(:class:`vfx_double.model.inference.SwapModule`, the same weights render uses):

- input ``(1, 3, H, W)``: the aligned crop in the network encoding (ACEScct), any size; the
  live path feeds the track's crop at its faceset size;
- output ``(1, 4, H, W)``: the actor's face (ACEScct, unclamped) and the matte, the model's
  mask faded at the crop's edge exactly as render fades it (:data:`EDGE_FADE`);
- the crop is resized to the model's resolution and back inside (area when shrinking, as
  render's ``resize_crop``; bicubic when enlarging; the matte bilinear, as render's warp);
- the weights' dtype decides the arithmetic: Inference's "Optimize for speed and memory"
  halves the module, and a half input to a float32 module is computed in float32; the
  output has the input's dtype, on the input's device; no numpy.

The export (:func:`export_torchscript`) opens the shot as render does (the licence must
grant ``render`` and the shot's use today), loads the checkpoint render would use (the
run's binding and the audit log's record checked) and writes ``<name>.pt`` and
``<name>.json``: CatFileCreator's knob values, the user knob, the licence id, the weights'
hash and the torch version the file was written with (Nuke embeds its own, older libtorch:
see the README's Nuke section).
"""

from __future__ import annotations

import copy
import io
import re
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vfx_double.errors import MediaError
from vfx_double.io import atomic
from vfx_double.model.inference import SwapModule
from vfx_double.model.networks import FaceModel
from vfx_double.records import hash_file
from vfx_double.render.stage import EDGE_FADE, load_model
from vfx_double.shot import open_shot

SCHEMA = "NukeModel.1"
#: Nuke's names for the channels the tensor's planes come from and go to (Foundry's
#: Appendix lists the 19 it accepts); the matte goes to alpha.
CHANNELS_IN = ("rgba.red", "rgba.green", "rgba.blue")
CHANNELS_OUT = ("rgba.red", "rgba.green", "rgba.blue", "rgba.alpha")
#: the module's knobs: attribute -> (Nuke knob class, meaning)
USER_KNOBS = {"edge_fade": ("Int_Knob", "the matte fades to 0 over the outer 1/edge_fade "
                                        "of the crop, as render's EDGE_FADE; 0: no fade")}


def edge_ramp(size: int, fade: int, like: Tensor) -> Tensor:
    """(size, size) weight of ``like``'s dtype and device: 0 at the edge, smoothstep to 1 at
    ``size / fade`` pixels inside (render's ``edge_fade``, in torch)."""
    band = size / fade
    centre = torch.arange(size, dtype=torch.float32, device=like.device) + 0.5
    t = torch.clamp(torch.min(centre, size - centre) / band, 0.0, 1.0)
    ramp = t * t * (3.0 - 2.0 * t)
    return (ramp[:, None] * ramp[None, :]).to(like.dtype)


class _ReflectConv(nn.Module):
    """A reflect-padded ``nn.Conv2d`` (the generator's, ModelSpec.padding) written with the
    pad op itself: scripted, ``nn.Conv2d``'s padding goes through ``aten::pad``, an op newer
    than the libtorch some Nuke releases embed; ``aten::reflection_pad2d`` is in all of them.
    Shares the conv's weights."""

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        self.weight, self.bias = conv.weight, conv.bias
        ph, pw = int(conv.padding[0]), int(conv.padding[1])
        self.pad = [pw, pw, ph, ph]
        self.stride = [int(conv.stride[0]), int(conv.stride[1])]

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(torch._C._nn.reflection_pad2d(x, self.pad), self.weight, self.bias,
                        self.stride)


def _portable(model: FaceModel) -> SwapModule:
    """The swap path of a copy of ``model`` with its reflect-padded convs as
    :class:`_ReflectConv` (same arithmetic, older ops)."""
    swap = SwapModule(copy.deepcopy(model))
    for parent in list(swap.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Conv2d) and child.padding_mode == "reflect":
                if child.groups != 1 or child.dilation != (1, 1):
                    raise ValueError(f"{name}: only plain reflect-padded convs are exported")
                setattr(parent, name, _ReflectConv(child))
            elif isinstance(child, nn.Conv2d) and child.padding_mode != "zeros":
                raise ValueError(f"{name}: padding {child.padding_mode!r} is not exported")
    return swap


class NukeSwap(nn.Module):
    """(1, 3, H, W) aligned crop in ACEScct -> (1, 4, H, W) actor RGB (ACEScct) + matte.

    Built on a copy of ``model``'s swap path (the training model is left alone)."""

    def __init__(self, model: FaceModel, edge_fade: int = EDGE_FADE) -> None:
        super().__init__()
        self.swap = _portable(model)
        self.resolution: int = model.spec.resolution
        self.edge_fade: int = edge_fade
        # follows .half() / .to(device) with the weights: the dtype the model computes in
        self.register_buffer("probe", torch.zeros(1), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[0] != 1 or x.shape[1] != 3:
            raise ValueError("DigitalDouble model input: expected (1, 3, H, W) rgb, got "
                             + str(list(x.shape)))
        h, w, r = x.shape[2], x.shape[3], self.resolution
        y = x.to(self.probe.dtype)
        resized = h != r or w != r
        # the resampling ops are called by name: F.interpolate, scripted, names every mode's
        # op, some newer than Nuke's libtorch (a file that names an unknown op does not load)
        if resized:
            if h >= r and w >= r:
                y = F.adaptive_avg_pool2d(y, [r, r])
            else:
                y = torch._C._nn.upsample_bicubic2d(y, [r, r], False)
        out = self.swap(y)
        rgb, matte = out[:, :3], out[:, 3:]
        if self.edge_fade > 0:
            matte = matte * edge_ramp(r, self.edge_fade, matte)
        if resized:
            rgb = torch._C._nn.upsample_bicubic2d(rgb, [h, w], False)
            matte = torch._C._nn.upsample_bilinear2d(matte, [h, w], False)
        return torch.cat([rgb, matte], dim=1).to(x.dtype)


def script(model: FaceModel, edge_fade: int = EDGE_FADE) -> torch.jit.ScriptModule:
    """TorchScript of :class:`NukeSwap` around ``model`` (left in its own mode and device)."""
    return torch.jit.script(NukeSwap(model, edge_fade))


def file_format_version(data: bytes) -> int:
    """The serialisation format version a TorchScript file records (its ``version`` entry):
    a libtorch reads files up to its own maximum and refuses newer ones."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        name = next(n for n in archive.namelist() if n.endswith("/version")
                    or n.endswith("/.data/version"))
        return int(archive.read(name).decode().strip())


@dataclass
class Export:
    torchscript: Path
    sidecar: Path
    record: dict[str, Any]


def _model_id(*parts: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "_", "_".join(parts)).strip("_")


def export_torchscript(path: str | Path, out_dir: str | Path, *, keyring: Path | None = None,
                       run: str | None = None, checkpoint: str | None = None,
                       unfinished: bool = False, edge_fade: int = EDGE_FADE) -> Export:
    """Write the shot's actor model as ``<show>_<shot>_<run>_<checkpoint>.pt`` and its
    NukeModel.1 sidecar into ``out_dir``; refused (LicenceError) unless the licence grants
    ``render`` and the shot's use today, and (WorkAreaError) for a checkpoint render would
    refuse. Never replaces an existing file."""
    shot = open_shot(path, uses=("render", "use"), keyring=keyring)
    loaded = load_model(shot, device=torch.device("cpu"), unfinished=unfinished, run=run,
                        checkpoint=checkpoint)
    with warnings.catch_warnings():
        # torch >= 2.11 deprecates TorchScript for torch.export; Nuke reads TorchScript only
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.jit")
        module = script(loaded.model, edge_fade)
        buffer = io.BytesIO()
        torch.jit.save(module, buffer)
        data = buffer.getvalue()
        _check_round_trip(data, loaded.model, edge_fade)
    cfg = shot.cfg
    name = _model_id(cfg.show, cfg.shot, loaded.run_dir.name, loaded.checkpoint.name)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pt, sidecar = out / f"{name}.pt", out / f"{name}.json"
    atomic.write_bytes(pt, data, overwrite=False)
    record = {
        "schema": SCHEMA,
        "torchscript": pt.name,
        "torchscript_sha256": hash_file(pt),
        "torch_version": torch.__version__,
        "file_format_version": file_format_version(data),
        "catfilecreator": {
            "torchScriptFile": pt.name,
            "catFile": f"{name}.cat",
            "channelsIn": ", ".join(CHANNELS_IN),
            "channelsOut": ", ".join(CHANNELS_OUT),
            "modelId": name,
            "outputScale": 1,
        },
        "user_knobs": [{"name": k, "class": cls, "default": edge_fade, "help": text}
                       for k, (cls, text) in USER_KNOBS.items()],
        "input": {"shape": [1, len(CHANNELS_IN), "H", "W"], "colourspace": shot.spaces.network,
                  "what": "the aligned crop (track matrix), any size; resized inside to "
                          f"{loaded.model.spec.resolution}"},
        "output": {"shape": [1, len(CHANNELS_OUT), "H", "W"],
                   "colourspace": shot.spaces.network, "what": "actor RGB + matte"},
        "resolution": loaded.model.spec.resolution,
        "licence_id": shot.licence.licence_id,
        "model_hash": loaded.weights_sha256,
        "show": cfg.show, "shot": cfg.shot,
        "train_run": loaded.run_dir.name, "checkpoint": loaded.checkpoint.name,
        "step": loaded.step,
        "synthetic": True,
    }
    atomic.write_json(sidecar, record, overwrite=False)
    return Export(pt, sidecar, record)


def _check_round_trip(data: bytes, model: FaceModel, edge_fade: int) -> None:
    """The saved file, loaded back, computes what the eager module computes (a script that
    saved but lost a branch or an attribute fails here, not in the compositor's Nuke)."""
    loaded = torch.jit.load(io.BytesIO(data), map_location="cpu")
    size = model.spec.resolution * 2
    x = torch.linspace(0.05, 0.9, 3 * size * size).reshape(1, 3, size, size)
    with torch.no_grad():
        want = NukeSwap(model, edge_fade)(x)
        got = loaded(x)
    if got.shape != want.shape or not torch.allclose(got, want, atol=1e-5, rtol=1e-5):
        raise MediaError("TorchScript export", "the saved module to match the model",
                         f"max difference {float((got - want).abs().max()):.3g}",
                         "report this with the checkpoint; the export was not written")
