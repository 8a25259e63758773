"""Performer choice and overscan on real detections of a public-domain face (synthetic
two-face frames: the same photo twice, so no identity is mixed)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from vfx_double.config import Performer
from vfx_double.track.backends import get_backend
from vfx_double.track.follow import Follower


@pytest.fixture(scope="module")
def backend():
    with get_backend("mediapipe") as b:
        yield b


def two_faces() -> tuple[np.ndarray, tuple[float, float], tuple[float, float]]:
    """1920x1080 grey frame: the astronaut large on the left and small on the right."""
    frame = np.full((1080, 1920, 3), 90, np.uint8)
    photo = data.astronaut()
    big = cv2.resize(photo, (800, 800), interpolation=cv2.INTER_AREA)
    small = cv2.resize(photo, (500, 500), interpolation=cv2.INTER_AREA)
    frame[140:940, 60:860] = big
    frame[290:790, 1300:1800] = small
    # The face sits at about (225, 124) of the 512 px photo.
    return frame, (60 + 225 * 800 / 512, 140 + 124 * 800 / 512), (1300 + 225 * 500 / 512, 290 + 124 * 500 / 512)


def centre(points: np.ndarray) -> np.ndarray:
    return points.mean(axis=0)


@pytest.mark.parametrize("performer, pick", [
    (Performer(select="largest"), "big"),
    (Performer(select="position", position=(0.8, 0.4)), "small"),
    (Performer(select="position", position=(0.1, 0.5)), "big"),
])
def test_performer_choice(backend, performer: Performer, pick: str) -> None:
    frame, big, small = two_faces()
    faces = Follower(backend, performer, 0.5, 12).step(frame)
    assert faces.landmarks is not None
    want = np.array(big if pick == "big" else small)
    assert np.linalg.norm(centre(faces.landmarks.points) - want) < 60
    assert len(faces.others) == 1, "the other face is recorded and ignored"


def test_follower_stays_on_its_performer(backend) -> None:
    frame, _, small = two_faces()
    follower = Follower(backend, Performer(select="position", position=(0.8, 0.4)), 0.5, 3)
    for shift in range(0, 40, 8):
        moved = np.roll(frame, shift, axis=1)
        faces = follower.step(moved)
        assert faces.landmarks is not None
        assert np.linalg.norm(centre(faces.landmarks.points) - (small[0] + shift, small[1])) < 60
