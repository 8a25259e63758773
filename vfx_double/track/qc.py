"""QC for TDs: landmarks, performer box, frame number and flags drawn on the plate.

``draw_overlay`` draws one frame; ``contact_sheet`` lays evenly spaced frames out on one
PNG; ``preview.PreviewWriter`` streams overlays into an H.264 mp4.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from ..errors import ConfigError, MediaError, TrackingError
from ..face.ibug68 import GROUPS as IBUG_GROUPS
from ..io.contact import write_sheet
from ..io.sequences import format_frames

#: colour (RGB) of each iBUG group's dots and lines: one per region a TD reads (jaw, brows,
#: nose, eyes, mouth), none of them the performer's green or the flags' red and orange
_GROUP_COLOURS = {
    "jaw": (0, 210, 255),
    "right_brow": (255, 225, 0), "left_brow": (255, 225, 0),
    "nose_bridge": (255, 60, 220), "nostrils": (255, 60, 220),
    "right_eye": (70, 130, 255), "left_eye": (70, 130, 255),
    "outer_lips": (190, 120, 255), "inner_lips": (190, 120, 255),
}
_CLOSED_GROUPS = {"right_eye", "left_eye", "outer_lips", "inner_lips"}
_PERFORMER = (40, 220, 60)
_IGNORED = (150, 150, 150)
_WHITE = (255, 255, 255)
_RAW = (200, 200, 200)
_RED = (255, 40, 40)
_ORANGE = (255, 150, 0)
#: flags that mean "no usable face here" are red; every other flag is a warning, orange
_RED_FLAGS = {"no face", "long gap"}
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_SHIFT = 4  # cv2 sub-pixel drawing: coordinates and circle radii carry 4 fractional bits
_MAX_THUMBS = 36


@dataclass
class QcFrame:
    """One frame to review. ``image`` is (H, W, 3) uint8 RGB, display-referred.

    ``points``/``raw_points`` are (68, 2) plate pixels; None or all-NaN means no face.
    Boxes are (x0, y0, x1, y1) plate pixels.
    """

    frame: int
    image: np.ndarray
    points: np.ndarray | None
    raw_points: np.ndarray | None = None
    box: tuple[float, float, float, float] | None = None
    others: list[tuple[float, float, float, float]] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    confidence: float | None = None

    def __post_init__(self) -> None:
        img = self.image
        if not (isinstance(img, np.ndarray) and img.dtype == np.uint8 and img.ndim == 3
                and img.shape[2] == 3 and img.shape[0] > 0 and img.shape[1] > 0):
            found = (f"{img.dtype} {img.shape}" if isinstance(img, np.ndarray)
                     else type(img).__name__)
            raise MediaError(f"QC frame {self.frame} image", "(H, W, 3) uint8 RGB", found,
                             "convert the display-referred plate to 8-bit RGB first")
        for name in ("points", "raw_points"):
            pts = getattr(self, name)
            if pts is not None and np.shape(pts) != (68, 2):
                raise TrackingError(f"QC frame {self.frame} {name}", "(68, 2) iBUG landmarks",
                                    str(np.shape(pts)), "pass None when there is no face")

    def shown_flags(self) -> list[str]:
        """Flags as a TD reads them (``no_face`` -> ``no face``); a frame without
        landmarks always says ``no face`` so a missing face never looks like a clean one."""
        shown = [f.replace("_", " ") for f in self.flags]
        if not _has_points(self.points) and "no face" not in shown:
            shown.insert(0, "no face")
        return shown


def _has_points(points: np.ndarray | None) -> bool:
    return points is not None and bool(np.isfinite(points).any())


@dataclass(frozen=True)
class _Scale:
    """Line widths and text sizes for an image, so overlays read on 512 px and 4K alike."""

    font: float
    text: int
    line: int
    dot: int
    pad: int

    @classmethod
    def of(cls, shape: tuple[int, ...]) -> _Scale:
        unit = max(shape[0], shape[1]) / 1000.0
        font = max(0.4, 0.65 * unit)
        return cls(font=font, text=max(1, round(1.6 * font)), line=max(1, round(unit)),
                   dot=max(2, round(2.5 * unit)), pad=max(2, round(6 * unit)))


def _fixed(xy: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(xy, dtype=np.float64) * (1 << _SHIFT)).astype(np.int32)


def _draw_landmarks(img: np.ndarray, points: np.ndarray, s: _Scale) -> None:
    finite = np.isfinite(points).all(axis=1)
    for name, idx in IBUG_GROUPS.items():
        colour = _GROUP_COLOURS[name]
        if finite[idx].all():  # a NaN point would bend the line to the origin
            cv2.polylines(img, [_fixed(points[idx])], name in _CLOSED_GROUPS, colour, s.line,
                          cv2.LINE_AA, _SHIFT)
        for i in idx:
            if finite[i]:
                cv2.circle(img, tuple(_fixed(points[i])), int(_fixed(s.dot)), colour, -1,
                           cv2.LINE_AA, _SHIFT)


def _draw_raw(img: np.ndarray, raw: np.ndarray, s: _Scale) -> None:
    """Raw landmarks as thin grey rings: there to compare with, never to compete with the dots."""
    for p in raw[np.isfinite(raw).all(axis=1)]:
        cv2.circle(img, tuple(_fixed(p)), int(_fixed(s.dot + 1)), _RAW, 1, cv2.LINE_AA, _SHIFT)


def _draw_box(img: np.ndarray, box: Sequence[float], colour: tuple[int, int, int], label: str,
              s: _Scale) -> None:
    x0, y0, x1, y1 = (float(v) for v in box)
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)):
        return
    p0, p1 = _fixed((x0, y0)), _fixed((x1, y1))
    cv2.rectangle(img, tuple(p0), tuple(p1), colour, s.line, cv2.LINE_AA, _SHIFT)
    (tw, th), base = cv2.getTextSize(label, _FONT, s.font, s.text)
    # the label tab sits above the box, or inside it when the box touches the top edge
    lx = round(x0)
    ly = round(y0) - th - base - 2 * s.pad
    if ly < 0:
        ly = round(y0)
    cv2.rectangle(img, (lx, ly), (lx + tw + 2 * s.pad, ly + th + base + 2 * s.pad), colour, -1)
    cv2.putText(img, label, (lx + s.pad, ly + s.pad + th), _FONT, s.font, (0, 0, 0), s.text,
                cv2.LINE_AA)


def _draw_corner(img: np.ndarray, lines: list[tuple[str, tuple[int, int, int]]], s: _Scale) -> None:
    """Text block in the top-left corner on a darkened panel, so it reads on any plate."""
    sizes = [cv2.getTextSize(t, _FONT, s.font, s.text) for t, _ in lines]
    ascent = max(th for (_, th), _ in sizes)
    step = ascent + max(base for _, base in sizes) + s.pad
    panel = img[:s.pad + step * len(lines), :max(tw for (tw, _), _ in sizes) + 2 * s.pad]
    panel[:] = (panel.astype(np.uint16) * 2 // 7).astype(np.uint8)
    for k, (text, colour) in enumerate(lines):
        cv2.putText(img, text, (s.pad, s.pad + ascent + k * step), _FONT, s.font, colour,
                    s.text, cv2.LINE_AA)


def draw_overlay(qc: QcFrame, label: str = "") -> np.ndarray:
    """A copy of ``qc.image`` with the QC drawing on it: (H, W, 3) uint8 RGB, same size."""
    img = np.ascontiguousarray(qc.image).copy()
    s = _Scale.of(img.shape)
    for other in qc.others:
        _draw_box(img, other, _IGNORED, "ignored", s)
    if qc.raw_points is not None:
        _draw_raw(img, np.asarray(qc.raw_points, dtype=np.float64), s)
    if _has_points(qc.points):
        _draw_landmarks(img, np.asarray(qc.points, dtype=np.float64), s)
    if qc.box is not None:
        _draw_box(img, qc.box, _PERFORMER, "performer", s)
    lines: list[tuple[str, tuple[int, int, int]]] = [(label, _WHITE)] if label else []
    conf = "-" if qc.confidence is None else f"{qc.confidence:.2f}"
    lines.append((f"frame {qc.frame}  conf {conf}", _WHITE))
    lines += [(f, _RED if f in _RED_FLAGS else _ORANGE) for f in qc.shown_flags()]
    _draw_corner(img, lines, s)
    return img


def resized(qc: QcFrame, width: int, height: int) -> QcFrame:
    """``qc`` with its image and every coordinate scaled to ``width`` x ``height``."""
    h, w = qc.image.shape[:2]
    if (w, h) == (width, height):
        return qc
    shrink = width < w or height < h
    image = cv2.resize(qc.image, (width, height),
                       interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    k = np.array([width / w, height / h])

    # pixel centres sit at integer coordinates, so scale about the pixel corner (-0.5)
    def pts(p: np.ndarray | None) -> np.ndarray | None:
        return None if p is None else (np.asarray(p, dtype=np.float64) + 0.5) * k - 0.5

    def box(b: Sequence[float]) -> tuple[float, float, float, float]:
        x0, y0 = pts(np.array(b[:2]))
        x1, y1 = pts(np.array(b[2:]))
        return (float(x0), float(y0), float(x1), float(y1))

    return replace(qc, image=image, points=pts(qc.points), raw_points=pts(qc.raw_points),
                   box=None if qc.box is None else box(qc.box),
                   others=[box(o) for o in qc.others])


def _summary(frames: list[int], flag_counts: dict[str, int], shown: int) -> str:
    parts = [f"{len(frames)} frames {format_frames(frames, max_ranges=3)}"]
    parts += [f"{name} {n}" for name, n in flag_counts.items()]
    parts.append(f"showing {shown}")
    return "  |  ".join(parts)


def _pick(frames: Iterable[QcFrame], limit: int, thumb: Callable[[QcFrame], np.ndarray]
          ) -> tuple[list[np.ndarray], list[int], dict[str, int]]:
    """Up to ``limit`` evenly spaced thumbnails, the frame numbers seen, and flag counts.

    A sequence is indexed directly; any other iterable is streamed keeping at most
    2 * ``limit`` thumbnails (every other one is dropped and the stride doubled when full),
    so a long shot never sits in memory at full resolution.
    """
    numbers: list[int] = []
    counts: dict[str, int] = {}

    def count(qc: QcFrame) -> None:
        numbers.append(qc.frame)
        for f in qc.shown_flags():
            counts[f] = counts.get(f, 0) + 1

    if isinstance(frames, Sequence):
        for qc in frames:
            count(qc)
        idx = np.unique(np.linspace(0, len(frames) - 1, min(limit, len(frames))).round())
        return [thumb(frames[int(i)]) for i in idx], numbers, counts
    kept: list[np.ndarray] = []
    stride = 1
    for i, qc in enumerate(frames):
        count(qc)
        if i % stride == 0:
            kept.append(thumb(qc))
            if len(kept) >= 2 * limit:
                kept, stride = kept[::2], stride * 2
    if len(kept) > limit:
        kept = [kept[int(i)] for i in np.unique(np.linspace(0, len(kept) - 1, limit).round())]
    return kept, numbers, counts


def contact_sheet(frames: Sequence[QcFrame] | Iterable[QcFrame], path: Path, columns: int = 6,
                  thumb_width: int = 320, title: str = "", *, max_thumbs: int = _MAX_THUMBS
                  ) -> Path:
    """A grid PNG of overlaid thumbnails under a title bar; returns ``path``.

    Layout: ``columns`` cells of ``thumb_width`` x (thumb_width * H / W) with a gap of
    ``max(4, thumb_width // 40)`` around each, below a title bar (``title``, then frames
    and flag counts). More than ``max_thumbs`` frames are thinned to evenly spaced ones.
    """
    path = Path(path)
    for name, value, low in (("columns", columns, 1), ("thumb_width", thumb_width, 16),
                             ("max_thumbs", max_thumbs, 1)):
        if not (isinstance(value, int) and value >= low):
            raise ConfigError(f"contact sheet {path} {name}", f"an integer >= {low}", repr(value))
    cell: list[tuple[int, int]] = []

    def thumb(qc: QcFrame) -> np.ndarray:
        if not cell:  # the first frame fixes the cell's aspect for the whole sheet
            h, w = qc.image.shape[:2]
            cell.append((thumb_width, max(2, round(thumb_width * h / w))))
        return draw_overlay(resized(qc, *cell[0]))

    thumbs, numbers, counts = _pick(frames, max_thumbs, thumb)
    return write_sheet(thumbs, path, [title or "QC", _summary(numbers, counts, len(thumbs))],
                       columns=columns, gap=max(4, thumb_width // 40))
