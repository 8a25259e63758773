"""The QC preview: overlaid track frames as an H.264 mp4 (:class:`vfx_double.io.movie.MovieWriter`)."""

from __future__ import annotations

import numbers
from pathlib import Path

from ..errors import ConfigError
from ..io.movie import MovieWriter
from .qc import QcFrame, draw_overlay, resized


class PreviewWriter:
    """Streams overlaid frames into an H.264 (yuv420p) mp4; only one frame is held at a time.

    Frames are scaled to ``width`` (rounded down to even; height from the first frame's
    aspect, even) before drawing, so text and lines are sized for the preview.
    """

    def __init__(self, path: Path, fps: float, width: int = 960, *, label: str = "") -> None:
        self.path = Path(path)
        if not (isinstance(width, numbers.Integral) and width >= 16):
            raise ConfigError(f"QC preview {self.path} width", "an integer >= 16 pixels",
                              repr(width))
        self.width = int(width) - int(width) % 2
        self.label = label
        self.movie = MovieWriter(self.path, fps)  # it checks the frame rate

    @property
    def frames(self) -> int:
        return self.movie.frames

    @property
    def size(self) -> tuple[int, int] | None:
        return self.movie.size

    def __enter__(self) -> PreviewWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.movie.abort()

    def add(self, qc: QcFrame) -> None:
        size = self.movie.size
        if size is None:
            h, w = qc.image.shape[:2]
            size = (self.width, max(2, 2 * round(self.width * h / w / 2)))
        self.movie.add(draw_overlay(resized(qc, *size), self.label))

    def close(self) -> None:
        """Finish the mp4 and move it into place; a preview without frames is an error."""
        self.movie.close()
