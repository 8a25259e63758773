"""Landmark backends behind one interface (``_base.py``), registered in ``BACKENDS``.

    backend = get_backend("mediapipe")
    boxes = backend.detect(rgb)                      # every face, best first
    marks = backend.landmarks(rgb, boxes[0])         # 68 iBUG points or None

Backend modules import their heavy packages (mediapipe, torch) only when a backend is
made, so importing this package is cheap.
"""

from __future__ import annotations

from pathlib import Path

from ...errors import ConfigError
from ._base import FaceBox, LandmarkBackend, Landmarks
from .fan import FanBackend
from .mediapipe import MediaPipeBackend

#: ``track.backend`` value -> backend class. The default comes first.
BACKENDS: dict[str, type[LandmarkBackend]] = {
    "mediapipe": MediaPipeBackend,
    "fan": FanBackend,
}

__all__ = ["BACKENDS", "FaceBox", "FanBackend", "LandmarkBackend", "Landmarks",
           "MediaPipeBackend", "get_backend"]


def get_backend(name: str, *, weights: Path | None = None, where: str = "") -> LandmarkBackend:
    """A ready backend by its ``track.backend`` name.

    Args:
        name: a key of :data:`BACKENDS`.
        weights: the ``track.weights`` folder, for backends whose weights are not shipped
            (``fan``); the others ignore it.
        where: config location (file:line) for error messages.

    Raises:
        ConfigError: ``name`` is not a registered backend.
        TrackingError: the backend cannot start (package or weights missing).
    """
    try:
        backend = BACKENDS[name]
    except (KeyError, TypeError):
        raise ConfigError(where or "track.backend", f"one of {', '.join(BACKENDS)}",
                          repr(name), "set track.backend to a registered backend") from None
    return backend.from_config(weights=weights, where=where or f"track.backend: {name}")
