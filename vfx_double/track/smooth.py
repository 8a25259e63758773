"""Offline, zero-lag smoothing of a 68-point track: the face must not swim, yet blinks,
lip motion and quick moves of head or camera survive.

1. Head pose per frame: a similarity fitted on the stable nose and eye-corner points
   against the shot's mean shape (centre, log scale, roll; ``align.fit_pose``).
2. The pose is smoothed (below), then every point is taken into the face frame of the
   smoothed pose, where a camera move or head turn no longer shows and what is left is
   expression plus noise.
3. Each face-frame coordinate is smoothed the same way, with narrower kernels, and the
   result goes back through the smoothed pose.

The smoother is local quadratic regression with Gaussian kernels and a bandwidth chosen
per frame and per signal by the intersection of confidence intervals (LPA-ICI,
Katkovnik): of a ladder of kernels, from none (the sample itself) up to
``strength * POSE_SECONDS`` (pose) or ``strength * RESIDUAL_SECONDS`` (face frame), it
takes the widest whose estimate still agrees, within ``gamma`` standard deviations, with
every narrower one. Still stretches get the widest kernel; a blink, a syllable or a whip
pan get narrow ones, so they are neither flattened nor smeared. Symmetric kernels have no
lag; a local quadratic follows eases and pans; at the ends of the shot the windows are
one-sided fits, not reflections, so the ends are not biased. The chosen bandwidths are
eroded and blurred over a few frames, since switching kernels from frame to frame would
itself jitter.

Noise levels come from the track: a robust spread (median absolute deviation) of each
signal's second differences. The pose's is capped at ``SWIM_ALLOWANCE`` times what the
nose and eye corners' own noise in the face frame implies, because on a short shot a
fast camera move would otherwise pass for noise. Frames marked invalid are never used
and never reached across: each run of valid frames is smoothed as its own shot, and
invalid frames come back unchanged.

Measured at strength 0.5, with
mediapipe 0.10.21 and ``ibug68.to_ibug68`` on the 30 fps talking heads in
``../shared/data/video``: jitter 0.41x raw on ``lp_d3`` (raw 0.0069 eye distances) and
0.39x on ``lp_d18``, the inner-lip opening (62-66) changed by under 2% of its spread.
Synthetic camera moves with 0.75% jitter: jitter 0.08x, RMS error 0.43x raw, no lag.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import TrackingError
from ..face.align import STABLE_POINTS, fit_pose, from_face, mean_shape, to_face
from ..face.ibug68 import OUTER_EYE_CORNERS

#: widest pose kernel (Gaussian sigma, seconds) at strength 1.
POSE_SECONDS = 0.5
#: widest face-frame kernel (Gaussian sigma, seconds) at strength 1.
RESIDUAL_SECONDS = 0.3
#: ICI threshold for the pose, in standard deviations of the estimates.
POSE_GAMMA = 2.5
#: ICI threshold for the face frame; tighter, so expression is kept before noise is cut.
RESIDUAL_GAMMA = 1.5
#: narrowest kernel on the ladder, in frames; below it the ladder steps to no smoothing.
#: Each rung is sqrt(2) wider than the one before, which in the open cuts an estimate's
#: noise to about 0.84 of it.
MIN_SIGMA_FRAMES = 0.7
#: a rung is used only where its noise is below this fraction of every narrower rung's.
RUNG_NOISE_CUT = 0.9
#: the chosen bandwidth index is eroded over +-ERODE_FRAMES (a quick move nearby wins)
#: and then blurred with this Gaussian sigma, in frames.
ERODE_FRAMES = 1
CHOICE_SIGMA_FRAMES = 2.0
#: the pose's noise level may exceed what the stable points' own noise implies by this
#: factor (detectors swim as a whole), but no more: a fast camera move on a short shot
#: would otherwise read as noise.
SWIM_ALLOWANCE = 3.0
#: noise floor in eye-distance units (and log scale, radians): a noise-free track then
#: comes back as it went in instead of dividing by zero.
NOISE_FLOOR = 1e-6
#: frames per block when building (frames, window) arrays; bounds memory on long shots.
_BLOCK = 512


def _check(points: np.ndarray, valid: np.ndarray | None, where: str
           ) -> tuple[np.ndarray, np.ndarray]:
    arr = np.asarray(points, dtype=np.float64)
    if arr.ndim != 3 or arr.shape[1:] != (68, 2):
        raise TrackingError(where, "points of shape (T, 68, 2)", f"shape {arr.shape}",
                            "pass the 68 iBUG landmarks of every frame")
    if valid is None:
        mask = np.ones(arr.shape[0], dtype=bool)
    else:
        mask = np.asarray(valid)
        if mask.shape != (arr.shape[0],) or mask.dtype != bool:
            raise TrackingError(where, f"valid as a bool array of shape ({arr.shape[0]},)",
                                f"{mask.dtype} of shape {mask.shape}",
                                "mark frames with usable landmarks True")
    bad = mask & ~np.isfinite(arr).all(axis=(1, 2))
    if bad.any():
        raise TrackingError(where, "finite landmarks on every valid frame",
                            f"NaN or Inf on frames {np.flatnonzero(bad)[:10].tolist()}",
                            "mark those frames invalid")
    return arr, mask


def jitter(points: np.ndarray, valid: np.ndarray | None = None) -> float:
    """Mean |second difference| of the 68 points over runs of three valid frames,
    divided by the mean outer-eye-corner (36-45) distance. Shapes: (T, 68, 2), (T,)."""
    arr, mask = _check(points, valid, "jitter")
    triple = mask[:-2] & mask[1:-1] & mask[2:]
    if not triple.any():
        raise TrackingError("jitter", "three consecutive valid frames",
                            f"{int(mask.sum())} valid frames, never three in a row",
                            "measure a longer stretch of track")
    second = arr[:-2] - 2.0 * arr[1:-1] + arr[2:]
    step = np.linalg.norm(second[triple], axis=-1).mean()
    eye = np.linalg.norm(arr[mask, OUTER_EYE_CORNERS[1]] - arr[mask, OUTER_EYE_CORNERS[0]],
                         axis=-1).mean()
    return float(step / eye)


def noise_levels(y: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(C,) robust noise sigma of each column of (T, C) ``y``.

    White noise of sigma s has second differences of sigma s * sqrt(6); the median
    absolute deviation ignores the few large steps real motion makes.
    """
    triple = valid[:-2] & valid[1:-1] & valid[2:]
    if not triple.any():
        return np.full(y.shape[1], NOISE_FLOOR)
    second = (y[:-2] - 2.0 * y[1:-1] + y[2:])[triple]
    mad = np.median(np.abs(second - np.median(second, axis=0)), axis=0)
    return np.maximum(1.4826 * mad / math.sqrt(6.0), NOISE_FLOOR)


def _window(valid: np.ndarray, targets: np.ndarray, half: int
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Offsets (W,), sample indices (B, W) and a mask (B, W) of the samples a window
    around each of ``targets`` may use: inside the shot, valid, and not beyond an
    invalid frame."""
    offsets = np.arange(-half, half + 1)
    idx = targets[:, None] + offsets
    clipped = np.clip(idx, 0, len(valid) - 1)
    run = np.cumsum(~valid)            # frames of one run of valid frames share an id
    inside = (idx == clipped) & valid[clipped] & (run[clipped] == run[targets, None])
    return offsets, clipped, inside


def _gaussian_window(valid: np.ndarray, targets: np.ndarray, sigma: float
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Offsets (W,), sample indices (B, W) and Gaussian weights (B, W), zero where the
    window may not reach."""
    offsets, idx, inside = _window(valid, targets, max(1, math.ceil(3.0 * sigma)))
    return offsets, idx, np.exp(-0.5 * (offsets / sigma) ** 2) * inside


def local_quadratic_fits(y: np.ndarray, valid: np.ndarray, sigmas: np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Local quadratic estimates of (T, C) ``y`` for each Gaussian sigma (J,) in frames.

    Returns:
        estimates (J, T, C) and the norm (J, T) of each estimate's weights on the
        samples, so that ``noise * norm`` is the estimate's standard deviation.
    """
    t_count = len(y)
    est = np.empty((len(sigmas),) + y.shape)
    norms = np.empty((len(sigmas), t_count))
    for j, sigma in enumerate(sigmas):
        for start in range(0, t_count, _BLOCK):
            targets = np.arange(start, min(start + _BLOCK, t_count))
            offsets, idx, base = _gaussian_window(valid, targets, sigma)
            basis = (offsets / sigma)[:, None] ** np.arange(3)              # (W, 3)
            moments = np.einsum("bw,wp,wq->bpq", base, basis, basis)
            # A one-sided or nearly empty window cannot pin the slope and curvature; a
            # tiny ridge on them keeps it solvable and leaves the level to the data (the
            # 1e-12 only matters for an invalid frame's empty window).
            ridge = 1e-6 * moments[:, :1, :1] * np.diag([0.0, 1.0, 1.0]) + 1e-12 * np.eye(3)
            hat = np.linalg.solve(moments + ridge, basis.T[None] * base[:, None, :])[:, 0]
            est[j, targets] = np.einsum("bw,bwc->bc", hat, y[idx])
            norms[j, targets] = np.linalg.norm(hat, axis=1)
    return est, norms


def _smooth_choice(choice: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(T, C) bandwidth indices eroded over +-ERODE_FRAMES, then Gaussian-blurred, both
    within runs of valid frames."""
    targets = np.arange(len(choice))
    _, idx, inside = _window(valid, targets, ERODE_FRAMES)
    near = np.where(inside[..., None], choice[idx], np.inf)
    eroded = np.minimum(near.min(axis=1), choice)
    _, idx, weights = _gaussian_window(valid, targets, CHOICE_SIGMA_FRAMES)
    total = weights.sum(axis=1, keepdims=True)
    blurred = np.einsum("tw,twc->tc", weights / np.where(total > 0, total, 1.0), eroded[idx])
    return np.where(total > 0, blurred, eroded)


def ici_smooth(y: np.ndarray, valid: np.ndarray, sigma_max: float, noise: np.ndarray,
               gamma: float) -> np.ndarray:
    """Adaptive local quadratic smoothing of (T, C) ``y``, per frame and column.

    Args:
        y: (T, C) signals.
        valid: (T,) frames that are data.
        sigma_max: widest Gaussian kernel sigma, in frames.
        noise: (C,) noise sigma of each column.
        gamma: ICI threshold in standard deviations; smaller keeps more detail.

    Returns:
        (T, C) estimates; invalid frames keep their input.
    """
    steps = max(0, math.floor(2.0 * math.log2(sigma_max / MIN_SIGMA_FRAMES)) + 1)
    sigmas = sigma_max * 2.0 ** (-0.5 * np.arange(steps)[::-1])
    est, norms = local_quadratic_fits(y, valid, sigmas)
    est = np.concatenate([y[None], est])             # rung 0: the sample itself
    norms = np.concatenate([np.ones((1, len(y))), norms])
    spread = gamma * norms[..., None] * noise
    lower = np.maximum.accumulate(est - spread, axis=0)
    upper = np.minimum.accumulate(est + spread, axis=0)
    # A wider rung only counts where it averages more samples: in a short run or
    # against an end of the shot it adds bias and takes little noise away.
    quieter = norms[1:] < RUNG_NOISE_CUT * np.minimum.accumulate(norms, axis=0)[:-1]
    usable = np.concatenate([np.ones((1, len(y)), dtype=bool), quieter])[..., None]
    choice = np.logical_and.accumulate((lower <= upper) & usable, axis=0).sum(axis=0) - 1.0
    choice = _smooth_choice(np.maximum(choice, 0.0), valid)
    # A fractional index blends the two neighbouring rungs, so the estimate slides
    # between bandwidths instead of jumping.
    low = np.clip(np.floor(choice).astype(int), 0, len(est) - 1)
    high = np.minimum(low + 1, len(est) - 1)
    frac = choice - low
    out = ((1.0 - frac) * np.take_along_axis(est, low[None], axis=0)[0]
           + frac * np.take_along_axis(est, high[None], axis=0)[0])
    out[~valid] = y[~valid]
    return out


def _pose_noise_from_points(points: np.ndarray, pose: np.ndarray, reference: np.ndarray,
                            valid: np.ndarray) -> np.ndarray:
    """(4,) noise of the fitted pose (centre in eye distances, log scale, roll) implied by
    the stable points' own noise, measured in the face frame, where no camera move shows."""
    local = np.zeros_like(points)
    local[valid] = to_face(points[valid], pose[valid])
    point = float(np.median(noise_levels(local[:, STABLE_POINTS].reshape(len(points), -1),
                                         valid)))
    # Least squares over n points: the centre averages them, scale and roll are weighed
    # by the points' spread about it.
    spread = float(np.sqrt((reference[STABLE_POINTS] ** 2).sum()))
    count = math.sqrt(len(STABLE_POINTS))
    return np.array([point / count, point / count, point / spread, point / spread])


def smooth_landmarks(points: np.ndarray, strength: float, valid: np.ndarray | None = None,
                     fps: float = 24.0) -> np.ndarray:
    """(T, 68, 2) smoothed landmarks of a whole shot (float64).

    Args:
        points: (T, 68, 2) landmarks in pixels; invalid frames may hold anything.
        strength: in [0, 1]; 0 returns the input, higher lets the kernels grow wider.
        valid: (T,) bool, frames with usable landmarks (found or interpolated); None
            means all. Invalid frames split the shot and come back unchanged.
        fps: the plate's frame rate; kernel widths are set in seconds.
    """
    arr, mask = _check(points, valid, "smooth_landmarks")
    if not 0.0 <= strength <= 1.0:
        raise TrackingError("smooth_landmarks strength", "a number in [0, 1]", repr(strength),
                            "set track.smoothing; 0 turns smoothing off")
    if not (fps > 0.0 and math.isfinite(fps)):
        raise TrackingError("smooth_landmarks fps", "a positive frame rate", repr(fps),
                            "pass the plate's frames per second")
    pose_sigma = strength * POSE_SECONDS * fps
    residual_sigma = strength * RESIDUAL_SECONDS * fps
    if mask.sum() < 3 or max(pose_sigma, residual_sigma) < MIN_SIGMA_FRAMES:
        return arr.copy()

    reference = mean_shape(arr[mask])
    raw_pose = np.zeros((len(arr), 4))
    raw_pose[mask] = fit_pose(arr[mask], reference)
    raw_pose[mask, 3] = np.unwrap(raw_pose[mask, 3])
    # The centre in eye distances, like log scale, roll and the face frame, so that one
    # noise floor suits every signal.
    scale = float(np.exp(raw_pose[mask, 2].mean()))
    unit = np.array([scale, scale, 1.0, 1.0])
    pose = raw_pose / unit
    implied = _pose_noise_from_points(arr, raw_pose, reference, mask)
    pose_noise = np.minimum(noise_levels(pose, mask), SWIM_ALLOWANCE * implied)
    pose = ici_smooth(pose, mask, pose_sigma, pose_noise, POSE_GAMMA) * unit

    local = np.zeros_like(arr)
    local[mask] = to_face(arr[mask], pose[mask])
    flat = local.reshape(len(arr), -1)
    # One noise level for the face frame (per-coordinate ones only where lower): lips
    # that move all the time would otherwise pass for noisy and be flattened.
    noise = noise_levels(flat, mask)
    noise = np.minimum(noise, np.median(noise))
    local = ici_smooth(flat, mask, residual_sigma, noise, RESIDUAL_GAMMA).reshape(arr.shape)
    out = arr.copy()
    out[mask] = from_face(local[mask], pose[mask])
    return out
