"""The landmark backend interface: what a face tracker backend must provide.

This is the reference every backend copies. A backend answers two questions about one
display-referred frame:

1. ``detect(image)``: where are the faces? Whole frame, every face, best first.
2. ``landmarks(image, box)``: given roughly where one face is, where are its 68 iBUG
   points? ``box`` is either a ``detect`` result or the previous frame's
   ``Landmarks.box`` (the tracker seeds each frame from the last), so a backend must not
   assume the box came from its own detector.

Coordinates everywhere are pixel indices of the image passed in: x right, y down, the
centre of the top-left pixel is (0, 0). A backend that works on a crop maps its points
back with :func:`crop_square` / :func:`from_crop` so callers never see crop coordinates.

Images are ``(H, W, 3)`` uint8 RGB, display-referred sRGB (the tracker makes them from
the plate with OCIO), 512 px to 4K wide: arrays, or a
:class:`~vfx_double.track.display.DisplayFrame`, which converts only what is taken from
it. Backends do not convert colour; they take what they look at through
:func:`crop_square` or :func:`~vfx_double.track.display.resampled` (shrunk pixels of a
DisplayFrame are converted after the shrink).

Confidence (``Landmarks.confidence``, 0-1) is what the tracker compares with
``track.min_confidence`` (default 0.5): below it the frame is flagged ``low_confidence``
and its box does not seed the next frame. Each backend documents how it derives it;
about 0.8-1 should mean "a face, well fitted", under 0.5 "do not trust these points".

Adding a backend:

- subclass :class:`LandmarkBackend`, set ``name``, implement the four abstract methods
  (and ``from_config`` if it needs ``track.weights``);
- load weights only from a local folder the user provisions (never download, never
  unpickle: safetensors or the package's own shipped models), and raise
  :class:`~vfx_double.errors.TrackingError` naming the missing files when they are absent;
- register it in ``BACKENDS`` in ``backends/__init__.py`` and add its name to
  ``track.backend`` in ``config.py``.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import cv2
import numpy as np

from ..display import DisplayFrame, resampled


@dataclass(frozen=True)
class FaceBox:
    """An axis-aligned face box in image pixels (x right, y down) with a score in 0-1."""

    x0: float
    y0: float
    x1: float
    y1: float
    score: float

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    @property
    def centre(self) -> tuple[float, float]:
        return ((self.x0 + self.x1) / 2.0, (self.y0 + self.y1) / 2.0)

    def scaled(self, factor: float) -> FaceBox:
        """The box grown (factor > 1) or shrunk about its centre; the score is kept."""
        cx, cy = self.centre
        hw, hh = self.width * factor / 2.0, self.height * factor / 2.0
        return FaceBox(cx - hw, cy - hh, cx + hw, cy + hh, self.score)

    def square(self) -> FaceBox:
        """The square with the same centre whose side is the larger of width and height."""
        cx, cy = self.centre
        half = max(self.width, self.height) / 2.0
        return FaceBox(cx - half, cy - half, cx + half, cy + half, self.score)

    def iou(self, other: FaceBox) -> float:
        """Intersection over union; 0 for disjoint or empty boxes."""
        iw = min(self.x1, other.x1) - max(self.x0, other.x0)
        ih = min(self.y1, other.y1) - max(self.y0, other.y0)
        if iw <= 0 or ih <= 0:
            return 0.0
        inter = iw * ih
        union = self.width * self.height + other.width * other.height - inter
        return float(inter / union) if union > 0 else 0.0

    def overlap(self, other: FaceBox) -> float:
        """Intersection over the smaller box's area: 1 when one box holds the other."""
        iw = min(self.x1, other.x1) - max(self.x0, other.x0)
        ih = min(self.y1, other.y1) - max(self.y0, other.y0)
        if iw <= 0 or ih <= 0:
            return 0.0
        smaller = min(self.width * self.height, other.width * other.height)
        return float(iw * ih / smaller) if smaller > 0 else 0.0

    @classmethod
    def around(cls, points: np.ndarray, score: float) -> FaceBox:
        """The tight box of ``points`` ``(N, 2)``."""
        x0, y0 = np.min(points, axis=0)
        x1, y1 = np.max(points, axis=0)
        return cls(float(x0), float(y0), float(x1), float(y1), float(score))


@dataclass(frozen=True)
class Landmarks:
    """One face's 68 iBUG points, in the coordinates of the image the backend was given.

    Attributes:
        points: ``(68, 2)`` float64, iBUG order (point 36 is the outer corner of the eye
            at image-left on a frontal face, 45 the one at image-right).
        confidence: 0-1, see the module docstring; each backend documents its own.
        box: the tight box of ``points`` (score = ``confidence``); the tracker seeds the
            next frame's ``landmarks`` call with it.
        dense: the backend's own points, e.g. ``(478, 2)`` for mediapipe, else None.
    """

    points: np.ndarray
    confidence: float
    box: FaceBox
    dense: np.ndarray | None = None


class LandmarkBackend(abc.ABC):
    """A face detector plus a 68-point landmark model.

    Backends hold native resources (graphs, threads, weights): use one per thread and
    call :meth:`close` (or use ``with``) when done. They keep no state between frames;
    temporal logic (seeding, redetection, smoothing) lives in the tracker.
    """

    #: the registry key and the ``track.backend`` config value.
    name: ClassVar[str]

    @classmethod
    def from_config(cls, *, weights: Path | None, where: str) -> LandmarkBackend:
        """Make the backend from the ``track`` config section.

        ``weights`` is ``track.weights``, a local folder; a backend whose models ship
        with its package ignores it, one that needs it overrides this method and raises
        :class:`~vfx_double.errors.TrackingError` when it is missing. ``where`` is the
        config location for error messages.
        """
        return cls(where=where)  # type: ignore[call-arg]

    @abc.abstractmethod
    def version(self) -> str:
        """What produced the points, recorded in every track, e.g. ``"mediapipe 0.10.21"``."""

    @abc.abstractmethod
    def detect(self, image: np.ndarray | DisplayFrame) -> list[FaceBox]:
        """Every face in the whole ``(H, W, 3)`` uint8 RGB frame, highest score first.

        Returns ``[]`` when there is none; never raises for "no face".
        """

    @abc.abstractmethod
    def landmarks(self, image: np.ndarray | DisplayFrame, box: FaceBox) -> Landmarks | None:
        """Refine the face near ``box``: its 68 points in ``image`` coordinates.

        Returns None when no face is found near the box.
        """

    @abc.abstractmethod
    def close(self) -> None:
        """Release native resources; the backend is unusable afterwards."""

    def __enter__(self) -> LandmarkBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_image(image: np.ndarray, where: str) -> None:
    """Raise ValueError unless ``image`` is ``(H, W, 3)`` uint8: a caller bug, not bad input."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"{where}: expected an (H, W, 3) uint8 RGB image, "
                         f"got {image.dtype} {image.shape}")


@dataclass(frozen=True)
class Crop:
    """A square window of an image resampled to ``size`` pixels.

    Crop pixel ``u`` shows image pixel ``x = x0 + (u + 0.5) * side / size - 0.5`` (pixel
    centres, the convention ``cv2.resize`` uses), and the same for y.
    """

    pixels: np.ndarray
    x0: int
    y0: int
    side: int
    size: int

    @property
    def scale(self) -> float:
        """Image pixels per crop pixel."""
        return self.side / self.size


def crop_square(image: np.ndarray | DisplayFrame, centre: tuple[float, float], side: float,
                size: int) -> Crop:
    """The ``side``-pixel square of ``image`` around ``centre``, resampled to ``size``.

    Parts outside the frame are black, so faces at the frame edge keep their place in
    the crop. The window is snapped to whole pixels, so cutting it out is exact and the
    only resampling is one resize: area-averaged when shrinking (a 4K face shrunk with
    bilinear alone would alias), bilinear when enlarging.
    """
    side_i = max(1, int(round(side)))
    x0 = int(round(centre[0] - side_i / 2.0))
    y0 = int(round(centre[1] - side_i / 2.0))
    interpolation = cv2.INTER_AREA if side_i > size else cv2.INTER_LINEAR
    pixels = resampled(image, (x0, y0, side_i, side_i), (size, size), interpolation)
    return Crop(pixels, x0, y0, side_i, size)


def from_crop(crop: Crop, points: np.ndarray) -> np.ndarray:
    """Crop pixel coordinates ``(N, 2)`` to image pixel coordinates ``(N, 2)`` float64."""
    pts = np.asarray(points, dtype=np.float64)
    origin = np.array([crop.x0, crop.y0], dtype=np.float64)
    return origin + (pts + 0.5) * crop.scale - 0.5
