"""What the models see: a plate frame as display-referred sRGB uint8, made where they look.

The landmark model and the detector never look at a frame at its own size: they see
crops and tiles shrunk (or a small face enlarged) to their input size, and the sharpness
measure a small aligned crop. :class:`DisplayFrame` stands for the sRGB frame and makes
only those: it resizes or warps the plate's pixels as they are encoded (the plate's
colourspace; for a log plate, close to the sRGB encoding a display frame was shrunk in)
and converts just the result, a few hundred pixels square whatever the face's size
(issue 15; NME-68 and jitter measured unchanged within noise, benchmarks/RESULTS.md).
:func:`resampled` and :func:`warped` take the same from an sRGB array as it is.

A frame may hold only some rows of the plate (pass one reads the rows around the face
between detections): a look that needs any other row reads the whole frame first, so what
it gives never depends on which rows were read.
"""

from __future__ import annotations

import os
from typing import Callable

import cv2
import numpy as np

from ..color import ColourConfig
from ..face.crop import crop_box, with_offset
from ..io.exr import as_float32

#: what the detector sees: plain sRGB encoding, the look of the photos it was trained on
DISPLAY_SPACE = "sRGB Encoded Rec.709 (sRGB)"


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
    """The ``(H, W, 3)`` uint8 sRGB frame of a plate's ``(H, W, C)`` float ``pixels`` (RGB
    first), of which only what is taken through :func:`resampled` or :func:`warped` is
    made. Has the ``shape``, ``ndim`` and ``dtype`` of the array it stands for.

    ``pixels`` may be only rows ``top <= y < top + len(pixels)`` of a frame ``height`` rows
    tall; then ``read_whole()`` gives the whole frame's pixels when a look needs a row
    outside them (a *miss*). ``asked`` is the span of rows looked at (what the next frame's
    rows are planned from); a detection looks through :meth:`whole`, which does not count."""

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
        self._black_code: np.ndarray | None = None

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
        part = self._plate(sx0, sy0, sx1, sy1)
        if (sx0, sy0, sx1, sy1) == (x0, y0, x0 + bw, y0 + bh):
            window = part
        else:
            window = np.empty((bh, bw, 3), np.float32)
            window[:] = self._black()
            window[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = part
        return display_u8(self.colour, cv2.resize(window, size, interpolation=interpolation),
                          self.colourspace)

    def warped(self, matrix: np.ndarray, size: int, box: tuple[int, int, int, int],
               flags: int) -> np.ndarray:
        """See :func:`warped`: the plate's pixels of ``box`` (inside the frame) warped as
        encoded, then converted."""
        x, y, bw, bh = box
        black = tuple(float(v) for v in self._black())
        crop = cv2.warpAffine(self._plate(x, y, x + bw, y + bh), with_offset(matrix, box),
                              (size, size), flags=flags, borderMode=cv2.BORDER_CONSTANT,
                              borderValue=black)
        return display_u8(self.colour, crop, self.colourspace)

    def _plate(self, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
        """float32 plate RGB of a box inside the frame (its rows count in :attr:`asked`;
        rows not held read the whole frame)."""
        a = self.asked
        self.asked = (y0, y1) if a is None else (min(a[0], y0), max(a[1], y1))
        if y0 < self.rows[0] or y1 > self.rows[1]:
            self._read_all()
        top = self.rows[0]
        return as_float32(self.pixels[y0 - top:y1 - top, x0:x1, :3])

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


def warped(image: np.ndarray | DisplayFrame, matrix: np.ndarray, size: int,
           flags: int) -> np.ndarray | None:
    """``(size, size, 3)`` uint8: ``image`` warped through the 2x3 ``matrix`` (image
    pixels -> crop) by ``cv2.warpAffine`` with ``flags``, black off the frame; None when
    the crop lies wholly off it. Only the pixels the warp samples are taken (and two for
    its taps). An array is warped as it is; a :class:`DisplayFrame` warps the plate's
    pixels and converts the result to sRGB."""
    h, w = image.shape[:2]
    box = crop_box(matrix, size, (0, 0, w, h), margin=2)
    if box is None:
        return None
    if isinstance(image, DisplayFrame):
        return image.warped(matrix, size, box, flags)
    x, y, bw, bh = box
    return cv2.warpAffine(np.ascontiguousarray(image[y:y + bh, x:x + bw]),
                          with_offset(matrix, box), (size, size), flags=flags)
