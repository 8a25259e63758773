"""The aligned crop and the geometry between it and the plate: the one crop recipe (what
track writes into the faceset and render feeds the model), regions, forward and back warps.

Conventions: a track matrix ``M`` (2x3) maps plate pixels (display-window coordinates,
pixel centres on integers, as OpenCV uses) to the aligned crop of the faceset's size
``S``. A box is ``(x, y, w, h)`` in display-window coordinates; an array covering a box
starts at its corner, so its matrix is :func:`with_offset`.
"""

from __future__ import annotations

import math
from typing import Callable

import cv2
import numpy as np

Box = tuple[int, int, int, int]

#: the crop is made from a plate box on multiples of 8 pixels from the data window's corner
#: (2**levels past three pyramid levels), grown by this many pixels (4 * 2**levels past
#: two) for the bicubic and pyramid taps, so a sub-region gives the whole frame's samples
#: and only the pixels under the face are converted.
SOURCE_MARGIN = 16
SOURCE_ALIGN = 8


def with_offset(matrix: np.ndarray, data_window: tuple[int, int, int, int]) -> np.ndarray:
    """The plate->crop matrix for an array that starts at the data window's corner."""
    dx, dy = data_window[0], data_window[1]
    out = matrix.astype(np.float64).copy()
    out[:, 2] += out[:, 0] * dx + out[:, 1] * dy
    return out


def warp_crop(image: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """(size, size, C) crop of ``image`` through the 2x3 ``matrix`` (array pixels -> crop).

    Big faces shrink a lot: halve the source with a Gaussian pyramid until the remaining
    scale is at least 1/2, so the bilinear warp does not alias skin texture or grain.
    """
    matrix = matrix.astype(np.float64).copy()
    scale = math.sqrt(abs(np.linalg.det(matrix[:, :2])))
    source = image
    while scale < 0.5 and min(source.shape[:2]) > 2 * size:
        source = cv2.pyrDown(source)
        # pyrDown's pixel i is centred on source pixel 2i: only the linear part changes.
        matrix[:, :2] *= 2.0
        scale *= 2.0
    crop = cv2.warpAffine(source, matrix, (size, size), flags=cv2.INTER_CUBIC,
                          borderMode=cv2.BORDER_REFLECT)
    return crop if crop.ndim == 3 else crop[:, :, None]


def aligned_crop(pixels: np.ndarray, window: Box, matrix: np.ndarray, size: int,
                 encode: Callable[[np.ndarray], np.ndarray]) -> np.ndarray | None:
    """The crop recipe: ``(size, size, 3)`` float32 aligned face from a plate's ``pixels``
    (RGB first, covering the data ``window``) through the plate->crop ``matrix``, with
    ``encode`` (plate colourspace -> network encoding) applied to the source region before
    the warp. None when the crop lies wholly outside the window."""
    box = aligned_crop_box(matrix, size, window)
    if box is None:
        return None
    ys, xs = sub_box(window, box)
    region = encode(np.ascontiguousarray(pixels[ys, xs, :3], np.float32))
    return warp_crop(region, with_offset(matrix, box), size)


def aligned_crop_box(matrix: np.ndarray, size: int, window: Box) -> Box | None:
    """The plate box :func:`aligned_crop` reads from ``pixels`` covering ``window``; None
    when the crop lies wholly outside. Pixels covering only this box's rows (the whole
    width), given with their own window, make the same crop bit for bit."""
    # Each pyramid level halves the grid: the region's corner stays on the whole frame's
    # grid at every level the warp will use, and its margin covers every level's taps
    # (measured: exact at 3 * 2**levels pixels, tests/face/test_crop.py).
    levels, scale = 0, math.sqrt(abs(np.linalg.det(np.asarray(matrix, np.float64)[:, :2])))
    while scale < 0.5:
        levels, scale = levels + 1, scale * 2.0
    return crop_box(matrix, size, window, margin=max(SOURCE_MARGIN, 4 * 2 ** levels),
                    align=max(SOURCE_ALIGN, 2 ** levels))


def resize_crop(pixels: np.ndarray, resolution: int) -> np.ndarray:
    """``(S, S, C)`` -> ``(R, R, C)`` float32: area-averaged when shrinking (no aliasing),
    bicubic when enlarging."""
    size = pixels.shape[0]
    if size == resolution:
        return np.ascontiguousarray(pixels, dtype=np.float32)
    interp = cv2.INTER_AREA if resolution < size else cv2.INTER_CUBIC
    out = cv2.resize(pixels.astype(np.float32), (resolution, resolution), interpolation=interp)
    return out.reshape(resolution, resolution, pixels.shape[2])


def scale_landmarks(points: np.ndarray, size: int, resolution: int) -> np.ndarray:
    """``(..., 2)`` crop pixels at ``size`` -> at ``resolution``. Pixel centres are integers
    (cv2's convention, which the crop warp used), so edges, not centres, scale."""
    factor = resolution / size
    return ((np.asarray(points, np.float64) + 0.5) * factor - 0.5).astype(np.float32)


def rescale(matrix: np.ndarray, size: int, resolution: int) -> np.ndarray:
    """Plate -> crop matrix for the crop resized from ``size`` to ``resolution`` pixels.

    cv2.resize puts pixel ``i`` of the output at ``(i + 0.5) * k - 0.5`` of the input's
    scale, so the offset moves by ``0.5 * (k - 1)`` as well as scaling.
    """
    k = resolution / size
    out = np.asarray(matrix, np.float64) * k
    out[:, 2] += 0.5 * (k - 1.0)
    return out


def crop_box(matrix: np.ndarray, size: int, window: Box, margin: int = 0, align: int = 1
             ) -> Box | None:
    """The plate box (inside ``window``) that the ``size`` crop covers, grown by ``margin``
    and with its corner on a multiple of ``align`` from the window's corner; None when the
    crop lies wholly outside the window."""
    inverse = cv2.invertAffineTransform(np.asarray(matrix, np.float64))
    corners = np.array([[-0.5, -0.5, 1], [size - 0.5, -0.5, 1], [-0.5, size - 0.5, 1],
                        [size - 0.5, size - 0.5, 1]])
    points = corners @ inverse.T
    wx, wy, ww, wh = window
    x0 = math.floor(points[:, 0].min()) - margin
    y0 = math.floor(points[:, 1].min()) - margin
    x1 = math.ceil(points[:, 0].max()) + 1 + margin
    y1 = math.ceil(points[:, 1].max()) + 1 + margin
    if align > 1:
        x0 = wx + (x0 - wx) // align * align
        y0 = wy + (y0 - wy) // align * align
    x0, y0 = max(x0, wx), max(y0, wy)
    x1, y1 = min(x1, wx + ww), min(y1, wy + wh)
    if x1 <= x0 or y1 <= y0:
        return None
    return (x0, y0, x1 - x0, y1 - y0)


def sub_box(outer: Box, inner: Box) -> tuple[slice, slice]:
    """Array slices of ``inner`` inside an array that covers ``outer``."""
    return (slice(inner[1] - outer[1], inner[1] - outer[1] + inner[3]),
            slice(inner[0] - outer[0], inner[0] - outer[0] + inner[2]))


def to_plate(crop: np.ndarray, matrix: np.ndarray, box: Box, *, cubic: bool = True
             ) -> np.ndarray:
    """(h, w, C) plate-space pixels of ``box`` sampled from the (R, R, C) ``crop``.

    ``matrix`` maps plate pixels to this crop (already :func:`rescale`-d to R). Colour uses
    bicubic with the crop's edge replicated (the footprint cuts it off, see
    :func:`footprint`); a crop much larger than its face on the plate is shrunk with a
    Gaussian pyramid first so it does not alias.
    """
    matrix = with_offset(matrix, box)
    source = np.ascontiguousarray(crop, np.float32)
    # Plate pixels per crop pixel; below 1/2 the crop is shrinking by more than 2x.
    scale = 1.0 / math.sqrt(abs(np.linalg.det(matrix[:, :2])))
    while scale < 0.5 and min(source.shape[:2]) >= 8:
        source = cv2.pyrDown(source)
        # pyrDown's pixel i sits on pixel 2i: the crop coordinates halve.
        matrix = matrix / 2.0
        scale *= 2.0
        if source.ndim == 2:
            source = source[:, :, None]
    flags = (cv2.INTER_CUBIC if cubic else cv2.INTER_LINEAR) | cv2.WARP_INVERSE_MAP
    out = cv2.warpAffine(source, matrix, (box[2], box[3]), flags=flags,
                         borderMode=cv2.BORDER_REPLICATE)
    return out if out.ndim == 3 else out[:, :, None]


def footprint(matrix: np.ndarray, resolution: int, box: Box) -> np.ndarray:
    """(h, w) float32 coverage of the crop square on the plate, 1 inside, antialiased edge."""
    ones = np.ones((resolution, resolution), np.float32)
    out = cv2.warpAffine(ones, with_offset(matrix, box), (box[2], box[3]),
                         flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    return out
