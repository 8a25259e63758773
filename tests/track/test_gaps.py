"""Gaps: short ones filled as a moving face, long ones and the shot's ends reported."""

from __future__ import annotations

import numpy as np
import pytest

from vfx_double.errors import TrackingError
from vfx_double.face.align import TEMPLATE_68, from_face, normalise_shape
from vfx_double.track.gaps import fill_gaps, gap_ranges


def face_track(pose: np.ndarray) -> np.ndarray:
    """(T, 68, 2) template face carried by pose (T, 4): cx, cy, log scale, roll."""
    shape = normalise_shape(TEMPLATE_68)
    return from_face(np.repeat(shape[None], len(pose), axis=0), pose)


def steady_turn(frames: int = 40) -> np.ndarray:
    """Constant drift, growth and a 3-degree-per-frame roll: linear in pose."""
    t = np.arange(frames, dtype=np.float64)
    return face_track(np.stack([500 + 6.0 * t, 300 - 2.0 * t, np.log(120.0) + 0.01 * t,
                                np.radians(3.0) * t], axis=-1))


def eye_distance(points: np.ndarray) -> np.ndarray:
    return np.linalg.norm(points[..., 45, :] - points[..., 36, :], axis=-1)


def test_gap_ranges_are_inclusive() -> None:
    found = np.array([True, True, False, False, True, False, True])
    assert gap_ranges(found) == [(2, 3), (5, 5)]
    assert gap_ranges(np.ones(4, dtype=bool)) == []
    assert gap_ranges(np.zeros(4, dtype=bool)) == [(0, 3)]
    assert gap_ranges(np.array([False, True, False])) == [(0, 0), (2, 2)]


def test_a_short_gap_is_filled_as_the_face_moved() -> None:
    truth = steady_turn()
    found = np.ones(len(truth), dtype=bool)
    found[12:20] = False                              # 8 frames, 24 degrees of roll
    points = truth.copy()
    points[~found] = np.nan
    filled, interpolated, long_gaps = fill_gaps(points, found, max_gap=8)
    assert long_gaps == []
    assert np.array_equal(interpolated, ~found)
    assert np.allclose(filled, truth, atol=1e-6)
    # straight lines point by point would have shrunk the turning face by ~3%
    linear = np.linspace(truth[11], truth[20], 10)[1:-1]
    assert (eye_distance(linear) / eye_distance(truth[12:20])).min() < 0.975


def test_a_gap_on_an_eased_move_is_smooth_and_close() -> None:
    t = np.arange(60, dtype=np.float64)
    e = np.clip(t / 59.0, 0.0, 1.0) ** 2 * (3 - 2 * np.clip(t / 59.0, 0.0, 1.0))
    truth = face_track(np.stack([400 + 500 * e, 300 + 100 * e, np.log(150.0) + 0.3 * e,
                                 np.radians(20.0) * e], axis=-1))
    found = np.ones(60, dtype=bool)
    found[25:31] = False
    filled, interpolated, _ = fill_gaps(truth, found, max_gap=8)
    assert interpolated[25:31].all()
    error = np.linalg.norm(filled - truth, axis=-1).max()
    assert error < 0.01 * eye_distance(truth).mean()
    # no kink where the filled frames join the found ones
    speed = np.linalg.norm(np.diff(filled[:, 30], axis=0), axis=-1)
    assert np.abs(np.diff(speed[20:35])).max() < 0.05 * speed[20:35].mean()


def test_the_face_frame_shape_is_blended_across_the_gap() -> None:
    truth = steady_turn(20)
    shape = normalise_shape(TEMPLATE_68)
    local = np.repeat(shape[None], 20, axis=0)
    local[10:, 57, 1] += 0.2                          # the mouth is open after the gap
    pose = np.stack([np.full(20, 300.0), np.full(20, 200.0), np.full(20, np.log(100.0)),
                     np.zeros(20)], axis=-1)
    points = from_face(local, pose)
    found = np.ones(20, dtype=bool)
    found[7:10] = False                               # frames 6 and 10 are the sides
    filled, _, _ = fill_gaps(points, found, max_gap=3)
    drop = filled[7:10, 57, 1] - points[6, 57, 1]
    assert np.allclose(drop, [5.0, 10.0, 15.0])      # a quarter, a half, three quarters of 20 px
    assert truth.shape == filled.shape


def test_a_long_gap_is_reported_and_left_empty() -> None:
    truth = steady_turn()
    found = np.ones(len(truth), dtype=bool)
    found[10:22] = False
    found[30:33] = False
    points = truth.copy()
    points[~found] = np.nan
    filled, interpolated, long_gaps = fill_gaps(points, found, max_gap=8)
    assert long_gaps == [(10, 21)]
    assert not interpolated[10:22].any() and np.isnan(filled[10:22]).all()
    assert interpolated[30:33].all() and np.isfinite(filled[30:33]).all()


def test_the_shot_ends_are_not_extrapolated() -> None:
    truth = steady_turn()
    found = np.ones(len(truth), dtype=bool)
    found[:2] = False
    found[-3:] = False
    points = truth.copy()
    points[~found] = np.nan
    filled, interpolated, long_gaps = fill_gaps(points, found, max_gap=8)
    assert long_gaps == [(0, 1), (37, 39)]
    assert not interpolated.any()
    assert np.isnan(filled[:2]).all() and np.isnan(filled[-3:]).all()
    assert np.array_equal(filled[found], truth[found])


def test_max_gap_zero_fills_nothing_and_no_face_at_all_is_one_long_gap() -> None:
    truth = steady_turn(10)
    found = np.ones(10, dtype=bool)
    found[4] = False
    _, interpolated, long_gaps = fill_gaps(truth, found, max_gap=0)
    assert not interpolated.any() and long_gaps == [(4, 4)]
    _, interpolated, long_gaps = fill_gaps(truth, np.zeros(10, dtype=bool), max_gap=8)
    assert not interpolated.any() and long_gaps == [(0, 9)]


def test_a_single_found_frame_beside_the_gap_gives_a_straight_move() -> None:
    truth = steady_turn(7)
    found = np.array([True, False, False, True, False, True, True])
    filled, interpolated, long_gaps = fill_gaps(truth, found, max_gap=2)
    assert long_gaps == [] and interpolated.sum() == 3
    assert np.allclose(filled, truth, atol=1e-6)


@pytest.mark.parametrize("max_gap", [-1, 2.5, True])
def test_fill_gaps_rejects_a_bad_max_gap(max_gap: object) -> None:
    with pytest.raises(TrackingError, match="max_gap"):
        fill_gaps(steady_turn(5), np.ones(5, dtype=bool), max_gap)  # type: ignore[arg-type]


def test_fill_gaps_rejects_bad_points_and_flags() -> None:
    points = steady_turn(5)
    with pytest.raises(TrackingError, match="found"):
        fill_gaps(points, np.ones(5), 2)
    with pytest.raises(TrackingError, match=r"\(T, 68, 2\)"):
        fill_gaps(points[:, :60], np.ones(5, dtype=bool), 2)
    points[2, 0] = np.nan
    with pytest.raises(TrackingError, match="frames \\[2\\]"):
        fill_gaps(points, np.ones(5, dtype=bool), 2)
