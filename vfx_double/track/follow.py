"""Pass one of tracking: find the performer on every frame and follow them.

The detector runs on the first frame, every ``redetect_every`` frames and whenever the
performer is lost; in between, the previous frame's landmark box seeds the crop the
landmark model refines (DESIGN.md, Tracking). Other faces are recorded (for QC) and
ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..config import Performer
from .backends import FaceBox, LandmarkBackend, Landmarks
from .display import DisplayFrame


@dataclass
class FrameFaces:
    """What pass one saw on a frame, in array (data window) pixels."""

    landmarks: Landmarks | None
    others: list[FaceBox] = field(default_factory=list)
    detected: bool = False


def choose(boxes: list[FaceBox], performer: Performer, size: tuple[int, int],
           hint: FaceBox | None = None) -> FaceBox | None:
    """The performer among ``boxes``: nearest the hint or position, else the largest."""
    if not boxes:
        return None
    if hint is not None:
        return min(boxes, key=lambda b: _distance(b, hint.centre))
    if performer.select == "position" and performer.position is not None:
        target = (performer.position[0] * size[0], performer.position[1] * size[1])
        return min(boxes, key=lambda b: _distance(b, target))
    return max(boxes, key=lambda b: b.width * b.height)


def _distance(box: FaceBox, point: tuple[float, float]) -> float:
    cx, cy = box.centre
    return float(np.hypot(cx - point[0], cy - point[1]))


class Follower:
    """Follows one performer through a sequence of display-referred uint8 frames (arrays,
    or :class:`DisplayFrame` s converted only where the landmark crops look)."""

    def __init__(self, backend: LandmarkBackend, performer: Performer, min_confidence: float,
                 redetect_every: int, hint: FaceBox | None = None) -> None:
        self.backend = backend
        self.performer = performer
        self.min_confidence = min_confidence
        self.redetect_every = redetect_every
        self.hint = hint
        self.previous: FaceBox | None = None
        self.count = 0
        self.chosen: FaceBox | None = None

    def step(self, image: np.ndarray | DisplayFrame) -> FrameFaces:
        size = (image.shape[1], image.shape[0])
        result = FrameFaces(None)
        boxes: list[FaceBox] | None = None
        if self.previous is None or self.count % self.redetect_every == 0:
            boxes = self.backend.detect(_whole(image))
            result.detected = True
        self.count += 1
        seed = self._pick(boxes, size) if boxes is not None else self.previous
        marks = self.backend.landmarks(image, seed) if seed is not None else None
        if (marks is None or marks.confidence < self.min_confidence) and boxes is None:
            # Lost between detections: look at the whole frame again before giving up.
            boxes = self.backend.detect(_whole(image))
            result.detected = True
            seed = self._pick(boxes, size)
            marks = self.backend.landmarks(image, seed) if seed is not None else None
        if boxes is not None and seed is not None:
            result.others = [b for b in boxes if b.iou(seed) < 0.3]
        elif boxes is not None:
            result.others = list(boxes)
        result.landmarks = marks
        if marks is not None and marks.confidence >= self.min_confidence:
            self.previous = marks.box
            if self.chosen is None:
                self.chosen = marks.box
        return result

    def _pick(self, boxes: list[FaceBox], size: tuple[int, int]) -> FaceBox | None:
        if self.previous is not None:
            near = [b for b in boxes if b.iou(self.previous.scaled(1.5)) > 0.05]
            return choose(near, self.performer, size, hint=self.previous)
        return choose(boxes, self.performer, size, hint=self.hint)


def _whole(image: np.ndarray | DisplayFrame) -> np.ndarray | DisplayFrame:
    """What a detection looks at: all of the frame."""
    return image.whole() if isinstance(image, DisplayFrame) else image
