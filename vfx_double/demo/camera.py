"""Smooth synthetic camera moves: pan, push-in and roll as 2x3 affine matrices.

A move maps "world" pixel coordinates (the scene the camera films) to plate pixel
coordinates. The matrices are the ground truth of the demo: a tracker's landmarks on the
plate should follow the still face's landmarks carried through these matrices.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def ease(t: float) -> float:
    """Smoothstep: zero velocity at both ends, like a camera operator's move."""
    t = min(max(t, 0.0), 1.0)
    return t * t * (3.0 - 2.0 * t)


@dataclass(frozen=True)
class CameraMove:
    """A move over normalised shot time ``t`` in [0, 1].

    ``look_from``/``look_to`` are the world points at the frame centre at the start/end,
    ``zoom_*`` the world-to-plate scale, ``roll_deg`` the peak roll of a slow sway.
    """

    look_from: tuple[float, float]
    look_to: tuple[float, float]
    zoom_from: float
    zoom_to: float
    roll_deg: float
    roll_cycles: float = 0.5

    def matrix(self, t: float, frame_size: tuple[int, int]) -> np.ndarray:
        """(2, 3) float64 world -> plate affine at time ``t`` for a ``(width, height)`` frame."""
        e = ease(t)
        lx = self.look_from[0] + (self.look_to[0] - self.look_from[0]) * e
        ly = self.look_from[1] + (self.look_to[1] - self.look_from[1]) * e
        zoom = self.zoom_from * (self.zoom_to / self.zoom_from) ** e
        roll = math.radians(self.roll_deg) * math.sin(2.0 * math.pi * self.roll_cycles * t)
        c, s = math.cos(roll) * zoom, math.sin(roll) * zoom
        cx, cy = frame_size[0] / 2.0, frame_size[1] / 2.0
        return np.array([[c, -s, cx - (c * lx - s * ly)],
                         [s, c, cy - (s * lx + c * ly)]], dtype=np.float64)


def exposure_ev(t: float, amplitude: float = 0.25) -> float:
    """A slow exposure drift in stops (clouds passing), smooth over the shot."""
    return amplitude * math.sin(2.0 * math.pi * 0.6 * t + 0.4)


def compose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The 2x3 affine ``a @ b`` (apply ``b`` first)."""
    full_a = np.vstack([a, [0.0, 0.0, 1.0]])
    full_b = np.vstack([b, [0.0, 0.0, 1.0]])
    return (full_a @ full_b)[:2]


def apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Carry (N, 2) points through a (2, 3) affine."""
    pts = np.asarray(points, dtype=np.float64)
    return pts @ matrix[:, :2].T + matrix[:, 2]
