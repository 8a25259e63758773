"""Colour matching of the rendered face to the plate, smoothed over frames without lag.

Three steps, so the stage can measure a chunk's frames (plus a margin), smooth, and apply:

1. :func:`measure` one frame: weighted statistics of the plate and the element (the
   rendered face) under the same weight (the face matte), in ACEScct for ``rct`` and
   ``histogram`` and in linear ACEScg for ``gain``.
2. :func:`smooth` the per-frame statistics with a centred Gaussian over frame numbers.
3. :func:`apply` one mode with a frame's smoothed statistics to the element.

Inputs are scene-linear ACEScg. ACEScg and ACEScct share their primaries, so the log
encoding is the per-channel ACEScct curve (Academy S-2016-001), shared with training's
colour jitter (:mod:`vfx_double.train.augment`).

Modes:

- ``none``: the element unchanged.
- ``rct``: per channel in ACEScct, ``(x - mean_e) * k + mean_p`` with
  ``k = std_p / std_e`` clamped to :data:`RCT_SCALE_LIMITS` (0.5 .. 2: at most a halving
  or doubling of contrast, so a near-flat element cannot explode).
- ``histogram``: per channel in ACEScct, the piecewise-linear map from the element's 17
  quantiles (:data:`QUANTILE_LEVELS`, 1% .. 99%) to the plate's. Knots closer than
  :data:`KNOT_GAP` are merged (their plate values averaged), so ties cannot make steps;
  outside the 1% and 99% knots the map continues with the overall slope, clamped like
  ``rct``'s scale.
- ``gain``: per channel in linear, ``x * mean_p / mean_e`` with the gain clamped to
  :data:`GAIN_LIMITS` (1/8 .. 8, +-3 stops); a channel whose element mean is not
  positive keeps gain 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, get_args

import numpy as np

from ..acescct import decode, encode
from ..config import ColourMatch
from ..errors import ConfigError, MediaError
from ..records import check_schema

SCHEMA = ("FrameStats", 1)
MODES: tuple[str, ...] = get_args(ColourMatch)
#: quantile levels measured for ``histogram``: 1% .. 99% in 17 steps (the median is 9th).
QUANTILE_LEVELS = np.linspace(0.01, 0.99, 17)
#: clamp of rct's contrast scale std_p / std_e (also the histogram map's end slopes).
RCT_SCALE_LIMITS = (0.5, 2.0)
#: clamp of gain's per-channel linear gain mean_p / mean_e.
GAIN_LIMITS = (0.125, 8.0)
#: histogram knots closer than this (ACEScct code, about 0.002 stops) are merged.
KNOT_GAP = 1e-4
#: frames whose weight sums to less than this many full pixels are not measured.
MIN_WEIGHT = 50.0
#: larger regions are measured on a regular subgrid of about this many pixels.
MAX_PIXELS = 1 << 16
#: histogram bins per channel for the weighted quantiles (between the channel's min and max).
_BINS = 4096


@dataclass(frozen=True)
class FrameStats:
    """One frame's colour statistics; triples are (R, G, B).

    Attributes:
        plate_mean, plate_std, element_mean, element_std: weighted mean and standard
            deviation per channel, ACEScct code values.
        plate_quantiles, element_quantiles: 3 rows (R, G, B) of 17 weighted quantiles at
            :data:`QUANTILE_LEVELS`, ACEScct, non-decreasing.
        plate_mean_linear, element_mean_linear: weighted mean per channel, linear ACEScg.
        weight_sum: the sum of the weights (full-pixel equivalents) that were measured.
    """

    plate_mean: tuple[float, ...]
    plate_std: tuple[float, ...]
    element_mean: tuple[float, ...]
    element_std: tuple[float, ...]
    plate_quantiles: tuple[tuple[float, ...], ...]
    element_quantiles: tuple[tuple[float, ...], ...]
    plate_mean_linear: tuple[float, ...]
    element_mean_linear: tuple[float, ...]
    weight_sum: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: ``schema`` plus each field as floats or lists of floats."""
        data: dict[str, Any] = {"schema": f"{SCHEMA[0]}.{SCHEMA[1]}"}
        for name, value in _field_arrays(self).items():
            data[name] = value.tolist() if value.ndim else float(value)
        return data

    @classmethod
    def from_dict(cls, data: Any, where: str = "FrameStats") -> FrameStats:
        """Read :meth:`to_dict`'s output; refuse other schemas, keys, shapes or non-finite
        numbers (:class:`MediaError`)."""
        if not isinstance(data, dict):
            raise MediaError(where, "a FrameStats object", type(data).__name__)
        check_schema(data.get("schema"), SCHEMA, where, MediaError)
        names = {f.name for f in fields(cls)}
        extra, missing = sorted(set(data) - names - {"schema"}), sorted(names - set(data))
        if extra or missing:
            raise MediaError(where, f"the keys {', '.join(sorted(names))}",
                             f"unknown {extra}" if extra else f"missing {missing}")
        values = {name: _read_floats(data[name], shape, f"{where} (field {name})")
                  for name, shape in _SHAPES.items()}
        return _from_arrays(values)


_SHAPES: dict[str, tuple[int, ...]] = {
    "plate_mean": (3,), "plate_std": (3,), "element_mean": (3,), "element_std": (3,),
    "plate_quantiles": (3, len(QUANTILE_LEVELS)), "element_quantiles": (3, len(QUANTILE_LEVELS)),
    "plate_mean_linear": (3,), "element_mean_linear": (3,), "weight_sum": (),
}
_SIZES = {name: int(np.prod(shape)) for name, shape in _SHAPES.items()}


def _read_floats(value: Any, shape: tuple[int, ...], where: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise MediaError(where, f"numbers shaped {shape}", repr(value)[:60]) from err
    if arr.shape != shape or not np.isfinite(arr).all():
        raise MediaError(where, f"finite numbers shaped {shape}", repr(value)[:60])
    return arr


def _field_arrays(stats: FrameStats) -> dict[str, np.ndarray]:
    return {name: np.asarray(getattr(stats, name), dtype=np.float64) for name in _SHAPES}


def _from_arrays(values: dict[str, np.ndarray]) -> FrameStats:
    def tup(arr: np.ndarray) -> Any:
        return tuple(tup(row) for row in arr) if arr.ndim > 1 else tuple(float(v) for v in arr)

    kwargs = {name: (float(arr) if arr.ndim == 0 else tup(arr)) for name, arr in values.items()}
    return FrameStats(**kwargs)


def _pack(stats: FrameStats) -> np.ndarray:
    """All fields as one float64 vector (the space :func:`smooth` averages in)."""
    return np.concatenate([arr.ravel() for arr in _field_arrays(stats).values()])


def _unpack(vector: np.ndarray) -> FrameStats:
    values, start = {}, 0
    for name, shape in _SHAPES.items():
        values[name] = vector[start:start + _SIZES[name]].reshape(shape)
        start += _SIZES[name]
    return _from_arrays(values)


def _check_rgb(arr: np.ndarray, where: str) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.ndim < 1 or arr.shape[-1] != 3 or not np.issubdtype(arr.dtype, np.floating):
        raise MediaError(where, "float RGB shaped (..., 3)", f"{arr.dtype} {arr.shape}")
    return arr


def _weighted_quantiles(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(3, 17) quantiles at QUANTILE_LEVELS of (N, 3) ``values`` under (N,) ``weights``.

    A weighted histogram of 4096 bins per channel with the mass spread evenly within each
    bin: O(N), where sorting would be O(N log N) on every frame.
    """
    total = float(weights.sum())
    out = np.empty((3, len(QUANTILE_LEVELS)))
    for c in range(3):
        v = values[:, c]
        lo, hi = float(v.min()), float(v.max())
        if hi - lo <= 1e-9 * max(1.0, abs(lo)):
            out[c] = lo
            continue
        index = np.minimum(((v - lo) * (_BINS / (hi - lo))).astype(np.int64), _BINS - 1)
        cdf = np.concatenate([[0.0], np.cumsum(np.bincount(index, weights, _BINS))]) / total
        out[c] = np.interp(QUANTILE_LEVELS, cdf, np.linspace(lo, hi, _BINS + 1))
    return np.maximum.accumulate(out, axis=1)


def measure(plate_lin: np.ndarray, element_lin: np.ndarray,
            weight: np.ndarray) -> FrameStats | None:
    """Weighted statistics of the plate and the element under one weight.

    Args:
        plate_lin, element_lin: (H, W, 3) float linear ACEScg, the same region.
        weight: (H, W) float; negative and non-finite weights count as 0, and so do
            pixels where the plate or element is not finite.

    Regions over :data:`MAX_PIXELS` are measured on every n-th row and column (n the
    smallest that brings them under it); ``weight_sum`` is the grid's sum times n * n, so
    it stays in full pixels.

    Returns:
        The frame's :class:`FrameStats`, or None when the weights sum to less than
        :data:`MIN_WEIGHT` (too little face to measure).

    Raises:
        MediaError: shapes do not match.
    """
    plate = _check_rgb(plate_lin, "colour_match.measure plate")
    element = _check_rgb(element_lin, "colour_match.measure element")
    w = np.asarray(weight)
    if plate.ndim != 3 or element.shape != plate.shape or w.shape != plate.shape[:2]:
        raise MediaError("colour_match.measure", "plate and element (H, W, 3), weight (H, W)",
                         f"{plate.shape}, {element.shape}, {w.shape}")
    # Every step-th row and column: a face's statistics need no more than ~2**16 pixels,
    # and a fixed grid adds nothing that changes from frame to frame.
    step = max(1, math.ceil(math.sqrt(w.size / MAX_PIXELS)))
    plate, element, w = plate[::step, ::step], element[::step, ::step], w[::step, ::step]
    w = np.nan_to_num(w.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    use = (w > 0) & np.isfinite(plate).all(axis=2) & np.isfinite(element).all(axis=2)
    wv = w[use]
    total = float(wv.sum())
    if total * step * step < MIN_WEIGHT:
        return None
    p_lin, e_lin = plate[use].astype(np.float64), element[use].astype(np.float64)
    p_log = encode(p_lin).astype(np.float64)
    e_log = encode(e_lin).astype(np.float64)

    def mean_std(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean = wv @ x / total
        return mean, np.sqrt(np.maximum(wv @ (x - mean) ** 2 / total, 0.0))

    (pm, ps), (em, es) = mean_std(p_log), mean_std(e_log)
    return _from_arrays({
        "plate_mean": pm, "plate_std": ps, "element_mean": em, "element_std": es,
        "plate_quantiles": _weighted_quantiles(p_log, wv),
        "element_quantiles": _weighted_quantiles(e_log, wv),
        "plate_mean_linear": wv @ p_lin / total, "element_mean_linear": wv @ e_lin / total,
        "weight_sum": np.float64(total * step * step),
    })


def window(sigma: float) -> int:
    """Radius in frames of :func:`smooth`'s kernel: ``ceil(3 sigma)``; frames further away
    have no influence (measure a chunk A-B over ``A - window .. B + window``)."""
    if not math.isfinite(sigma) or sigma < 0:
        raise ConfigError("colour_match smoothing sigma", "a finite number of frames >= 0",
                          repr(sigma))
    return math.ceil(3.0 * sigma)


def smooth(stats: dict[int, FrameStats | None], sigma: float) -> dict[int, FrameStats]:
    """Zero-lag smoothing of per-frame statistics over frame numbers.

    Each frame gets the Gaussian-weighted mean (sigma in frames, cut at :func:`window`)
    of the measured frames around it, the weights renormalised over the frames that
    exist: the kernel is centred, so a linear ramp stays exactly linear wherever the
    whole window is measured; at shot ends and next to unmeasured frames it leans to the
    side that is there. Unmeasured frames (None) get the weighted mean of their measured
    neighbours. The result is a convex combination of measured statistics, so stds stay
    positive and quantiles stay ordered. Sums run over offsets in a fixed order, so a
    frame's result is bit-identical whatever else lies beyond its window.

    Args:
        stats: frame number -> that frame's statistics, or None where not measured.
        sigma: Gaussian sigma in frames; 0 keeps the measured frames as they are.

    Returns:
        Smoothed statistics for each key of ``stats`` that has a measured frame within
        :func:`window` of it.
    """
    radius = window(sigma)
    frames = sorted(stats)
    if not frames or all(stats[f] is None for f in frames):
        return {}
    first = frames[0]
    count = frames[-1] - first + 1
    width = sum(_SIZES.values())
    values = np.zeros((count + 2 * radius, width))
    measured = np.zeros(count + 2 * radius)
    for frame, item in stats.items():
        if item is not None:
            values[frame - first + radius] = _pack(item)
            measured[frame - first + radius] = 1.0
    total = np.zeros((count, width))
    weight = np.zeros(count)
    for offset in range(-radius, radius + 1):
        w = math.exp(-0.5 * (offset / sigma) ** 2) if sigma > 0 else 1.0
        rows = slice(radius + offset, radius + offset + count)
        total += (w * measured[rows])[:, None] * values[rows]
        weight += w * measured[rows]
    out: dict[int, FrameStats] = {}
    for frame in frames:
        i = frame - first
        if weight[i] > 0:
            out[frame] = _unpack(total[i] / weight[i])
    return out


def histogram_knots(element_q: np.ndarray, plate_q: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, float]:
    """The histogram map of one channel: knots (element, plate), ACEScct, and the slope it
    continues with beyond the first and last knot."""
    e_q = np.maximum.accumulate(element_q)
    p_q = np.maximum.accumulate(plate_q)
    knots_e, knots_p = [e_q[0]], [[p_q[0]]]
    for e, p in zip(e_q[1:], p_q[1:]):
        if e - knots_e[-1] < KNOT_GAP:
            knots_p[-1].append(p)
        else:
            knots_e.append(e)
            knots_p.append([p])
    ke = np.array(knots_e)
    kp = np.maximum.accumulate(np.array([np.mean(group) for group in knots_p]))
    span_e = ke[-1] - ke[0]
    slope = np.clip((kp[-1] - kp[0]) / span_e, *RCT_SCALE_LIMITS) if span_e > 0 else 1.0
    return ke, kp, float(slope)


def _histogram_map(x: np.ndarray, element_q: np.ndarray, plate_q: np.ndarray) -> np.ndarray:
    """Monotone piecewise-linear map of (...,) ``x`` from element to plate quantiles."""
    ke, kp, slope = histogram_knots(element_q, plate_q)
    out = np.interp(x, ke, kp)
    below, above = x < ke[0], x > ke[-1]
    out[below] = kp[0] + slope * (x[below] - ke[0])
    out[above] = kp[-1] + slope * (x[above] - ke[-1])
    return out


def apply(mode: str, element_lin: np.ndarray, stats: FrameStats) -> np.ndarray:
    """The element colour-matched to the plate by ``mode`` (see the module docstring).

    Args:
        mode: one of :data:`MODES`.
        element_lin: (..., 3) float linear ACEScg.
        stats: the frame's (smoothed) statistics.

    Returns:
        (..., 3) float32 linear ACEScg.

    Raises:
        ConfigError: unknown ``mode``.
        MediaError: ``element_lin`` is not (..., 3) float.
    """
    if mode not in MODES:
        raise ConfigError("colour match mode", f"one of {', '.join(MODES)}", repr(mode))
    element = _check_rgb(element_lin, "colour_match.apply element")
    if mode == "none":
        return element.astype(np.float32, copy=True)
    if mode == "gain":
        p, e = np.asarray(stats.plate_mean_linear), np.asarray(stats.element_mean_linear)
        gain, ok = np.ones(3), e > 1e-12
        gain[ok] = np.clip(p[ok] / e[ok], *GAIN_LIMITS)
        return (element * gain.astype(np.float32)).astype(np.float32)
    return decode(_log_map(mode, element, stats))


def apply_encoded(mode: str, element_lin: np.ndarray, stats: FrameStats) -> np.ndarray:
    """:func:`apply`, returned as (..., 3) float32 ACEScct: ``encode(apply(...))``, but
    ``rct`` and ``histogram`` skip the decode and re-encode between them (two
    transcendental passes over the face box; the comp's detail and grain work in ACEScct).
    The result differs from ``encode(apply(...))`` only by float32 rounding."""
    if mode in ("rct", "histogram"):
        element = _check_rgb(element_lin, "colour_match.apply element")
        return _log_map(mode, element, stats).astype(np.float32, copy=False)
    return encode(apply(mode, element_lin, stats))


def _log_map(mode: str, element: np.ndarray, stats: FrameStats) -> np.ndarray:
    """``rct`` or ``histogram`` of linear ``element``, in ACEScct (float32 for rct,
    float64 for histogram)."""
    log = encode(element)
    # rct's arithmetic is float32 (a float32 array with scalars), written as such so the
    # decode needs no float64 copy; the histogram map interpolates in float64
    out = np.empty(log.shape, np.float32 if mode == "rct" else np.float64)
    for c in range(3):
        if mode == "rct":
            std_e, std_p = stats.element_std[c], stats.plate_std[c]
            scale = np.clip(std_p / std_e, *RCT_SCALE_LIMITS) if std_e > 0 else 1.0
            out[..., c] = ((log[..., c] - np.float32(stats.element_mean[c])) * np.float32(scale)
                           + np.float32(stats.plate_mean[c]))
        else:
            out[..., c] = _histogram_map(log[..., c].astype(np.float64),
                                         np.asarray(stats.element_quantiles[c]),
                                         np.asarray(stats.plate_quantiles[c]))
    return out


def parameters(mode: str, stats: FrameStats) -> dict[str, Any]:
    """What :func:`apply` does to a frame, as numbers a compositing package can use:

    - ``rct``: ``{"space": "ACEScct", "multiply": [r, g, b], "add": [r, g, b]}``, the
      per-channel ``x * multiply + add`` in ACEScct (``add = mean_p - mean_e * k``);
    - ``gain``: ``{"space": "ACEScg", "multiply": [r, g, b], "add": [0, 0, 0]}``, linear;
    - ``histogram``: ``{"space": "ACEScct", "knots": [[[e, p], ...] x 3], "slope": [r, g, b]}``:
      per channel linear between the knots, ``slope`` beyond the ends;
    - ``none``: ``{}``.

    Raises:
        ConfigError: unknown ``mode``.
    """
    if mode not in MODES:
        raise ConfigError("colour match mode", f"one of {', '.join(MODES)}", repr(mode))
    if mode == "none":
        return {}
    if mode == "gain":
        p, e = np.asarray(stats.plate_mean_linear), np.asarray(stats.element_mean_linear)
        gain, ok = np.ones(3), e > 1e-12
        gain[ok] = np.clip(p[ok] / e[ok], *GAIN_LIMITS)
        return {"space": "ACEScg", "multiply": [float(v) for v in gain], "add": [0.0] * 3}
    if mode == "rct":
        multiply, add = [], []
        for c in range(3):
            std_e, std_p = stats.element_std[c], stats.plate_std[c]
            scale = float(np.clip(std_p / std_e, *RCT_SCALE_LIMITS)) if std_e > 0 else 1.0
            multiply.append(scale)
            add.append(float(stats.plate_mean[c] - stats.element_mean[c] * scale))
        return {"space": "ACEScct", "multiply": multiply, "add": add}
    knots, slopes = [], []
    for c in range(3):
        ke, kp, slope = histogram_knots(np.asarray(stats.element_quantiles[c]),
                                        np.asarray(stats.plate_quantiles[c]))
        knots.append([[float(e), float(p)] for e, p in zip(ke, kp)])
        slopes.append(slope)
    return {"space": "ACEScct", "knots": knots, "slope": slopes}
