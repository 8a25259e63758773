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
and expressions ``parent.KNOB``, ``!parent.KNOB`` and ``frame-N``. Nodes the group does not
use (Crop, Transform: the live path's) are refused, not guessed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

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
        src = inp(0)
        if node.knobs.get("expr3") != "a>0" or node.knobs.get("channel3") != "alpha":
            raise EvaluatorError(f"{node.name}: only expr3 'a>0' on alpha is in the subset")
        return {**src, "rgba.alpha": (src["rgba.alpha"] > 0).astype(np.float32)}

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
