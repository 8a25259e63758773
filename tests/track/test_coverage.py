"""Coverage on synthetic heads with known pose and expression: what is flagged, and why."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vfx_double.errors import TrackingError
from vfx_double.track.coverage import (
    TOLERANCES,
    coverage,
    expression_measures,
    runs,
    shape_descriptor,
)
from vfx_double.track.measures import head_pose

from .synthetic_faces import head, project, track

ACTOR = list(range(1, 41))
#: an actor reference that talks (mouth 0-12 mm), blinks, and turns its head a little
ACTOR_MOUTH = [12.0 * abs(math.sin(i / 4)) for i in range(40)]
ACTOR_EYES = [0.9 if i % 13 == 0 else 0.0 for i in range(40)]
ACTOR_YAW = [8.0 * math.sin(i / 6) for i in range(40)]


@pytest.fixture(scope="module")
def actor():
    return track(ACTOR, mouth=ACTOR_MOUTH, eyes=ACTOR_EYES, yaw=ACTOR_YAW, name="actor")


def plate(n: int = 30, **changes: tuple[range, float]):
    """A plate inside the actor's range (mouth 6 mm, yaw 0), with ``changes`` as
    component=(frame indices, value)."""
    values = {"mouth": [6.0] * n, "eyes": [0.0] * n, "yaw": [0.0] * n}
    for name, (where, value) in changes.items():
        for i in where:
            values[name][i] = value
    return track(list(range(1001, 1001 + n)), **values)


def test_expression_measures_follow_the_mouth_and_lids() -> None:
    points = np.stack([project(head(mouth_mm=m, eyes_closed=c)) for m, c in
                       ((0, 0), (9, 0), (18, 0), (0, 0.5), (0, 1.0))])
    mouth, eyes = expression_measures(points)
    assert mouth.shape == eyes.shape == (5,)
    # The gap grows by the millimetres opened over the 90 mm eye distance.
    assert mouth[1] - mouth[0] == pytest.approx(9 / 90, rel=0.1)
    assert mouth[2] - mouth[0] == pytest.approx(18 / 90, rel=0.1)
    assert eyes[0] > 0.25 and eyes[3] == pytest.approx(eyes[0] / 2, rel=0.1) and eyes[4] < 0.05
    # Ratios: the same face moved, scaled and rolled on the plate measures the same.
    c, s = math.cos(0.4), math.sin(0.4)
    moved = points @ (1.7 * np.array([[c, s], [-s, c]])) + np.array([300.0, -80.0])
    np.testing.assert_allclose(expression_measures(moved).mouth, mouth, rtol=1e-9)
    with pytest.raises(TrackingError, match=r"\(N, 68, 2\)"):
        expression_measures(points[0])


def test_shape_descriptor_ignores_plate_position_scale_and_roll() -> None:
    t = track([1, 2], mouth=[0.0, 15.0])
    c, s = math.cos(0.3), math.sin(0.3)
    moved = t.points @ (0.6 * np.array([[c, s], [-s, c]])) + np.array([-200.0, 90.0])
    from vfx_double.face.align import align_matrix

    matrices = np.stack([align_matrix(p, 512, 0.8) for p in moved])
    a, b = shape_descriptor(t.points, t.matrices), shape_descriptor(moved, matrices)
    assert a.shape == (2, 42, 2)
    np.testing.assert_allclose(a, b, atol=1e-9)
    assert np.sqrt(((a[1] - a[0]) ** 2).sum(-1).mean()) > TOLERANCES["shape"]


def test_an_identical_set_is_fully_covered(actor) -> None:
    same = track(list(range(1001, 1041)), mouth=ACTOR_MOUTH, eyes=ACTOR_EYES, yaw=ACTOR_YAW)
    report = coverage(same, actor)
    assert report.ranges == [] and report.blips == []
    assert report.covered_count == 40
    assert np.nanmax(report.distance["combined"]) < 1e-6
    assert report.nearest == ACTOR
    assert report.lines() == ["coverage: actor reference covers 40/40 plate frames"]


def test_a_mouth_wider_than_any_actor_frame_is_flagged(actor) -> None:
    report = coverage(plate(mouth=(range(18, 30), 30.0)), actor)
    assert [(r.first, r.last) for r in report.ranges] == [(1019, 1030)]
    reason = report.ranges[0].reasons[0]
    assert reason.key == "mouth_above" and reason.frames == 12
    assert reason.text.startswith("mouth open wider than any actor frame (opening 0.")
    assert report.covered_count == 18
    assert report.lines()[1].startswith("  uncovered 1019-1030: mouth open wider than any")


def test_a_head_turned_beyond_the_actor_range_is_flagged(actor) -> None:
    report = coverage(plate(yaw=(range(10, 20), 35.0)), actor)
    assert [(r.first, r.last) for r in report.ranges] == [(1011, 1020)]
    reason = report.ranges[0].reasons[0]
    assert reason.key == "yaw_above"
    yaw_max = max(head_pose(project(head(m, e), y), (1920, 1080))[0]
                  for m, e, y in zip(ACTOR_MOUTH, ACTOR_EYES, ACTOR_YAW))
    assert reason.text.startswith("head turned further towards image left than any actor "
                                  "frame (yaw +")
    assert f"vs max {yaw_max:+.0f})" in reason.text
    turned = coverage(plate(yaw=(range(10, 20), -35.0)), actor)
    assert turned.ranges[0].reasons[0].key == "yaw_below"
    assert "towards image right" in turned.ranges[0].reasons[0].text


def test_eyes_more_closed_than_any_actor_frame_are_flagged() -> None:
    open_eyed = track(ACTOR, mouth=ACTOR_MOUTH, yaw=ACTOR_YAW, name="actor")
    report = coverage(plate(eyes=(range(5, 12), 1.0)), open_eyed)
    assert [(r.first, r.last) for r in report.ranges] == [(1006, 1012)]
    assert report.ranges[0].reasons[0].key == "eyes_below"
    assert report.ranges[0].reasons[0].text.startswith("eyes more closed than any actor frame")


def test_runs_merge_short_gaps_and_drop_blips() -> None:
    over = np.array([0, 1, 0, 0, 0, 1, 1, 0, 1, 1, 0, 0, 0, 1, 1], dtype=bool)
    assert runs(over, merge_gap=1, min_run=3) == ([(5, 9)], [1, 13, 14])
    assert runs(over, merge_gap=0, min_run=2) == ([(5, 6), (8, 9), (13, 14)], [1])


def test_a_one_frame_blip_is_ignored(actor) -> None:
    report = coverage(plate(mouth=(range(7, 8), 30.0)), actor)
    assert report.ranges == [] and report.blips == [1008]
    assert report.lines() == ["coverage: actor reference covers 30/30 plate frames "
                              "(1 one-off frame over tolerance ignored)"]


def test_no_face_and_interpolated_frames_neither_make_nor_break_a_range(actor) -> None:
    flags = {1015: ["no_face"], 1017: ["interpolated"], 1003: ["interpolated"]}
    wide = plate(mouth=(range(12, 20), 30.0))
    t = track(wide.frames, mouth=[6.0] * 12 + [30.0] * 8 + [6.0] * 10, flags=flags)
    report = coverage(t, actor)
    assert [(r.first, r.last, r.frames) for r in report.ranges] == [(1013, 1020, 6)]
    i = t.frames.index(1015)
    assert math.isnan(report.distance["combined"][i]) and report.nearest[i] is None
    assert not math.isnan(report.distance["combined"][t.frames.index(1017)])
    assert report.lines()[0] == ("coverage: actor reference covers 21/27 plate frames "
                                 "(2 interpolated not counted; 1 no-face not counted)")


def test_only_the_actor_frames_the_faceset_kept_count(actor) -> None:
    wide_actor = track(ACTOR, mouth=[0.0] * 39 + [30.0], name="actor")
    wide = track(list(range(1001, 1031)), mouth=[0.0] * 10 + [30.0] * 10 + [0.0] * 10)
    assert coverage(wide, wide_actor).ranges == []
    report = coverage(wide, wide_actor, actor_used=set(ACTOR[:-1]))
    assert report.ranges[0].reasons[0].key == "mouth_above" and report.actor["used"] == 39
    with pytest.raises(TrackingError, match="at least one tracked actor frame"):
        coverage(wide, actor, actor_used=set())


def test_tolerances_must_name_every_component(actor) -> None:
    with pytest.raises(TrackingError, match="a positive value for each of pose, mouth"):
        coverage(plate(), actor, tolerances={"pose": 10.0, "mouth": 0.05})
    with pytest.raises(TrackingError, match="a positive value"):
        coverage(plate(), actor, tolerances={**TOLERANCES, "eyes": 0.0})
