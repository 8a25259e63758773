"""Synthetic tracks with known head pose and expression, for coverage tests.

A rigid 3D head (the alignment template laid onto the generic head ``head_pose`` uses,
with depths by region) is turned and projected through a pinhole camera like a plate's;
the mouth opens by a gap in millimetres, the upper lids close by a fraction.
"""

from __future__ import annotations

import math

import numpy as np

from vfx_double.face.align import TEMPLATE_68, align_matrix, umeyama, warp_points
from vfx_double.face.track import TrackResult
from vfx_double.track.measures import _HEAD_3D, _HEAD_IDS

FRAME_SIZE = (1920, 1080)
DISTANCE_MM = 600.0
_LOWER_LIP = [55, 56, 57, 58, 59, 65, 66, 67]
_CHIN = [5, 6, 7, 8, 9, 10, 11]
_LIDS = {37: 41, 38: 40, 43: 47, 44: 46}


def _rest() -> np.ndarray:
    """(68, 3) the neutral head: ``faceset``'s generic head at the nose and eye corners
    (so ``head_pose`` reads this head's pose exactly), the template's other points laid
    around it with depths by region."""
    generic = _HEAD_3D * np.array([1.0, -1.0, 1.0])  # y down, z towards the camera
    xy = warp_points(umeyama(TEMPLATE_68[_HEAD_IDS], generic[:, :2]), TEMPLATE_68)
    x = np.abs(xy[:, 0])
    z = np.empty(68)
    z[0:17] = -12.5 - 60.0 * (x[0:17] / 65.0) ** 2  # jaw: the chin forward, cheeks back
    z[17:27] = -22.0 - 8.0 * (x[17:27] / 50.0) ** 2  # brows
    z[36:48] = -23.0  # lids
    z[48:68] = -13.0 - 11.0 * (x[48:68] / 28.9) ** 2  # lips: centre forward of the corners
    out = np.column_stack([xy, z])
    out[_HEAD_IDS] = generic
    return out


_REST = _rest()


def head(mouth_mm: float = 0.0, eyes_closed: float = 0.0) -> np.ndarray:
    """(68, 3) x right, y down, z towards the camera, in mm, nose tip at the origin."""
    out = _REST.copy()
    out[_LOWER_LIP, 1] += mouth_mm
    out[_CHIN, 1] += mouth_mm
    for upper, lower in _LIDS.items():
        out[upper, 1] += eyes_closed * (out[lower, 1] - out[upper, 1])
    return out


def project(points_3d: np.ndarray, yaw: float = 0.0, pitch: float = 0.0) -> np.ndarray:
    """(68, 2) plate pixels. yaw > 0 turns the nose to image left, pitch > 0 tilts down
    (the signs of ``faceset.head_pose``)."""
    y, p = math.radians(yaw), math.radians(pitch)
    x, yy, z = points_3d.T
    x, z = x * math.cos(y) - z * math.sin(y), x * math.sin(y) + z * math.cos(y)
    yy, z = yy * math.cos(p) + z * math.sin(p), -yy * math.sin(p) + z * math.cos(p)
    w, h = FRAME_SIZE
    depth = DISTANCE_MM - z
    return np.column_stack([w * x / depth + w / 2, w * yy / depth + h / 2])


def track(frames: list[int], *, mouth: list[float] | None = None,
          eyes: list[float] | None = None, yaw: list[float] | None = None,
          flags: dict[int, list[str]] | None = None, name: str = "plate") -> TrackResult:
    """A TrackResult whose frame i has mouth gap ``mouth[i]`` mm, lids ``eyes[i]`` closed
    and head yaw ``yaw[i]``; ``flags`` marks frames (``no_face`` frames get NaN points)."""
    n = len(frames)
    mouth, eyes, yaw = mouth or [0.0] * n, eyes or [0.0] * n, yaw or [0.0] * n
    flags = flags or {}
    points = np.stack([project(head(m, e), y) for m, e, y in zip(mouth, eyes, yaw)])
    matrices = np.stack([align_matrix(p, 256, 0.6) for p in points])
    per_frame = [list(flags.get(f, [])) for f in frames]
    gone = np.array(["no_face" in f for f in per_frame])
    points[gone] = np.nan
    matrices[gone] = 0.0
    return TrackResult(
        sequence=name, source=f"/synthetic/{name}.####.exr", colourspace="ACEScg",
        frame_size=FRAME_SIZE, frames=list(frames), points_raw=points.copy(), points=points,
        boxes=np.zeros((n, 4)), confidence=np.where(gone, 0.0, 0.95), matrices=matrices,
        flags=per_frame, backend={"name": "synthetic", "version": "1"}, settings={})
