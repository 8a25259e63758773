"""What a review frame looks like: the comp (or the plate) through the display view, the
plate beside it or under a wipe when asked, six burn-in slots, and the slate.

Frames here are ``(H, W, 3)`` float32, display-referred, 0..1 (what the display view
returns, clipped): burn-ins and the watermark are drawn at that precision, and the writers
quantise once, to 8 bits for H.264 and 16 for ProRes.

Burn-ins sit in the six slots editorial expects, as in Nuke's and RV's dailies templates:
top left / centre / right and bottom left / centre / right, on a translucent dark band so
they read over any picture. Text is sized from the frame height, so a 1280x720 and a 4K
review look alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from ..io.exr import ExrImage

Compare = Literal["none", "side-by-side", "wipe"]
COMPARES: tuple[str, ...] = ("none", "side-by-side", "wipe")

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_WHITE = (1.0, 1.0, 1.0)
#: how much the band under a burn-in darkens the picture (0: not at all, 1: black)
_BAND = 0.55


@dataclass(frozen=True)
class BurnIns:
    """The six slots' text; an empty string leaves a slot clear."""

    top_left: str = ""
    top_centre: str = ""
    top_right: str = ""
    bottom_left: str = ""
    bottom_centre: str = ""
    bottom_right: str = ""


def even_size(width: int, height: int) -> tuple[int, int]:
    """The movie size for a ``width`` x ``height`` picture: 4:2:0 needs even sides, so an odd
    side gains one row or column (black), never loses picture."""
    return width + width % 2, height + height % 2


def on_canvas(image: ExrImage, size: tuple[int, int]) -> np.ndarray:
    """The image's RGB over its display window (as a viewer shows it: data outside the
    display window cropped, display area without data black), on a ``size`` canvas."""
    w, h = size
    canvas = np.zeros((h, w, 3), np.float32)
    dx, dy, dw, dh = image.display_window
    x, y, iw, ih = image.data_window
    rgb = image.pixels[..., :3]
    # the data window's overlap with the display window, in display coordinates
    x0, y0 = max(x, dx), max(y, dy)
    x1, y1 = min(x + iw, dx + dw), min(y + ih, dy + dh)
    if x1 > x0 and y1 > y0:
        canvas[y0 - dy:y1 - dy, x0 - dx:x1 - dx] = rgb[y0 - y:y1 - y, x0 - x:x1 - x]
    return canvas


def compare(comp: np.ndarray, plate: np.ndarray, mode: str) -> np.ndarray:
    """The comp alone, or with the plate: ``side-by-side`` (plate left, comp right, each at
    half size, centred) or ``wipe`` (plate left of the centre line, comp right of it)."""
    if mode == "none":
        return comp
    h, w = comp.shape[:2]
    if mode == "wipe":
        out = comp.copy()
        out[:, : w // 2] = plate[:, : w // 2]
        out[:, w // 2 - 1: w // 2 + 1] = 1.0
        _label(out, "PLATE", (w // 2 - _gap(h), h // 2), "right")
        _label(out, "COMP", (w // 2 + _gap(h), h // 2), "left")
        return out
    out = np.zeros_like(comp)
    half = (w // 2, h // 2)
    top = (h - half[1]) // 2
    for i, (picture, name) in enumerate(((plate, "PLATE"), (comp, "COMP"))):
        small = cv2.resize(picture, half, interpolation=cv2.INTER_AREA)
        out[top:top + half[1], i * half[0]:(i + 1) * half[0]] = small
        _label(out, name, (i * half[0] + _gap(h), top - _gap(h) // 2), "left")
    return out


def burn_in(frame: np.ndarray, text: BurnIns) -> np.ndarray:
    """Draw the six slots on ``frame`` (in place) and return it."""
    h, w = frame.shape[:2]
    gap = _gap(h)
    spots = ((text.top_left, (gap, gap), "left", "top"),
             (text.top_centre, (w // 2, gap), "centre", "top"),
             (text.top_right, (w - gap, gap), "right", "top"),
             (text.bottom_left, (gap, h - gap), "left", "bottom"),
             (text.bottom_centre, (w // 2, h - gap), "centre", "bottom"),
             (text.bottom_right, (w - gap, h - gap), "right", "bottom"))
    for words, (x, y), align, edge in spots:
        if words:
            _label(frame, words, (x, y), align, edge)
    return frame


def slate(size: tuple[int, int], fields: list[tuple[str, str]], picture: np.ndarray | None,
          banner: str) -> np.ndarray:
    """The slate: ``banner`` large across the top, then one ``name: value`` line per field,
    with ``picture`` (a frame of the shot) beside them when given."""
    w, h = size
    frame = np.full((h, w, 3), 0.08, np.float32)
    scale, stroke = _font(h)
    big = scale * 2.2
    tw, th = cv2.getTextSize(banner, _FONT, big, stroke * 2)[0]
    big *= min(1.0, 0.9 * w / max(tw, 1))
    tw, th = cv2.getTextSize(banner, _FONT, big, stroke * 2)[0]
    cv2.putText(frame, banner, ((w - tw) // 2, h // 8 + th), _FONT, big, (1.0, 0.35, 0.2),
                stroke * 2, cv2.LINE_AA)
    left, top = w // 16, h // 4
    if picture is not None:
        pw = w // 3
        ph = max(2, round(picture.shape[0] * pw / picture.shape[1]))
        thumb = cv2.resize(picture, (pw, ph), interpolation=cv2.INTER_AREA)
        y = min(top, h - ph)
        frame[y:y + ph, w - pw - left // 2:w - left // 2] = thumb
    line = cv2.getTextSize("Ag", _FONT, scale, stroke)[0][1] * 2 + stroke * 4
    width = max((cv2.getTextSize(f"{k}:", _FONT, scale, stroke)[0][0] for k, _ in fields),
                default=0)
    for i, (name, value) in enumerate(fields):
        y = top + (i + 1) * line
        cv2.putText(frame, f"{name}:", (left, y), _FONT, scale, (0.6, 0.6, 0.6), stroke,
                    cv2.LINE_AA)
        cv2.putText(frame, value, (left + width + line // 2, y), _FONT, scale, _WHITE, stroke,
                    cv2.LINE_AA)
    return frame


def quantise(frame: np.ndarray, bits: int) -> np.ndarray:
    """A display-referred float frame as uint8 (``bits=8``) or uint16 (``bits=16``)."""
    top = (1 << bits) - 1
    scaled = np.clip(frame, 0.0, 1.0) * top + 0.5
    return scaled.astype(np.uint8 if bits == 8 else np.uint16)


def _gap(h: int) -> int:
    return max(4, h // 40)


def _font(h: int) -> tuple[float, int]:
    """(scale, stroke) for text on an ``h``-pixel-high frame: about 1/36 of the height."""
    scale = h / 1080 * 1.0
    return max(0.35, scale), max(1, round(2 * scale))


def _label(frame: np.ndarray, text: str, at: tuple[int, int], align: str,
           edge: str = "middle") -> None:
    """``text`` on a dark band: ``at`` is its left / centre / right point (``align``) on its
    top / middle / bottom edge (``edge``); clipped to the frame."""
    h, w = frame.shape[:2]
    scale, stroke = _font(h)
    (tw, th), base = cv2.getTextSize(text, _FONT, scale, stroke)
    pad = max(2, th // 3)
    x = {"left": at[0], "centre": at[0] - tw // 2, "right": at[0] - tw}[align]
    y = {"top": at[1] + th, "middle": at[1] + th // 2, "bottom": at[1] - base}[edge]
    x = int(np.clip(x, pad, max(pad, w - tw - pad)))
    y0, y1 = max(0, y - th - pad), min(h, y + base + pad)
    x0, x1 = max(0, x - pad), min(w, x + tw + pad)
    frame[y0:y1, x0:x1] *= 1.0 - _BAND
    cv2.putText(frame, text, (x, y), _FONT, scale, _WHITE, stroke, cv2.LINE_AA)
