"""Smoothing on synthetic tracks whose true motion is known: a face carried by a camera
move (pan, push-in, roll, eased in and out) plus detector-like jitter."""

from __future__ import annotations

import numpy as np
import pytest

from vfx_double.errors import TrackingError
from vfx_double.face.align import TEMPLATE_68
from vfx_double.track.smooth import jitter, smooth_landmarks

EYE_PX = 100.0
UPPER_LIDS, LOWER_LIDS = [37, 38, 43, 44], [41, 40, 47, 46]


def ease(u: np.ndarray) -> np.ndarray:
    u = np.clip(u, 0.0, 1.0)
    return u * u * (3.0 - 2.0 * u)


def camera_move(frames: int = 96, start: int = 10, length: int = 76,
                moving_at_ends: bool = False) -> np.ndarray:
    """(T, 68, 2) true track: 300 px pan, 40% push-in and 12 degrees roll."""
    t = np.arange(frames, dtype=np.float64)
    if moving_at_ends:   # the shot cuts in and out mid-move
        e = 0.5 - 0.5 * np.cos(np.pi * (t + 20.0) / (frames + 40.0))
    else:
        e = ease((t - start) / length)
    face = (TEMPLATE_68 - 0.5) * (EYE_PX / np.linalg.norm(TEMPLATE_68[45] - TEMPLATE_68[36]))
    roll = np.radians(12.0) * e
    c, s = np.cos(roll), np.sin(roll)
    rotation = np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)
    points = (1.0 + 0.4 * e)[:, None, None] * np.einsum("tij,nj->tni", rotation, face)
    return points + np.stack([600.0 + 300.0 * e, 400.0 + 90.0 * e], -1)[:, None, :]


def noisy(truth: np.ndarray, seed: int, level: float = 0.0075) -> np.ndarray:
    """``truth`` plus Gaussian jitter of ``level`` eye distances per coordinate."""
    return truth + np.random.default_rng(seed).normal(0.0, level * EYE_PX, truth.shape)


def rms(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(((a - b) ** 2).sum(-1).mean()))


def best_lag(smoothed: np.ndarray, truth: np.ndarray, reach: int = 5) -> int:
    """Lag at which the smoothed x-velocity correlates best with the true one."""
    v_s = np.diff(smoothed[:, :, 0].mean(axis=1))
    v_t = np.diff(truth[:, :, 0].mean(axis=1))
    scores = [np.corrcoef(np.roll(v_s, lag)[reach:-reach], v_t[reach:-reach])[0, 1]
              for lag in range(-reach, reach + 1)]
    return int(np.argmax(scores)) - reach


@pytest.mark.parametrize("level", [0.005, 0.01])
def test_jitter_halves_without_lag_and_error_drops(level: float) -> None:
    truth = camera_move()
    raw = noisy(truth, seed=1, level=level)
    smoothed = smooth_landmarks(raw, 0.5, fps=24.0)
    assert jitter(smoothed) <= 0.5 * jitter(raw)
    assert rms(smoothed, truth) < rms(raw, truth)
    assert best_lag(smoothed, truth) == 0


@pytest.mark.parametrize("length", [8, 24])
def test_quick_camera_moves_are_followed(length: int) -> None:
    truth = camera_move(start=40, length=length)
    raw = noisy(truth, seed=2)
    for strength in (0.5, 1.0):
        smoothed = smooth_landmarks(raw, strength, fps=24.0)
        assert rms(smoothed, truth) < rms(raw, truth)
        assert best_lag(smoothed, truth) == 0


def test_ends_are_not_biased() -> None:
    truth = camera_move(moving_at_ends=True)
    # Noise free, the shot cut mid-move: nothing to remove, so nothing may move, ends
    # included (a reflect-padded filter would pull them back).
    assert np.abs(smooth_landmarks(truth, 1.0) - truth).max() < 1e-3 * EYE_PX
    errors = np.stack([smooth_landmarks(noisy(truth, seed), 0.5) - truth for seed in range(8)])
    for end in (slice(0, 5), slice(-5, None)):
        assert np.abs(errors[:, end].mean(axis=(0, 1, 2))).max() < 0.002 * EYE_PX


def close_eyes(track: np.ndarray, frames: list[int], amounts: list[float]) -> np.ndarray:
    out = track.copy()
    for frame, amount in zip(frames, amounts):
        out[frame, UPPER_LIDS] += amount * (out[frame, LOWER_LIDS] - out[frame, UPPER_LIDS])
    return out


def lid_gap(track: np.ndarray, frame: int) -> float:
    return float(np.linalg.norm(track[frame, UPPER_LIDS] - track[frame, LOWER_LIDS],
                                axis=-1).mean())


@pytest.mark.parametrize("amounts", [[0.5, 1.0, 1.0, 0.5], [0.6, 1.0, 0.6]])
@pytest.mark.parametrize("seed", [3, 4])
def test_a_blink_survives(amounts: list[float], seed: int) -> None:
    frames = list(range(49, 49 + len(amounts)))
    middle = frames[len(frames) // 2]
    raw = noisy(close_eyes(camera_move(), frames, amounts), seed)
    smoothed = smooth_landmarks(raw, 0.5, fps=24.0)
    open_raw = np.mean([lid_gap(raw, f) for f in range(30, 45)])
    open_smooth = np.mean([lid_gap(smoothed, f) for f in range(30, 45)])
    depth_raw = open_raw - lid_gap(raw, middle)
    depth_smooth = open_smooth - lid_gap(smoothed, middle)
    assert depth_smooth >= 0.7 * depth_raw


def test_strength_zero_returns_the_input() -> None:
    raw = noisy(camera_move(), seed=5)
    out = smooth_landmarks(raw, 0.0)
    assert np.array_equal(out, raw) and out is not raw


def test_invalid_frames_do_not_pull_the_track() -> None:
    truth = camera_move()
    raw = noisy(truth, seed=6)
    valid = np.ones(len(raw), dtype=bool)
    valid[[20, 21, 22, 60]] = False
    garbage = raw.copy()
    garbage[~valid] = 0.0
    other = raw.copy()
    other[~valid] = np.nan
    a = smooth_landmarks(garbage, 0.5, valid=valid)
    b = smooth_landmarks(other, 0.5, valid=valid)
    assert np.array_equal(a[valid], b[valid])          # what the flagged frames hold is unused
    assert np.array_equal(a[~valid], garbage[~valid])  # and they come back as they were
    assert rms(a[valid], truth[valid]) < rms(raw[valid], truth[valid])
    near = [18, 19, 23, 24, 59, 61]
    assert rms(a[near], truth[near]) < 1.5 * rms(raw[near], truth[near])


def test_jitter_measures_second_differences_over_eye_distance() -> None:
    still = np.repeat((TEMPLATE_68 * 200.0)[None], 10, axis=0)
    assert jitter(still) == 0.0
    shaken = still.copy()
    shaken[1::2] += [1.5, 0.0]                      # +-1.5 px alternate: |2nd diff| = 3 px
    eye = np.linalg.norm(still[0, 45] - still[0, 36])
    assert jitter(shaken) == pytest.approx(3.0 / eye)
    valid = np.ones(10, dtype=bool)
    valid[[2, 5, 8]] = False                        # no three valid frames in a row
    with pytest.raises(TrackingError, match="three consecutive"):
        jitter(shaken, valid)


@pytest.mark.parametrize("kwargs, match", [
    ({"strength": 1.5}, "strength"), ({"strength": -0.1}, "strength"), ({"fps": 0.0}, "fps"),
    ({"valid": np.ones(5, dtype=bool)}, "valid"), ({"valid": np.ones(96)}, "valid"),
])
def test_smooth_rejects_bad_arguments(kwargs: dict, match: str) -> None:
    args = {"points": camera_move(), "strength": 0.5} | kwargs
    with pytest.raises(TrackingError, match=match):
        smooth_landmarks(**args)


def test_smooth_rejects_bad_points() -> None:
    with pytest.raises(TrackingError, match=r"\(T, 68, 2\)"):
        smooth_landmarks(np.zeros((10, 5, 2)), 0.5)
    points = camera_move()
    points[7, 3] = np.nan
    with pytest.raises(TrackingError, match="frames \\[7\\]"):
        smooth_landmarks(points, 0.5)


@pytest.mark.parametrize("seed", [7, 8])
def test_a_short_shot_with_a_fast_move_is_not_flattened(seed: int) -> None:
    # Six frames, a 170 px eased move with push-in and roll, a precise detector: the move
    # must not pass for noise (its second differences dwarf the detector's).
    truth = camera_move(frames=6, start=0, length=5)
    raw = noisy(truth, seed, level=0.0025)
    smoothed = smooth_landmarks(raw, 0.5, fps=24.0)
    assert rms(smoothed, truth) <= rms(raw, truth)
