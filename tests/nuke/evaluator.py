"""A reference evaluator of the node subset the DigitalDouble script uses, from the knob
values of a .nk read back by :func:`nuke_plugin.core.nkread.read_nk`: numpy, OpenImageIO
(through vfx_double.io.exr) and OpenColorIO (vfx_double.color).

Images are dicts of Nuke channel name -> (H, W) float32 over the format (the plate's
display window), black outside a file's data window. Conventions taken as Nuke's: a Read
of an EXR names channels as :func:`nuke_channel` says;
Unpremult leaves pixels with alpha 0 as they are; Merge2 ``over`` is ``A + B (1 - a)``
and its ``mix`` blends the result with B; Keymix is ``B + (A - B) * mask``; Blur's size
is ``2.4 sigma`` with a kernel cut at ``3 sigma``, edges repeated (the convention the
farm comp follows, :mod:`vfx_double.face.matte`); FilterErode is the comp's grey-scale
disc erode (``size`` > 0 shrinks); ColorLookup takes linear (``curve L``) curves; Switch
and expressions ``parent.KNOB``, ``!parent.KNOB`` and ``frame-N``.

The live branch (:mod:`nuke_plugin.core.live`) changes the format: an image's format is its
arrays' shape (row 0 the top, as an EXR's; Nuke's y is up with pixel centres at +0.5, so
row ``r`` of an image ``h`` high is Nuke's ``y = h - 0.5 - r``). Transform (translate,
rotate in degrees counter-clockwise with y up, scale, center; ``invert_matrix``) is
resampled with ``cv2.warpAffine`` INTER_CUBIC, black outside: Nuke's default filter is its
own Cubic, without OpenCV's sharpening lobes and widened when shrinking, so values differ
by a filter's worth, not in position (render warps with INTER_CUBIC too). Crop with
``reformat`` makes its integer box the format, origin at the box's corner, black outside.
Reformat ``to box`` with ``resize none`` and ``center`` off puts the image's bottom-left on
the new format's (no resampling). Inference runs the TorchScript ``.pt`` beside its
``modelFile`` (same stem; CatFileCreator makes the .cat from it) on the channels the
NukeModel.1 sidecar (same stem, .json) names, the tensor's row 0 the image's top (assumed:
Foundry's reference does not say; a model trained on y-down crops sees the face upright).
Crop's and Reformat's one-pixel black edge outside the format is not modelled. Nodes
outside this subset are refused, not guessed.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from nuke_plugin.core.graph import Curve, Expr, Node
from nuke_plugin.core.nkread import Script
from vfx_double.color import ColourConfig
from vfx_double.face.matte import refine_matte
from vfx_double.io.exr import read_exr

Image = dict[str, np.ndarray]
RGB = ("rgba.red", "rgba.green", "rgba.blue")
RGBA = RGB + ("rgba.alpha",)
_RGBA_NAMES = {"R": "red", "G": "green", "B": "blue", "A": "alpha"}


def nuke_channel(exr_name: str) -> str:
    """An EXR channel's name in Nuke, as Foundry's ``ExrChannelNameToNuke`` makes it: the
    last dot-separated part is the channel (``R G B A`` become ``red green blue alpha``),
    the others joined by ``_`` the layer; a channel with no layer is taken to be in
    ``rgba`` when it is one of those four and in ``other`` when not (Nuke's layer for
    unlayered channels: not in that source, an assumption only version 1 elements meet)."""
    parts = [p for p in exr_name.split(".") if p]
    chan = _RGBA_NAMES.get(parts[-1], parts[-1])
    layer = "_".join(parts[:-1])
    if not layer:
        layer = "rgba" if chan in _RGBA_NAMES.values() else "other"
    return f"{layer}.{chan}"


class EvaluatorError(ValueError):
    pass


def channels(spec: str) -> tuple[str, ...]:
    named = {"rgb": RGB, "rgba": RGBA, "alpha": ("rgba.alpha",), "all": RGBA}
    return named.get(spec, (spec,))


class Evaluator:
    def __init__(self, script: Script, format_window: tuple[int, int, int, int]) -> None:
        self.script = script
        self.window = format_window
        self.colour = ColourConfig.load(str(script.root["customOCIOConfigPath"]))
        self.working = str(script.root["workingSpaceLUT"])
        self._models: dict[str, tuple[Any, dict[str, Any]]] = {}

    # -- knobs ------------------------------------------------------------------------
    def knob(self, node: Node, name: str, frame: int, parent: Node | None,
             default: Any = None) -> Any:
        return self._value(node.knobs.get(name, default), frame, parent)

    def _value(self, value: Any, frame: int, parent: Node | None) -> Any:
        if isinstance(value, Curve):
            return value.at(frame)
        if isinstance(value, Expr):
            offset = re.fullmatch(r"frame\s*-\s*(\d+)", value.text.strip())
            if offset is not None:
                return frame - int(offset.group(1))
            m = re.fullmatch(r"(!?)parent\.(\w+)", value.text.strip())
            if m is None or parent is None:
                raise EvaluatorError(f"expression {value.text!r} is not in the subset")
            got = self._value(parent.knobs[m.group(2)], frame, None)
            return float(not got) if m.group(1) else got
        if isinstance(value, tuple):
            return tuple(self._value(v, frame, parent) for v in value)
        return value

    # -- graph ------------------------------------------------------------------------
    def evaluate(self, name: str, frame: int) -> Image:
        nodes = {n.name: n for n in self.script.graph.nodes}
        return self._node(nodes[name], nodes, frame, None, {}, None)

    def _node(self, node: Node, scope: dict[str, Node], frame: int, parent: Node | None,
              memo: dict[str, Image], group_inputs: list[Image] | None) -> Image:
        if node.name in memo:
            return memo[node.name]

        def inp(i: int) -> Image:
            name = node.inputs[i] if i < len(node.inputs) else None
            if name is None:
                return self._black()
            return self._node(scope[name], scope, frame, parent, memo, group_inputs)

        if node.cls == "Input":
            assert group_inputs is not None
            out = group_inputs[int(node.knobs.get("number", 0))]
        elif self.knob(node, "disable", frame, parent, False):
            out = inp(0)
        elif node.cls == "Group":
            kids = {k.name: k for k in node.children}
            ins = [inp(i) for i in range(len(node.inputs))]
            out_node = next(k for k in node.children if k.cls == "Output")
            out = self._node(out_node, kids, frame, node, {}, ins)
        else:
            handler = getattr(self, f"_{node.cls}", None)
            if handler is None:
                raise EvaluatorError(f"{node.name}: class {node.cls} is not in the subset")
            out = handler(node, frame, parent, inp)
        memo[node.name] = out
        return out

    def _black(self) -> Image:
        h, w = self.window[3], self.window[2]
        return {c: np.zeros((h, w), np.float32) for c in RGBA}

    # -- nodes ------------------------------------------------------------------------
    def _Output(self, node, frame, parent, inp):  # noqa: N802
        return inp(0)

    _Dot = _NoOp = _Write = _ModifyMetaData = _Output

    def _Read(self, node, frame, parent, inp):  # noqa: N802
        first, last = self.knob(node, "first", frame, parent), self.knob(node, "last", frame, parent)
        if not first <= frame <= last:
            return self._black()
        pattern = str(self.knob(node, "file", frame, parent))
        path = Path(re.sub(r"#+", lambda m: f"{frame:0{len(m.group())}d}", pattern))
        image = read_exr(path, frame=frame)
        out = self._black()
        x0, y0, w, h = image.data_window
        fx, fy = self.window[:2]
        for i, name in enumerate(image.channels):
            nuke_name = nuke_channel(name)
            canvas = np.zeros((self.window[3], self.window[2]), np.float32)
            canvas[y0 - fy:y0 - fy + h, x0 - fx:x0 - fx + w] = image.pixels[..., i]
            out[nuke_name] = canvas
        if not self.knob(node, "raw", frame, parent, False):
            space = str(self.knob(node, "colorspace", frame, parent))
            out = self._convert(out, space, self.working)
        return out

    def _convert(self, image: Image, src: str, dst: str) -> Image:
        rgb = np.ascontiguousarray(np.stack([image[c] for c in RGB], -1), np.float32)
        done = self.colour.convert(rgb, src, dst)
        return {**image, **{c: done[..., i] for i, c in enumerate(RGB)}}

    def _OCIOColorSpace(self, node, frame, parent, inp):  # noqa: N802
        return self._convert(inp(0), str(self.knob(node, "in_colorspace", frame, parent)),
                             str(self.knob(node, "out_colorspace", frame, parent)))

    def _Unpremult(self, node, frame, parent, inp):  # noqa: N802
        src = inp(0)
        a = src["rgba.alpha"]
        safe = np.where(a != 0, a, 1).astype(np.float32)
        return {**src, **{c: np.where(a != 0, src[c] / safe, src[c]).astype(np.float32)
                          for c in channels(str(node.knobs.get("channels", "rgb")))}}

    def _Premult(self, node, frame, parent, inp):  # noqa: N802
        src = inp(0)
        return {**src, **{c: (src[c] * src["rgba.alpha"]).astype(np.float32)
                          for c in channels(str(node.knobs.get("channels", "rgb")))}}

    def _Grade(self, node, frame, parent, inp):  # noqa: N802
        src = inp(0)
        mul = self.knob(node, "multiply", frame, parent, (1.0,) * 4)
        add = self.knob(node, "add", frame, parent, (0.0,) * 4)
        out = dict(src)
        for i, c in enumerate(channels(str(node.knobs.get("channels", "rgb")))):
            v = src[c].astype(np.float64) * mul[i] + add[i]
            if self.knob(node, "black_clamp", frame, parent, True):
                v = np.maximum(v, 0.0)
            out[c] = v.astype(np.float32)
        return out

    def _Copy(self, node, frame, parent, inp):  # noqa: N802
        b, a = inp(0), inp(1)
        return {**b, str(node.knobs["to0"]): a[str(node.knobs["from0"])].copy()}

    def _FilterErode(self, node, frame, parent, inp):  # noqa: N802
        return self._refine(node, frame, parent, inp, erode=True)

    def _Blur(self, node, frame, parent, inp):  # noqa: N802
        return self._refine(node, frame, parent, inp, erode=False)

    def _refine(self, node, frame, parent, inp, erode: bool) -> Image:
        src = inp(0)
        size = float(self.knob(node, "size", frame, parent))
        out = dict(src)
        for c in channels(str(node.knobs.get("channels", "rgba"))):
            out[c] = (refine_matte(src[c], size, 0.0) if erode
                      else refine_matte(src[c], 0.0, size))
        return out

    def _Merge2(self, node, frame, parent, inp):  # noqa: N802
        b, a = inp(0), inp(1)
        op = str(node.knobs.get("operation", "over"))
        mix = float(self.knob(node, "mix", frame, parent, 1.0))
        out = dict(b)
        if op == "multiply":
            target = channels(str(node.knobs.get("output", "rgba")))
            src_a = channels(str(node.knobs.get("Achannels", "rgba")))
            src_b = channels(str(node.knobs.get("Bchannels", "rgba")))
            for t, ca, cb in zip(target, src_a, src_b):
                out[t] = a[ca] * b[cb]
        elif op == "over":
            alpha = a["rgba.alpha"]
            for c in RGBA:
                out[c] = a[c] + b[c] * (1.0 - alpha)
        else:
            raise EvaluatorError(f"{node.name}: Merge2 operation {op} is not in the subset")
        if mix != 1.0:
            for c in RGBA:
                out[c] = b[c] + (out[c] - b[c]) * np.float32(mix)
        return {k: v.astype(np.float32) for k, v in out.items()}

    def _Expression(self, node, frame, parent, inp):  # noqa: N802
        """``expr3`` on alpha only: ``a>0`` or a number (the live branch's cover, 1)."""
        src = inp(0)
        expr = str(node.knobs.get("expr3", "")).strip()
        if node.knobs.get("channel3") != "alpha" or any(
                f"expr{i}" in node.knobs for i in range(3)):
            raise EvaluatorError(f"{node.name}: only expr3 on alpha is in the subset")
        if expr == "a>0":
            return {**src, "rgba.alpha": (src["rgba.alpha"] > 0).astype(np.float32)}
        try:
            value = float(expr)
        except ValueError:
            raise EvaluatorError(f"{node.name}: expr3 {expr!r} is not in the subset") from None
        return {**src, "rgba.alpha": np.full_like(src["rgba.alpha"], value, np.float32)}

    def _Keymix(self, node, frame, parent, inp):  # noqa: N802
        b, a, mask_img = inp(0), inp(1), inp(2)
        mask = mask_img[str(node.knobs.get("maskChannel", "rgba.alpha"))]
        out = dict(b)
        for c in channels(str(node.knobs.get("channels", "rgba"))):
            out[c] = (b[c] + (a[c] - b[c]) * mask).astype(np.float32)
        return out

    def _Switch(self, node, frame, parent, inp):  # noqa: N802
        which = int(round(float(self.knob(node, "which", frame, parent, 0))))
        return inp(min(max(which, 0), len(node.inputs) - 1))

    def _ColorLookup(self, node, frame, parent, inp):  # noqa: N802
        """Linear (``curve L``) lookup curves only, held beyond their end keys; ``{}`` is
        the identity; ``master`` must be the identity."""
        src = inp(0)
        lut = node.knobs["lut"]
        table = dict(zip(lut[::2], lut[1::2]))
        if table.get("master", Expr("")).text.strip():
            raise EvaluatorError(f"{node.name}: a master curve is not in the subset")
        out = dict(src)
        for c in channels(str(node.knobs.get("channels", "rgb"))):
            body = table.get(c.split(".")[-1], Expr("")).text.strip()
            if not body:
                continue
            parts = body.split()
            if parts[:2] != ["curve", "L"]:
                raise EvaluatorError(f"{node.name}: only linear curves (curve L) in the subset")
            xs = [float(p[1:]) for p in parts[2::2]]
            ys = [float(p) for p in parts[3::2]]
            out[c] = np.interp(src[c].astype(np.float64), xs, ys).astype(np.float32)
        return out

    # -- the live branch: geometry ----------------------------------------------------
    def _Transform(self, node, frame, parent, inp):  # noqa: N802
        """Nuke's Transform (no skew, no motion blur) as a point map in its y-up pixel
        space, ``T(translate + center) R(rotate) S(scale) T(-center)``, the image moved by
        it (or by its inverse with ``invert_matrix``); resampled with OpenCV's cubic,
        black outside."""
        src = inp(0)
        for knob in ("skewX", "skewY", "skew", "motionblur", "shutter"):
            if self.knob(node, knob, frame, parent, 0):
                raise EvaluatorError(f"{node.name}: {knob} is not in the subset")
        filt = str(node.knobs.get("filter", "Cubic"))
        interp = {"Cubic": cv2.INTER_CUBIC, "Impulse": cv2.INTER_NEAREST}.get(filt)
        if interp is None:
            raise EvaluatorError(f"{node.name}: filter {filt} is not in the subset")
        tx, ty = self.knob(node, "translate", frame, parent, (0.0, 0.0))
        rotate = float(self.knob(node, "rotate", frame, parent, 0.0))
        scale = self.knob(node, "scale", frame, parent, 1.0)
        sx, sy = scale if isinstance(scale, tuple) else (scale, scale)
        cx, cy = self.knob(node, "center", frame, parent, (0.0, 0.0))
        a = math.radians(rotate)
        rot = np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0],
                        [0, 0, 1.0]])
        m = (np.array([[1, 0, cx + tx], [0, 1, cy + ty], [0, 0, 1.0]]) @ rot
             @ np.diag([float(sx), float(sy), 1.0])
             @ np.array([[1, 0, -cx], [0, 1, -cy], [0, 0, 1.0]]))
        if self.knob(node, "invert_matrix", frame, parent, False):
            m = np.linalg.inv(m)
        h, w = next(iter(src.values())).shape
        # array (column, row) -> Nuke (x, y): x = c + 0.5, y = h - 0.5 - r
        to_nuke = np.array([[1.0, 0.0, 0.5], [0.0, -1.0, h - 0.5], [0.0, 0.0, 1.0]])
        arr = np.linalg.inv(to_nuke) @ m @ to_nuke
        return {c: cv2.warpAffine(v, arr[:2], (w, h), flags=interp,
                                  borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
                for c, v in src.items()}

    @staticmethod
    def _place(src: Image, width: int, height: int, x0: int, y0: int) -> Image:
        """A ``width`` x ``height`` format whose Nuke origin is the source's ``(x0, y0)``:
        the source's pixels copied where they fall, black elsewhere."""
        out = {}
        for c, v in src.items():
            h, w = v.shape
            canvas = np.zeros((height, width), np.float32)
            # source row r (y = h - 0.5 - r) is new row R = height - 0.5 - (y - y0)
            shift = height - h + y0
            rows = np.arange(h) + shift
            cols = np.arange(w) - x0
            rk, ck = (rows >= 0) & (rows < height), (cols >= 0) & (cols < width)
            canvas[np.ix_(rows[rk], cols[ck])] = v[np.ix_(rk, ck)]
            out[c] = canvas
        return out

    def _Crop(self, node, frame, parent, inp):  # noqa: N802
        src = inp(0)
        box = tuple(self.knob(node, "box", frame, parent))
        if any(float(b) != int(b) for b in box):
            raise EvaluatorError(f"{node.name}: a fractional box is not in the subset")
        x, y, r, t = (int(b) for b in box)
        if not self.knob(node, "crop", frame, parent, True):
            raise EvaluatorError(f"{node.name}: crop off (no black outside) is not in the subset")
        h, w = next(iter(src.values())).shape
        if self.knob(node, "reformat", frame, parent, False):
            return self._place(src, r - x, t - y, x, y)
        inside = np.zeros((h, w), bool)
        inside[max(h - t, 0):max(h - y, 0), max(x, 0):max(r, 0)] = True
        return {c: np.where(inside, v, 0).astype(np.float32) for c, v in src.items()}

    def _Reformat(self, node, frame, parent, inp):  # noqa: N802
        src = inp(0)
        if (node.knobs.get("type") != "to box" or node.knobs.get("resize") != "none"
                or self.knob(node, "center", frame, parent, True)):
            raise EvaluatorError(f"{node.name}: only 'to box', resize none, center off is in "
                                 "the subset")
        width = int(self.knob(node, "box_width", frame, parent))
        height = int(self.knob(node, "box_height", frame, parent))
        return self._place(src, width, height, 0, 0)

    # -- the live branch: the model ---------------------------------------------------
    def _model(self, cat: Path) -> tuple[Any, dict[str, Any]]:
        key = str(cat)
        if key not in self._models:
            import torch

            pt, sidecar = cat.with_suffix(".pt"), cat.with_suffix(".json")
            if not pt.is_file() or not sidecar.is_file():
                raise EvaluatorError(f"{cat}: no {pt.name} and {sidecar.name} beside it")
            record = json.loads(sidecar.read_text())
            if record.get("schema") != "NukeModel.1":
                raise EvaluatorError(f"{sidecar}: not a NukeModel.1 sidecar")
            module = torch.jit.load(str(pt), map_location="cpu").eval()
            self._models[key] = (module, record)
        return self._models[key]

    def _Inference(self, node, frame, parent, inp):  # noqa: N802
        """The .cat's TorchScript on the image as one (1, C, H, W) float32 tensor, row 0
        the top; channelsOut replace those channels, the others pass through."""
        import torch

        src = inp(0)
        module, record = self._model(Path(str(node.knobs["modelFile"])))
        cat = record["catfilecreator"]
        names_in = [c.strip() for c in cat["channelsIn"].split(",")]
        names_out = [c.strip() for c in cat["channelsOut"].split(",")]
        if int(cat.get("outputScale", 1)) != 1:
            raise EvaluatorError(f"{node.name}: outputScale other than 1 is not in the subset")
        x = torch.from_numpy(np.stack([src[c] for c in names_in])[None].astype(np.float32))
        with torch.no_grad():
            y = module(x)[0].numpy().astype(np.float32)
        if y.shape[0] != len(names_out) or y.shape[1:] != x.shape[2:]:
            raise EvaluatorError(f"{node.name}: the model gave {list(y.shape)}")
        return {**src, **{c: y[i] for i, c in enumerate(names_out)}}
