"""Expression and pose coverage: which plate frames the actor reference has no example of.

A face model renders poses and expressions it was trained on; asked for a mouth opened
wider, or a head turned further, than anything in the actor's faceset, it invents. So at
track time every plate frame is compared with every actor frame the faceset kept, in four
components, and the distance to the nearest actor frame is kept per component:

- ``pose``: yaw and pitch (``faceset.head_pose``), degrees, Euclidean. Roll is recorded
  but not counted: the crop's similarity alignment turns every face upright, so the model
  never sees roll.
- ``mouth``, ``eyes``: ``expression_measures``, fractions of the eye distance / eye width.
- ``shape``: ``shape_descriptor``, brows, eyes and lips after the crop alignment, RMS in
  eye distances: expressions the two openings miss (a smile, a frown, a wink, a sneer).

Each component over its tolerance (``TOLERANCES``) is one unit; the combined distance is
the nearest actor frame by the worst of its components (``max_c d_c / tol_c``), so
"covered" (combined <= 1) means one actor frame is within tolerance on all four at once.
The tolerances are for any shot, not tuned on one clip:

- pose 10 degrees: the generic-head estimate is itself off by a median 2 and up to 9
  degrees with FaceMesh-sized landmark error (``tests/track/test_faceset.py``), so a
  tighter tolerance flags the estimator; face models reproduce a few degrees past their
  training poses, not 15.
- mouth 0.05 of the outer-eye-corner distance (~5 mm on an adult): the step from lips
  parted to teeth showing; past it the model has to invent teeth, tongue and mouth interior.
- eyes 0.08 of the eye width: about a quarter of the lid travel from open (~0.3) to
  closed (~0.05), a lid position the eye visibly reads as different.
- shape 0.05 eye distances RMS over 42 points: several times the tracker's frame-to-frame
  jitter (0.0066 on lp_d3) and the size of a clear brow raise or lip-corner pull (~5 mm).

Which frames count: plate and actor frames where the face was found. Interpolated plate
frames (short gaps filled by tracking) are measured and plotted but neither make nor
break a range; no-face frames have no measures. Actor frames count only if the faceset
kept their crop (not blurred, not low confidence, not interpolated): those are what the
model trains on. Over-tolerance frames separated by at most ``MERGE_GAP`` counted frames
make one range, and ranges with fewer than ``MIN_RUN`` over-tolerance frames (a tracking
glitch, a transition frame: nothing a TD would reshoot for) are listed as blips only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..errors import TrackingError
from ..face.align import STABLE_POINTS, TEMPLATE_68, warp_points
from ..face.ibug68 import OUTER_EYE_CORNERS
from ..face.track import TrackResult
from .coverage_report import COMPONENTS, CoverageReport, Reason, UncoveredRange
from .coverage_words import range_reasons
from .measures import head_pose

#: how far from the nearest actor frame a plate frame is still covered, per component;
#: why these values: see the module docstring
TOLERANCES: dict[str, float] = {"pose": 10.0, "mouth": 0.05, "eyes": 0.08, "shape": 0.05}
MERGE_GAP = 2
MIN_RUN = 3
#: brows, eyes and lips: what expression moves. Not the jaw outline (it slides round the
#: cheek as the head turns; the lips already say how far the jaw dropped) and not the
#: nose (rigid: the alignment fits it, so what is left there is pose, not expression).
SHAPE_POINTS = np.r_[17:27, 36:68]
_MOUTH_GAPS = ((61, 67), (62, 66), (63, 65))
_LID_GAPS = (((37, 41), (38, 40)), ((43, 47), (44, 46)))
_EYE_WIDTHS = ((36, 39), (42, 45))
#: plate frames compared with all actor frames at once: bounds memory on long shots
_CHUNK = 256


def _template_unit() -> float:
    stable = TEMPLATE_68[STABLE_POINTS]
    spread = np.sqrt(((stable - stable.mean(0)) ** 2).sum(-1).mean())
    a, b = OUTER_EYE_CORNERS
    return float(spread / np.linalg.norm(TEMPLATE_68[a] - TEMPLATE_68[b]))


#: RMS spread of the template's stable points in its eye distances
_STABLE_PER_EYE = _template_unit()


class Openings(NamedTuple):
    """Mouth and eye opening per frame, each (N,)."""

    mouth: np.ndarray
    eyes: np.ndarray


def _check(points: np.ndarray, where: str) -> np.ndarray:
    arr = np.asarray(points, dtype=np.float64)
    if arr.ndim != 3 or arr.shape[1:] != (68, 2):
        raise TrackingError(where, "landmarks of shape (N, 68, 2)", f"shape {arr.shape}",
                            "pass iBUG-68 points per frame; one frame as points[None]")
    return arr


def _dist(points: np.ndarray, a: int, b: int) -> np.ndarray:
    return np.linalg.norm(points[:, a] - points[:, b], axis=-1)


def expression_measures(points: np.ndarray) -> Openings:
    """Mouth and eye opening of (N, 68, 2) iBUG-68 landmarks (any image coordinates).

    ``mouth``: the mean inner-lip gap (61-67, 62-66, 63-65) over the outer-eye-corner
    distance (36-45): 0 closed, about 0.1 in speech, 0.25 and more wide open.
    ``eyes``: each eye's mean lid gap (37-41, 38-40; 43-47, 44-46) over its width (36-39;
    42-45), averaged over both eyes: about 0.3 open, 0.05 closed.

    Ratios of distances, so image scale, position and in-plane rotation do not change
    them: plate, actor reference and a re-tracked comp compare directly. NaN where a
    frame's points are NaN (no face).
    """
    p = _check(points, "expression_measures points")
    a, b = OUTER_EYE_CORNERS
    mouth = np.mean([_dist(p, i, j) for i, j in _MOUTH_GAPS], axis=0) / _dist(p, a, b)
    eyes = np.mean([np.mean([_dist(p, i, j) for i, j in gaps], axis=0) / _dist(p, *width)
                    for gaps, width in zip(_LID_GAPS, _EYE_WIDTHS)], axis=0)
    return Openings(mouth, eyes)


def shape_descriptor(points: np.ndarray, matrices: np.ndarray) -> np.ndarray:
    """(N, 42, 2) brows, eyes and lips (``SHAPE_POINTS``) with pose, scale and position
    taken out, in eye distances.

    Args:
        points: (N, 68, 2) plate landmarks.
        matrices: (N, 2, 3) plate -> crop alignment (``TrackResult.matrices``): it turns
            the face upright on its stable points (nose, eye corners).

    The aligned points are centred on the stable points and divided by their spread, so
    crop size and coverage do not matter, then given in the template's eye distances.
    """
    p = _check(points, "shape_descriptor points")
    crop = warp_points(matrices, p)
    stable = crop[:, STABLE_POINTS]
    centre = stable.mean(axis=1, keepdims=True)
    spread = np.sqrt(((stable - centre) ** 2).sum(-1).mean(-1))[:, None, None]
    return (crop[:, SHAPE_POINTS] - centre) / spread * _STABLE_PER_EYE


def head_poses(points: np.ndarray, frame_size: tuple[int, int]) -> np.ndarray:
    """(N, 3) yaw, pitch, roll in degrees (``faceset.head_pose``); NaN without a face."""
    p = _check(points, "head_poses points")
    out = np.full((len(p), 3), np.nan)
    for i in np.flatnonzero(np.isfinite(p).all(axis=(1, 2))):
        out[i] = head_pose(p[i], frame_size)
    return out


@dataclass
class FrameMeasures:
    """What coverage compares, for T frames: pose (T, 3), mouth and eyes (T,), shape
    (T, 42, 2); ``counted`` (T,) frames that take part. NaN where there is no face."""

    frames: list[int]
    flags: list[list[str]]
    counted: np.ndarray
    pose: np.ndarray
    mouth: np.ndarray
    eyes: np.ndarray
    shape: np.ndarray


def measure(result: TrackResult, use: np.ndarray | None = None) -> FrameMeasures:
    """Measures of a track. Frames found (not interpolated) count; ``use`` (T,) narrows
    that further (for the actor: frames the faceset kept)."""
    valid = result.valid
    found = valid & np.array(["interpolated" not in f for f in result.flags], dtype=bool)
    counted = found if use is None else found & np.asarray(use, dtype=bool)
    points = np.where(valid[:, None, None], result.points, np.nan)
    openings = expression_measures(points)
    shape = np.full((len(points), len(SHAPE_POINTS), 2), np.nan)
    if valid.any():
        shape[valid] = shape_descriptor(points[valid], result.matrices[valid])
    return FrameMeasures(list(result.frames), [list(f) for f in result.flags], counted,
                         head_poses(points, result.frame_size), openings.mouth,
                         openings.eyes, shape)


def _finite(m: FrameMeasures) -> np.ndarray:
    return (np.isfinite(m.pose[:, :2]).all(1) & np.isfinite(m.mouth) & np.isfinite(m.eyes)
            & np.isfinite(m.shape).all(axis=(1, 2)))


def _nearest(plate: FrameMeasures, actor: FrameMeasures, rows: np.ndarray,
             tolerances: dict[str, float]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """For plate frames ``rows``: the distance to the nearest frame of ``actor`` in each
    component and combined, each (len(rows),), and the index in ``actor`` of the frame
    nearest in the combined distance."""
    flat_a = actor.shape.reshape(len(actor.frames), -1)
    k = actor.shape.shape[1]
    out = {c: np.full(len(rows), np.nan) for c in (*COMPONENTS, "combined")}
    arg = np.zeros(len(rows), dtype=int)
    for s in range(0, len(rows), _CHUNK):
        idx = rows[s:s + _CHUNK]
        flat_p = plate.shape[idx].reshape(len(idx), -1)
        sq = ((flat_p ** 2).sum(1)[:, None] + (flat_a ** 2).sum(1)[None] - 2 * flat_p @ flat_a.T)
        d = {"pose": np.hypot(plate.pose[idx, None, 0] - actor.pose[None, :, 0],
                              plate.pose[idx, None, 1] - actor.pose[None, :, 1]),
             "mouth": np.abs(plate.mouth[idx, None] - actor.mouth[None]),
             "eyes": np.abs(plate.eyes[idx, None] - actor.eyes[None]),
             # |x - y|^2 expanded: one matrix product instead of a (P, A, 42, 2) array
             "shape": np.sqrt(np.maximum(sq, 0.0) / k)}
        combined = np.max([d[c] / tolerances[c] for c in COMPONENTS], axis=0)
        for c in COMPONENTS:
            out[c][s:s + len(idx)] = d[c].min(1)
        arg[s:s + len(idx)] = combined.argmin(1)
        out["combined"][s:s + len(idx)] = combined.min(1)
    return out, arg


def runs(over: np.ndarray, merge_gap: int = MERGE_GAP, min_run: int = MIN_RUN
         ) -> tuple[list[tuple[int, int]], list[int]]:
    """Ranges (first, last index) of True in ``over`` (T,), joined across at most
    ``merge_gap`` False, kept with at least ``min_run`` True; and the indices of True
    left out (blips)."""
    hits = np.flatnonzero(over)
    groups: list[list[int]] = []
    for i in hits:
        if groups and i - groups[-1][-1] <= merge_gap + 1:
            groups[-1].append(int(i))
        else:
            groups.append([int(i)])
    kept = [(g[0], g[-1]) for g in groups if len(g) >= min_run]
    blips = [i for g in groups if len(g) < min_run for i in g]
    return kept, blips


def compare(plate: FrameMeasures, actor: FrameMeasures, *,
            tolerances: dict[str, float] | None = None, merge_gap: int = MERGE_GAP,
            min_run: int = MIN_RUN) -> CoverageReport:
    """Coverage of ``plate`` by ``actor`` (see the module docstring)."""
    tol = dict(TOLERANCES if tolerances is None else tolerances)
    if sorted(tol) != sorted(COMPONENTS) or not all(v > 0 for v in tol.values()):
        raise TrackingError("coverage tolerances", f"a positive value for each of "
                            f"{', '.join(COMPONENTS)}", repr(tol), "start from TOLERANCES")
    use = actor.counted & _finite(actor)
    if not use.any():
        raise TrackingError("coverage: actor reference", "at least one tracked actor frame "
                            "in the faceset", "none", "check the actor track and its faceset")
    a = FrameMeasures([actor.frames[i] for i in np.flatnonzero(use)], [], use[use],
                      actor.pose[use], actor.mouth[use], actor.eyes[use], actor.shape[use])
    rows = np.flatnonzero(_finite(plate))
    found, arg = _nearest(plate, a, rows, tol)
    t = len(plate.frames)
    distance = {c: np.full(t, np.nan) for c in found}
    for c, values in found.items():
        distance[c][rows] = values
    nearest: list[int | None] = [None] * t
    for r, i in zip(rows, arg):
        nearest[r] = a.frames[i]
    counted = plate.counted & _finite(plate)
    order = np.flatnonzero(counted)
    over = distance["combined"][order] > 1.0
    spans, blips = runs(over, merge_gap, min_run)
    actor_range = {name: [round(float(v.min()), 4), round(float(v.max()), 4)] for name, v in (
        ("yaw", a.pose[:, 0]), ("pitch", a.pose[:, 1]), ("roll", a.pose[:, 2]),
        ("mouth", a.mouth), ("eyes", a.eyes))}
    ranges = []
    for s, e in spans:
        members = order[s:e + 1][over[s:e + 1]]
        reasons = range_reasons(members, plate, a, distance, nearest, tol)
        ranges.append(UncoveredRange(plate.frames[order[s]], plate.frames[order[e]],
                                     len(members), [Reason(*x) for x in reasons]))
    return CoverageReport(
        plate={"frames": [plate.frames[0], plate.frames[-1]]},
        actor={"frames": [actor.frames[0], actor.frames[-1]], "used": int(use.sum())},
        tolerances=tol, settings={"merge_gap": merge_gap, "min_run": min_run},
        actor_range=actor_range, frames=list(plate.frames), flags=plate.flags,
        counted=counted, pose=plate.pose, mouth=plate.mouth, eyes=plate.eyes,
        distance=distance, nearest=nearest, ranges=ranges,
        blips=[plate.frames[order[i]] for i in blips])


def coverage(plate: TrackResult, actor: TrackResult, actor_used: set[int] | None = None, *,
             tolerances: dict[str, float] | None = None, merge_gap: int = MERGE_GAP,
             min_run: int = MIN_RUN) -> CoverageReport:
    """Coverage of a plate track by an actor track; ``actor_used`` are the actor frames
    the faceset kept (all found frames when None)."""
    use = None if actor_used is None else np.array([f in actor_used for f in actor.frames])
    report = compare(measure(plate), measure(actor, use), tolerances=tolerances,
                     merge_gap=merge_gap, min_run=min_run)
    report.plate["frame_size"] = list(plate.frame_size)
    report.actor["frame_size"] = list(actor.frame_size)
    return report
