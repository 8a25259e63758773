"""The face matte: the landmark hull (forehead lifted once, here), erode or grow, feather.

All sizes are in plate pixels and all arrays are crops of plate space; pixel centres sit
on integer coordinates (OpenCV's convention), so crop pixel ``(row, col)`` of a crop
whose box is ``(x, y, w, h)`` is plate pixel ``(y + row, x + col)``.

Erode works like Nuke's Erode (fast) / Dilate with a round element: a grey-scale min
(erode > 0) or max (erode < 0) over a disc, so soft mattes keep their soft edge. A
fractional size blends the results of the two neighbouring integer discs (erode 2.5 is
half way between 2 and 3).

Feather is a Gaussian blur whose ``size`` follows the convention of the OpenFX/Natron Blur,
which copies Nuke's: ``sigma = feather / 2.4``. That is within 2% of the Gaussian's full
width at half maximum (2.355 sigma), so across a hard edge the feathered matte goes from
11.5% to 88.5% over ``feather`` pixels. The kernel is cut at ``ceil(3 sigma)``.

Crop edges are extended (replicated), so a matte that reaches the edge of the plate stays
solid there; everywhere else the caller pads the crop by :func:`margin`.
"""

from __future__ import annotations

import math
from functools import lru_cache

import cv2
import numpy as np

from ..errors import ConfigError, MediaError

#: ``sigma = feather / FEATHER_PER_SIGMA`` (Nuke-style blur size, about the FWHM).
FEATHER_PER_SIGMA = 2.4
#: iBUG-68 indices used by the forehead extension.
BROWS = tuple(range(17, 27))
CHIN = 8
#: the forehead the face hull takes in above the brows, as a share of the chin-to-brow
#: height: the faceset's training masks (:func:`hull_mask`) and render's hull limit
#: (:func:`hull_matte`) both lift the brows by it
FOREHEAD = 0.18
#: sides of the polygon that stands in for the disc when the hull is grown.
_GROW_SIDES = 32
#: hull coverage is sampled on this many rows per pixel (exact along each row).
_SUPERSAMPLE = 4


def feather_sigma(feather: float) -> float:
    """The Gaussian sigma, in pixels, of a feather of ``feather`` pixels (0: no blur)."""
    return float(feather) / FEATHER_PER_SIGMA


def _blur_radius(feather: float) -> int:
    sigma = feather_sigma(feather)
    return math.ceil(3.0 * sigma) if sigma > 0 else 0


def _check_sizes(erode: float, feather: float, where: str) -> None:
    if not math.isfinite(erode):
        raise ConfigError(f"{where} erode", "a finite number of pixels", repr(erode))
    if not math.isfinite(feather) or feather < 0:
        raise ConfigError(f"{where} feather", "a finite number of pixels >= 0", repr(feather))


def margin(erode: float, feather: float) -> int:
    """Pixels of padding the caller adds around the matte's bounding box for
    :func:`refine_matte`: the growth of a negative ``erode`` plus the blur kernel's radius.

    With at least this much zero padding the refined matte is exactly what it would be on
    an unbounded canvas (its edge rows and columns stay zero).
    """
    _check_sizes(erode, feather, "margin")
    return math.ceil(max(-float(erode), 0.0)) + _blur_radius(feather)


@lru_cache(maxsize=64)
def _disc(radius: int) -> np.ndarray:
    """The elliptical (round) structuring element of ``radius`` pixels, (2r+1, 2r+1)."""
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def _morph(matte: np.ndarray, erode: float) -> np.ndarray:
    """Grey-scale erode (> 0) or dilate (< 0) by a disc of fractional radius ``|erode|``."""
    size = abs(float(erode))
    whole = math.floor(size)
    part = size - whole
    op = cv2.erode if erode > 0 else cv2.dilate

    def by(radius: int) -> np.ndarray:
        if radius == 0:
            return matte.copy()
        return op(matte, _disc(radius), borderType=cv2.BORDER_REPLICATE)

    out = by(whole)
    if part > 1e-6:
        out += np.float32(part) * (by(whole + 1) - out)
    return out


def refine_matte(matte: np.ndarray, erode: float, feather: float) -> np.ndarray:
    """Erode (or grow) then feather a matte crop (see the module docstring).

    Args:
        matte: (H, W) float in [0, 1], padded by :func:`margin` around its content.
        erode: pixels to shrink by (> 0) or grow by (< 0); fractions blend smoothly.
        feather: soft-edge width in pixels, ``sigma = feather / 2.4``; 0 is no blur.

    Returns:
        (H, W) float32 in [0, 1].

    Raises:
        MediaError: ``matte`` is not a 2-D float array.
        ConfigError: ``erode`` is not finite or ``feather`` is negative.
    """
    arr = np.asarray(matte)
    if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.floating) or 0 in arr.shape:
        raise MediaError("refine_matte matte", "a non-empty (H, W) float array",
                         f"{arr.dtype} {arr.shape}")
    _check_sizes(erode, feather, "refine_matte")
    out = np.ascontiguousarray(arr, dtype=np.float32)
    out = _morph(out, erode) if erode != 0 else out.copy()
    radius = _blur_radius(feather)
    if radius > 0:
        out = cv2.GaussianBlur(out, (2 * radius + 1, 2 * radius + 1), feather_sigma(feather),
                               borderType=cv2.BORDER_REPLICATE)
    return np.clip(out, 0.0, 1.0, out=out)


def _hull_points(points: np.ndarray, forehead: float) -> np.ndarray:
    """(N, 2) landmarks plus, with ``forehead``, the brows raised along the face's up."""
    if forehead <= 0:
        return points
    if len(points) != 68:
        raise ConfigError("hull_matte forehead", "68 iBUG points when forehead > 0",
                          f"{len(points)} points", "set forehead to 0 for other layouts")
    brows = points[list(BROWS)]
    # "Up" is chin -> brows, so a tilted head gets its forehead where it really is.
    up = brows.mean(axis=0) - points[CHIN]
    height = float(np.hypot(*up))
    if height < 1e-6:
        return points
    return np.vstack([points, brows + up * float(forehead)])


def hull_matte(points: np.ndarray, box: tuple[int, int, int, int], grow: float,
               forehead: float = 0.0) -> np.ndarray:
    """The antialiased convex hull of landmarks, grown outward, as a matte crop.

    Coverage is each pixel's area inside the hull, exact along x and sampled on 4 rows
    per pixel along y. Growing is a Minkowski sum with a disc (a 32-gon inscribed in it),
    so corners come out round.

    Args:
        points: (N, 2) float plate pixel coordinates (x, y), N >= 3; 68 iBUG points when
            ``forehead`` > 0.
        box: (x, y, w, h) of the output crop in plate pixels.
        grow: pixels to push the hull outward, >= 0 (shrink with :func:`refine_matte`).
        forehead: extend the hull upward by this fraction of the chin-to-brow height:
            copies of the brow points (17-26) are moved along the chin (8) -> brow-centre
            direction by ``forehead`` times that distance. The 68-point hull stops at the
            brows while DFL-style "whole face" masks take in part of the forehead; set it
            by eye against the model's masks (0 keeps the plain hull).

    Returns:
        (h, w) float32 in [0, 1]: 1 inside, 0 outside.

    Raises:
        MediaError: ``points`` is not (N >= 3, 2) finite, or ``box`` is empty.
        ConfigError: ``grow`` or ``forehead`` is negative or not finite.
    """
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) < 3 or not np.isfinite(pts).all():
        raise MediaError("hull_matte points", "(N >= 3, 2) finite plate coordinates",
                         f"{pts.dtype} {pts.shape}")
    if len(box) != 4 or int(box[2]) <= 0 or int(box[3]) <= 0:
        raise MediaError("hull_matte box", "(x, y, w, h) with w, h > 0", repr(tuple(box)))
    for name, value in (("grow", grow), ("forehead", forehead)):
        if not math.isfinite(value) or value < 0:
            raise ConfigError(f"hull_matte {name}", "a finite number >= 0", repr(value))
    x, y, w, h = (int(v) for v in box)
    pts = _hull_points(pts, float(forehead))
    hull = cv2.convexHull(pts.astype(np.float32)).reshape(-1, 2).astype(np.float64)
    if grow > 0:
        angle = np.arange(_GROW_SIDES) * (2.0 * np.pi / _GROW_SIDES)
        disc = float(grow) * np.stack([np.cos(angle), np.sin(angle)], axis=1)
        grown = (hull[:, None, :] + disc[None, :, :]).reshape(-1, 2)
        hull = cv2.convexHull(grown.astype(np.float32)).reshape(-1, 2).astype(np.float64)
    return _coverage(hull, x, y, w, h)


def _coverage(hull: np.ndarray, x: int, y: int, w: int, h: int) -> np.ndarray:
    """(h, w) float32 area of each crop pixel inside the convex polygon ``hull`` (V, 2).

    Exact along x (each sample row cuts the polygon in one interval, whose overlap with
    every pixel is measured); along y, 4 sample rows per pixel.
    """
    s = _SUPERSAMPLE
    out = np.zeros((h, w), np.float32)
    rows = y - 0.5 + (np.arange(h * s) + 0.5) / s                      # (R,) plate y
    a, b = hull, np.roll(hull, -1, axis=0)
    slanted = a[:, 1] != b[:, 1]   # a horizontal edge is met at its ends by its neighbours
    a, b = a[slanted], b[slanted]
    if len(a) == 0:
        return out
    t = (rows[:, None] - a[:, 1]) / (b[:, 1] - a[:, 1])                # (R, E)
    hit = (t >= 0.0) & (t <= 1.0)
    xs = a[:, 0] + t * (b[:, 0] - a[:, 0])
    left = np.where(hit, xs, np.inf).min(axis=1) - x
    right = np.where(hit, xs, -np.inf).max(axis=1) - x
    cut = np.nonzero(right > left)[0]
    if len(cut) == 0:
        return out
    left = left[cut, None].astype(np.float32)
    right = right[cut, None].astype(np.float32)
    first = max(0, math.floor(float(left.min()) + 0.5))
    last = min(w, math.ceil(float(right.max()) + 0.5))
    if last <= first:
        return out
    # Pixel c spans [c - 0.5, c + 0.5): the covered length is F(right) - F(left), with
    # F(u) = clip(u - c + 0.5, 0, 1).
    edges = np.arange(first, last, dtype=np.float32) - np.float32(0.5)
    cover = np.clip(right - edges, 0, 1) - np.clip(left - edges, 0, 1)
    samples = np.zeros((h * s, last - first), np.float32)
    samples[cut] = cover
    out[:, first:last] = samples.reshape(h, s, -1).mean(axis=1)
    return out


def hull_mask(points: np.ndarray, size: int) -> np.ndarray:
    """(size, size) float32 mask of an aligned crop (the faceset's training mask): the hull
    of the 68 crop points with the brows lifted by ``FOREHEAD`` to take in the forehead,
    edges softened by a pixel or two. :func:`hull_matte` is the same hull, exact, on the plate
    (the lift is computed once, by ``_hull_points``)."""
    pts = _hull_points(np.asarray(points, dtype=np.float64), FOREHEAD)
    hull = cv2.convexHull(pts.astype(np.float32))
    mask = np.zeros((size, size), np.float32)
    shift = 4
    cv2.fillConvexPoly(mask, np.round(hull * (1 << shift)).astype(np.int32), 1.0,
                       lineType=cv2.LINE_AA, shift=shift)
    return cv2.GaussianBlur(mask, (0, 0), max(size / 256.0, 0.5))
