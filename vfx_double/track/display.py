"""What the detector sees: a plate frame as display-referred sRGB uint8, made where asked.

The plate -> sRGB conversion is per pixel (OCIO has no spatial step here), so a region
converted alone is bit-identical to the same region of the whole frame converted. Between
detections the follow step looks only at crops about twice the face, so
:class:`DisplayFrame` converts only what is sliced out of it; a detection asks for the
whole frame (:meth:`DisplayFrame.full`). It may hold only some rows of the plate (pass one
reads the rows around the face between detections): a slice that needs any other row, or
the whole frame, reads the whole frame first, so what it gives is always what the whole
frame read and converted gives.

What the landmark model and the detector look at is smaller than the frame: crops and
tiles shrunk to their input size (:func:`resampled`). A :class:`DisplayFrame` shrinks the
plate's pixels as they are encoded (its colourspace: for a log plate, close to the sRGB
encoding that the shrink of a display frame averaged in) and converts only the result, a
few hundred pixels square whatever the face's size (issue 15).
"""

from __future__ import annotations

import os
from typing import Callable

import cv2
import numpy as np

from ..color import ColourConfig
from ..io.exr import as_float32

#: what the detector sees: plain sRGB encoding, the look of the photos it was trained on
DISPLAY_SPACE = "sRGB Encoded Rec.709 (sRGB)"
#: a region asked for is converted grown by this fraction of its longer side on each side,
#: so the follow step's second crop (re-centred on the face the first found: moved by the
#: face's motion since the last frame) and the sharpness crop fall inside what the first
#: crop converted. On the demo plate 0.1 never converts twice (0.55 Mpx a frame; 0.25:
#: 0.77 Mpx, pass one 80.2 vs 73.6 ms/frame); faster motion converts the union once more.
REGION_MARGIN = 0.1
#: past this fraction of the frame, converting the whole frame once costs no more.
WHOLE_FRACTION = 0.6


def display_u8(colour: ColourConfig, pixels: np.ndarray, colourspace: str) -> np.ndarray:
    """(H, W, 3) uint8 sRGB of a plate's RGB for the detector and QC."""
    # The sRGB curve is OCIO's slowest step here; both cores halve it (measured 50 -> 25 ms
    # at 1920x1080), and tracking is one process per shot.
    # Half (a plate decoded as stored) made float32 by OpenCV: NumPy's conversion inside
    # convert took longer than the colour maths (10 vs 0.5 ms for 0.55 Mpx).
    srgb = colour.convert(as_float32(pixels[:, :, :3]), colourspace, DISPLAY_SPACE,
                          threads=os.cpu_count() or 1)
    np.maximum(srgb, 0.0, out=srgb)
    # convertScaleAbs rounds and saturates at 255 in one pass (6x faster than numpy here).
    return cv2.convertScaleAbs(srgb, alpha=255.0)


class DisplayFrame:
    """``(H, W, 3)`` uint8 sRGB of a plate's ``(H, W, C)`` float ``pixels`` (RGB first),
    converted on demand: ``frame[y0:y1, x0:x1]`` converts that region (and a margin, kept
    for the next slice); :meth:`full` the whole frame, once. Has the ``shape``, ``ndim``
    and ``dtype`` of the array it stands for, so backends crop from it as from one.

    ``pixels`` may be only rows ``top <= y < top + len(pixels)`` of a frame ``height`` rows
    tall; then ``read_whole()`` gives the whole frame's pixels when a slice needs a row
    outside them (a *miss*) or the whole frame is asked for. ``asked`` is the span of rows
    the slices asked for (what the next frame's rows are planned from)."""

    ndim = 3
    dtype = np.dtype(np.uint8)

    def __init__(self, colour: ColourConfig, pixels: np.ndarray, colourspace: str, *,
                 top: int = 0, height: int | None = None,
                 read_whole: Callable[[], np.ndarray] | None = None) -> None:
        height = pixels.shape[0] if height is None else height
        if (top, top + pixels.shape[0]) != (0, height) and read_whole is None:
            raise ValueError(f"DisplayFrame: expected read_whole for rows {top}-"
                             f"{top + pixels.shape[0]} of a {height}-row frame, got None")
        self.colour, self.pixels, self.colourspace = colour, pixels, colourspace
        self.shape = (height, pixels.shape[1], 3)
        self.rows = (top, top + pixels.shape[0])
        self.read_whole = read_whole
        self.missed = False
        self.asked: tuple[int, int] | None = None
        self._whole: np.ndarray | None = None
        self._region: tuple[int, int, int, int] | None = None  # x0, y0, x1, y1
        self._converted: np.ndarray | None = None
        self._black_code: np.ndarray | None = None

    def full(self) -> np.ndarray:
        if self._whole is None:
            self._read_all()
            self._whole = display_u8(self.colour, self.pixels, self.colourspace)
            self._region = self._converted = None
        return self._whole

    def __getitem__(self, key: tuple[slice, slice]) -> np.ndarray:
        h, w = self.shape[:2]
        if not (isinstance(key, tuple) and len(key) == 2
                and all(isinstance(k, slice) and k.step in (None, 1) for k in key)):
            raise TypeError(f"DisplayFrame: expected [y0:y1, x0:x1], got {key!r}")
        y0, y1, _ = key[0].indices(h)
        x0, x1, _ = key[1].indices(w)
        if y1 <= y0 or x1 <= x0:
            return np.zeros((max(0, y1 - y0), max(0, x1 - x0), 3), np.uint8)
        a = self.asked
        self.asked = (y0, y1) if a is None else (min(a[0], y0), max(a[1], y1))
        if self._whole is not None:
            return self._whole[y0:y1, x0:x1]
        if y0 < self.rows[0] or y1 > self.rows[1]:
            self._read_all()
        if not self._holds(x0, y0, x1, y1):
            top, bottom = self.rows
            grow = round(REGION_MARGIN * max(x1 - x0, y1 - y0))
            box = (max(0, x0 - grow), max(top, y0 - grow), min(w, x1 + grow),
                   min(bottom, y1 + grow))
            if self._region is not None:
                r = self._region
                box = (min(r[0], box[0]), min(r[1], box[1]), max(r[2], box[2]), max(r[3], box[3]))
            if (box[2] - box[0]) * (box[3] - box[1]) > WHOLE_FRACTION * w * (bottom - top):
                if (top, bottom) == (0, h):
                    return self.full()[y0:y1, x0:x1]
                box = (0, top, w, bottom)  # all the rows read, still fewer than the frame
            self._region = box
            self._converted = display_u8(self.colour,
                                         self.pixels[box[1] - top:box[3] - top, box[0]:box[2]],
                                         self.colourspace)
        assert self._region is not None and self._converted is not None
        rx, ry = self._region[:2]
        return self._converted[y0 - ry:y1 - ry, x0 - rx:x1 - rx]

    def whole(self) -> DisplayFrame:
        """The whole frame for a detection, which looks at all of it: read whole if only
        some rows are held (a miss); what is taken from it is not in :attr:`asked`."""
        self._read_all()
        return DisplayFrame(self.colour, self.pixels, self.colourspace)

    def resampled(self, box: tuple[int, int, int, int], size: tuple[int, int],
                  interpolation: int) -> np.ndarray:
        """See :func:`resampled`: the plate's pixels of ``box`` resized as encoded, then
        converted."""
        x0, y0, bw, bh = box
        h, w = self.shape[:2]
        sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x0 + bw, w), min(y0 + bh, h)
        if sx1 <= sx0 or sy1 <= sy0:
            return np.zeros((size[1], size[0], 3), np.uint8)
        a = self.asked
        self.asked = (sy0, sy1) if a is None else (min(a[0], sy0), max(a[1], sy1))
        if sy0 < self.rows[0] or sy1 > self.rows[1]:
            self._read_all()
        top = self.rows[0]
        part = as_float32(self.pixels[sy0 - top:sy1 - top, sx0:sx1, :3])
        if (sx0, sy0, sx1, sy1) == (x0, y0, x0 + bw, y0 + bh):
            window = part
        else:
            window = np.empty((bh, bw, 3), np.float32)
            window[:] = self._black()
            window[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = part
        return display_u8(self.colour, cv2.resize(window, size, interpolation=interpolation),
                          self.colourspace)

    def _black(self) -> np.ndarray:
        """The plate's code value of display black (what lies outside the frame)."""
        if self._black_code is None:
            self._black_code = self.colour.convert(np.zeros((1, 1, 3), np.float32),
                                                   DISPLAY_SPACE, self.colourspace)[0, 0]
        return self._black_code

    def _read_all(self) -> None:
        """The whole frame's pixels in place of some rows: a miss, or a detection."""
        if self.rows == (0, self.shape[0]):
            return
        assert self.read_whole is not None
        pixels = self.read_whole()
        if pixels.shape[:2] != self.shape[:2]:
            raise ValueError(f"DisplayFrame: expected a whole frame of {self.shape[:2]}, "
                             f"got {pixels.shape[:2]}")
        self.pixels, self.rows, self.missed = pixels, (0, self.shape[0]), True

    def _holds(self, x0: int, y0: int, x1: int, y1: int) -> bool:
        r = self._region
        return r is not None and r[0] <= x0 and r[1] <= y0 and x1 <= r[2] and y1 <= r[3]


def resampled(image: np.ndarray | DisplayFrame, box: tuple[int, int, int, int],
              size: tuple[int, int], interpolation: int) -> np.ndarray:
    """``(size[1], size[0], 3)`` uint8: the ``x, y, w, h`` ``box`` of ``image`` (black
    where it leaves the frame) resized to ``size`` (width, height) by ``cv2.resize`` with
    ``interpolation``. An array is resized as it is; a :class:`DisplayFrame` resizes the
    plate's pixels and converts the result to sRGB (so the two differ by where colour is
    converted: before or after the resize)."""
    if isinstance(image, DisplayFrame):
        return image.resampled(box, size, interpolation)
    x0, y0, bw, bh = box
    h, w = image.shape[:2]
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x0 + bw, w), min(y0 + bh, h)
    if (sx0, sy0, sx1, sy1) == (x0, y0, x0 + bw, y0 + bh):
        window = image[y0:y0 + bh, x0:x0 + bw]
    else:
        window = np.zeros((bh, bw, image.shape[2]), dtype=image.dtype)
        if sx1 > sx0 and sy1 > sy0:
            window[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = image[sy0:sy1, sx0:sx1]
    if (bw, bh) == tuple(size):
        return np.ascontiguousarray(window)
    return cv2.resize(window, size, interpolation=interpolation)
