"""Geometry between plate space and the aligned crop: regions, forward and back warps.

Conventions: a track matrix ``M`` (2x3) maps plate pixels (display-window coordinates,
pixel centres on integers, as OpenCV uses) to the aligned crop of the faceset's size
``S``. A box is ``(x, y, w, h)`` in display-window coordinates; an array covering a box
starts at its corner, so its matrix is :func:`vfx_double.track.faceset.with_offset`.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from ..track.faceset import with_offset

Box = tuple[int, int, int, int]


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
