"""Frames with no face: short gaps are filled, long ones and the shot's ends reported.

Ranges are inclusive index pairs ``(first, last)`` into the track's frames, so a gap of
one frame at index 7 is ``(7, 7)``.

A gap is filled as the face moving, not as 68 points each drawn in a straight line
(which would shrink a face that turns while it is hidden): the head pose on either side
(``align.fit_pose``: centre, log scale, roll) is joined by a cubic Hermite curve whose
end slopes come from the frames beside the gap, and the face-frame shape is blended
linearly from one side to the other. Nothing is extrapolated: a gap that touches the
start or the end of the shot stays empty and is reported.
"""

from __future__ import annotations

import numpy as np

from ..errors import TrackingError
from ..face.align import TEMPLATE_68, fit_pose, from_face, normalise_shape, to_face

#: found frames beside a gap whose least-squares line gives its end slope.
SLOPE_FRAMES = 3


def gap_ranges(found: np.ndarray) -> list[tuple[int, int]]:
    """Inclusive ``(first, last)`` index ranges of the runs of False in (T,) ``found``."""
    missing = ~np.asarray(found, dtype=bool)
    edges = np.diff(np.concatenate([[0], missing.astype(np.int8), [0]]))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [(int(a), int(b) - 1) for a, b in zip(starts, stops)]


def _check(points: np.ndarray, found: np.ndarray, max_gap: int
           ) -> tuple[np.ndarray, np.ndarray]:
    arr = np.asarray(points, dtype=np.float64)
    if arr.ndim != 3 or arr.shape[1:] != (68, 2):
        raise TrackingError("fill_gaps points", "shape (T, 68, 2)", f"shape {arr.shape}",
                            "pass the 68 iBUG landmarks of every frame")
    mask = np.asarray(found)
    if mask.shape != (arr.shape[0],) or mask.dtype != bool:
        raise TrackingError("fill_gaps found", f"a bool array of shape ({arr.shape[0]},)",
                            f"{mask.dtype} of shape {mask.shape}",
                            "mark frames with a face True")
    if isinstance(max_gap, bool) or not isinstance(max_gap, (int, np.integer)) or max_gap < 0:
        raise TrackingError("fill_gaps max_gap", "a whole number of frames >= 0",
                            repr(max_gap), "set track.max_gap")
    bad = mask & ~np.isfinite(arr).all(axis=(1, 2))
    if bad.any():
        raise TrackingError("fill_gaps points", "finite landmarks on every found frame",
                            f"NaN or Inf on frames {np.flatnonzero(bad)[:10].tolist()}",
                            "mark those frames not found")
    return arr, mask


def _end_slope(pose: np.ndarray, found: np.ndarray, edge: int, step: int) -> np.ndarray | None:
    """(4,) pose change per frame at found frame ``edge``, from it and up to
    SLOPE_FRAMES - 1 contiguous found frames further away (``step`` -1: earlier,
    +1: later); None when ``edge`` stands alone."""
    frames = [edge]
    while len(frames) < SLOPE_FRAMES:
        nxt = frames[-1] + step
        if not 0 <= nxt < len(found) or not found[nxt]:
            break
        frames.append(nxt)
    if len(frames) < 2:
        return None
    times = np.array(frames, dtype=np.float64)
    values = pose[frames].copy()
    values[:, 3] = np.unwrap(values[:, 3])
    centred = times - times.mean()
    return (centred[:, None] * (values - values.mean(axis=0))).sum(axis=0) / (centred ** 2).sum()


def _hermite(p0: np.ndarray, m0: np.ndarray, p1: np.ndarray, m1: np.ndarray, span: float,
             u: np.ndarray) -> np.ndarray:
    """(K, D) cubic Hermite curve at ``u`` (K,) in [0, 1]; slopes are per frame."""
    u = u[:, None]
    h00 = 2 * u ** 3 - 3 * u ** 2 + 1
    h10 = u ** 3 - 2 * u ** 2 + u
    h01 = -2 * u ** 3 + 3 * u ** 2
    h11 = u ** 3 - u ** 2
    return h00 * p0 + h10 * span * m0 + h01 * p1 + h11 * span * m1


def fill_gaps(points: np.ndarray, found: np.ndarray, max_gap: int
              ) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]:
    """Fill gaps of up to ``max_gap`` frames between found frames.

    Args:
        points: (T, 68, 2) landmarks in pixels; frames not found may hold anything.
        found: (T,) bool, frames where the face was found.
        max_gap: longest gap, in frames, that is filled.

    Returns:
        points (T, 68, 2) float64 with short gaps filled (other frames as given),
        interpolated (T,) bool marking the filled frames, and the gaps left empty as
        inclusive ``(first, last)`` ranges: longer than ``max_gap`` or touching an end.
    """
    arr, mask = _check(points, found, max_gap)
    out = arr.copy()
    interpolated = np.zeros(len(arr), dtype=bool)
    long_gaps: list[tuple[int, int]] = []
    short: list[tuple[int, int]] = []
    for first, last in gap_ranges(mask):
        at_end = first == 0 or last == len(arr) - 1
        (long_gaps if at_end or last - first + 1 > max_gap else short).append((first, last))
    if not short:
        return out, interpolated, long_gaps

    reference = normalise_shape(TEMPLATE_68)
    pose = np.zeros((len(arr), 4))
    pose[mask] = fit_pose(arr[mask], reference)
    for first, last in short:
        before, after = first - 1, last + 1
        span = float(after - before)
        p0, p1 = pose[before].copy(), pose[after].copy()
        # Roll the short way round, whatever branch each side's angle came out on.
        p1[3] = p0[3] + np.angle(np.exp(1j * (p1[3] - p0[3])))
        chord = (p1 - p0) / span
        m0 = _end_slope(pose, mask, before, -1)
        m1 = _end_slope(pose, mask, after, +1)
        u = (np.arange(first, after) - before) / span
        gap_pose = _hermite(p0, chord if m0 is None else m0, p1,
                            chord if m1 is None else m1, span, u)
        shapes = to_face(arr[[before, after]], pose[[before, after]])
        local = (1.0 - u)[:, None, None] * shapes[0] + u[:, None, None] * shapes[1]
        out[first:after] = from_face(local, gap_pose)
        interpolated[first:after] = True
    return out, interpolated, long_gaps
