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

from .align import STABLE_POINTS, TEMPLATE_68
from .ibug68 import OUTER_EYE_CORNERS

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
BROWS = slice(17, 27)


def with_offset(matrix: np.ndarray, data_window: tuple[int, int, int, int]) -> np.ndarray:
    """The plate->crop matrix for an array that starts at the data window's corner."""
    dx, dy = data_window[0], data_window[1]
    out = matrix.astype(np.float64).copy()
    out[:, 2] += out[:, 0] * dx + out[:, 1] * dy
    return out


def warp_crop(image: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """(size, size, C) crop of ``image`` through the 2x3 ``matrix`` (array pixels -> crop).

    Big faces shrink a lot: halve the source with a Gaussian pyramid until the remaining
    scale is at least 1/2, so the bilinear warp does not alias skin texture or grain.
    """
    matrix = matrix.astype(np.float64).copy()
    scale = math.sqrt(abs(np.linalg.det(matrix[:, :2])))
    source = image
    while scale < 0.5 and min(source.shape[:2]) > 2 * size:
        source = cv2.pyrDown(source)
        # pyrDown's pixel i is centred on source pixel 2i: only the linear part changes.
        matrix[:, :2] *= 2.0
        scale *= 2.0
    crop = cv2.warpAffine(source, matrix, (size, size), flags=cv2.INTER_CUBIC,
                          borderMode=cv2.BORDER_REFLECT)
    return crop if crop.ndim == 3 else crop[:, :, None]


def hull_mask(points: np.ndarray, size: int) -> np.ndarray:
    """(size, size) float32 mask: the hull of the 68 points with the brows lifted to
    take in the forehead, edges softened by a pixel or two."""
    pts = np.asarray(points, dtype=np.float64).copy()
    chin_to_brow = np.linalg.norm(pts[BROWS].mean(0) - pts[8])
    up = pts[BROWS].mean(0) - pts[8]
    up /= max(np.linalg.norm(up), 1e-6)
    lifted = pts[BROWS] + up * 0.18 * chin_to_brow
    hull = cv2.convexHull(np.concatenate([pts, lifted]).astype(np.float32))
    mask = np.zeros((size, size), np.float32)
    shift = 4
    cv2.fillConvexPoly(mask, np.round(hull * (1 << shift)).astype(np.int32), 1.0,
                       lineType=cv2.LINE_AA, shift=shift)
    return cv2.GaussianBlur(mask, (0, 0), max(size / 256.0, 0.5))


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
