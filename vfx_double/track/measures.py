"""Faceset crops: aligned faces in the network encoding, with a landmark-hull mask.

Each crop is a half-float EXR (channels R, G, B, mask) in the network encoding (ACEScct:
log, so values above 1.0 survive), never 8-bit. ``meta.json`` (FacesetMeta.1) lists per
crop the frame, the plate->crop matrix, landmarks in crop space, sharpness and a head
pose estimate, plus what was skipped and why.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from ..face.align import STABLE_POINTS, TEMPLATE_68
from ..face.ibug68 import OUTER_EYE_CORNERS

#: depth behind the nose tip (mm) of the stable points: approximate adult figures, the
#: outer eye corners as in the usual six-point generic head (26 mm)
_DEPTH = {27: 20.0, 28: 14.0, 29: 7.0, 30: 0.0, 31: 20.0, 32: 16.0, 33: 14.0, 34: 16.0,
          35: 20.0, 36: 26.0, 39: 20.0, 42: 20.0, 45: 26.0}


def _generic_head() -> np.ndarray:
    """(13, 3) a generic head (mm, x right, y up, z towards the camera, nose tip at the
    origin) at the alignment's stable points: x and y from the alignment template (a mean
    face) with the outer eye corners 86.6 mm apart, z from ``_DEPTH``."""
    template = TEMPLATE_68[STABLE_POINTS] - TEMPLATE_68[30]
    a, b = OUTER_EYE_CORNERS
    xy = template * (86.6 / np.linalg.norm(TEMPLATE_68[b] - TEMPLATE_68[a])) * [1.0, -1.0]
    z = [-_DEPTH[i] for i in STABLE_POINTS]
    out = np.column_stack([xy, z])
    out.setflags(write=False)
    return out


#: Only points that do not move with expression: the usual six-point head also uses the
#: chin and mouth corners, and a mouth opening 25 mm then read as up to 15 degrees of yaw
#: on a near-frontal head. Pose is compared between frames measured the same way, so the
#: depths need to be plausible and fixed, not true for any one face.
_HEAD_IDS = [int(i) for i in STABLE_POINTS]
_HEAD_3D = _generic_head()


def sharpness(crop: np.ndarray, mask: np.ndarray) -> float:
    """Variance of the Laplacian of the crop's mean channel inside the mask.

    Comparable between crops of one shot (same encoding and size), not between shots:
    the skip threshold is a fraction of the shot's median.
    """
    grey = crop[:, :, :3].mean(axis=2).astype(np.float32)
    lap = cv2.Laplacian(grey, cv2.CV_32F, ksize=3)
    inside = mask > 0.5
    return float(lap[inside].var()) if inside.any() else 0.0


def head_pose(points: np.ndarray, frame_size: tuple[int, int]) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees from 68 plate points (the nose and eye corners), a
    generic head and a pinhole camera with the focal length of the frame width.

    Signs, as seen on the plate: yaw > 0 turns the nose towards image left (the subject
    turns to their right), pitch > 0 tilts the head down, roll > 0 turns it clockwise.
    """
    w, h = frame_size
    camera = np.array([[w, 0, w / 2.0], [0, w, h / 2.0], [0, 0, 1]], dtype=np.float64)
    image_pts = np.asarray(points, dtype=np.float64)[_HEAD_IDS]
    # The model's y is up; image y is down.
    model = _HEAD_3D * np.array([1.0, -1.0, -1.0])
    # SQPnP, not EPnP: on real FaceMesh points (the generic head never fits a real face
    # exactly) EPnP flips the yaw sign from one frame to the next (83 degree jumps on
    # lp_d3) and reads frontal frames as 25 degrees; SQPnP's global minimum stays smooth.
    ok, rvec, _ = cv2.solvePnP(model, image_pts, camera, None, flags=cv2.SOLVEPNP_SQPNP)
    if not ok:
        return (float("nan"),) * 3
    rot, _ = cv2.Rodrigues(rvec)
    pitch = math.degrees(math.atan2(-rot[1, 2], rot[2, 2]))
    yaw = math.degrees(math.asin(max(-1.0, min(1.0, rot[0, 2]))))
    roll = math.degrees(math.atan2(-rot[0, 1], rot[0, 0]))
    return yaw, pitch, roll
