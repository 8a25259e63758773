"""Contact sheets: a grid of RGB thumbnails under a title bar, written as a PNG. Track's QC
sheet uses it, and review's will."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from ..errors import MediaError
from .atomic import atomic_path

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_WHITE = (255, 255, 255)
_BACKGROUND = 24


def write_sheet(thumbs: list[np.ndarray], path: Path, lines: list[str], *, columns: int,
                gap: int) -> Path:
    """``thumbs`` (uint8 RGB, all one size) in rows of ``columns`` with ``gap`` pixels around
    each, below a bar holding one text line per item of ``lines`` (a long line shrinks to
    fit); written atomically to ``path`` (a .png); returns ``path``."""
    path = Path(path)
    if not thumbs:
        raise MediaError(str(path), "at least one frame for the contact sheet", "none")
    th, tw = thumbs[0].shape[:2]
    rows = math.ceil(len(thumbs) / columns)
    sheet_w = columns * tw + (columns + 1) * gap
    # text sized for the sheet, as overlays are sized for their image (1/1000 of its size)
    unit = (sheet_w // 2) / 1000.0
    font = max(0.4, 0.65 * unit)
    stroke, pad = max(1, round(1.6 * font)), max(2, round(6 * unit))
    line_h = cv2.getTextSize("Ag", _FONT, font, stroke)[0][1] * 2 + pad
    bar_h = line_h * len(lines) + 2 * pad
    sheet = np.full((bar_h + rows * th + (rows + 1) * gap, sheet_w, 3), _BACKGROUND, np.uint8)
    for i, text in enumerate(lines):
        width = cv2.getTextSize(text, _FONT, font, stroke)[0][0]
        fitted = font * min(1.0, (sheet_w - 2 * (gap + pad)) / max(width, 1))
        cv2.putText(sheet, text, (gap + pad, pad + (i + 1) * line_h - line_h // 4), _FONT,
                    fitted, _WHITE, stroke, cv2.LINE_AA)
    for i, t in enumerate(thumbs):
        r, c = divmod(i, columns)
        y, x = bar_h + gap + r * (th + gap), gap + c * (tw + gap)
        sheet[y:y + th, x:x + tw] = t
    try:
        with atomic_path(path) as tmp:
            if not cv2.imwrite(str(tmp), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR)):
                raise MediaError(str(path), "a written contact sheet", "cv2.imwrite failed",
                                 "check free disk space and permissions on the folder")
    except cv2.error as err:
        raise MediaError(str(path), "an image file name such as sheet.png",
                         str(err).strip().splitlines()[-1]) from err
    except OSError as err:
        raise MediaError(str(path), "a writable folder", str(err),
                         "check free disk space and permissions on the folder") from err
    return path
