"""Movies: RGB frames streamed through ffmpeg into an H.264 mp4 (yuv420p, for the web and
QC previews) or a ProRes 422 HQ mov (10-bit 4:2:2, for editorial), both BT.709 tagged.
Track's QC preview and review's dailies write with it.

OpenCV's pip wheel has FFmpeg for decoding but no H.264 *encoder* (``VideoWriter`` with
``avc1``/``H264`` fails to open), so frames are piped raw into the ffmpeg binary that the
``imageio-ffmpeg`` wheel ships (built with libx264 and prores_ks). ``IMAGEIO_FFMPEG_EXE``
points it at a studio ffmpeg instead. The pipe carries 8-bit RGB for H.264 and 16-bit RGB
for ProRes, so the 10-bit movie is not made from 8-bit frames.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import subprocess
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import IO

import numpy as np

from ..errors import ConfigError, MediaError
from .atomic import atomic_path


@dataclass(frozen=True)
class Codec:
    """An output format: what the pipe carries (``rgb24`` uint8 or ``rgb48le`` uint16), the
    YUV layout the encoder gets and the encoder's arguments."""

    label: str
    container: str
    pipe: str
    dtype: type
    pix_fmt: str
    args: tuple[str, ...]


#: the formats a MovieWriter writes (``codec=``)
CODECS = {
    "h264": Codec("H.264", "mp4", "rgb24", np.uint8, "yuv420p",
                  # crf 18: visually near-lossless for dailies; faststart puts the index first
                  # so a browser starts playing (and seeking) before the whole file arrives
                  ("-c:v", "libx264", "-preset", "medium", "-crf", "18",
                   "-movflags", "+faststart", "-f", "mp4")),
    "prores": Codec("ProRes 422 HQ", "mov", "rgb48le", np.uint16, "yuv422p10le",
                    # profile 3 = 422 HQ; vendor apl0 so editorial tools treat it as Apple's
                    ("-c:v", "prores_ks", "-profile:v", "3", "-vendor", "apl0", "-f", "mov")),
}


def _ffmpeg_exe() -> str:
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError) as err:
        raise MediaError("H.264 movie", "an ffmpeg with libx264 (the imageio-ffmpeg package)",
                         str(err).strip().splitlines()[0],
                         "pip install imageio-ffmpeg, or set IMAGEIO_FFMPEG_EXE") from err


def _rate(fps: float) -> str:
    """ffmpeg's frame rate: NTSC rates as exact n*1000/1001, others as a small fraction."""
    for n in (24, 30, 48, 60, 120):
        if abs(fps - n * 1000 / 1001) < 0.005:
            return f"{n * 1000}/1001"
    f = Fraction(fps).limit_denominator(1000)
    return f"{f.numerator}/{f.denominator}"


class _Aborted(Exception):
    """Thrown into ``atomic_path`` so it removes the temp file instead of renaming it."""


class MovieWriter:
    """Streams RGB frames (all one size: ``size``, else the first frame's; uint8 for
    ``codec="h264"``, uint16 for ``"prores"``) into a movie; ffmpeg writes a temp file beside
    ``path`` and :meth:`close` renames it into place, so a reader never sees half a movie.
    Only one frame is held at a time."""

    def __init__(self, path: Path, fps: float, size: tuple[int, int] | None = None, *,
                 codec: str = "h264") -> None:
        self.path = Path(path)
        if codec not in CODECS:
            raise ConfigError(f"movie {self.path} codec", f"one of {', '.join(CODECS)}",
                              repr(codec))
        self.codec = CODECS[codec]
        if not (isinstance(fps, numbers.Real) and math.isfinite(fps) and fps > 0):
            raise ConfigError(f"movie {self.path} fps", "a frame rate > 0", repr(fps))
        self.fps = float(fps)
        self.size: tuple[int, int] | None = None
        if size is not None:
            self._set_size(*size)
        self.frames = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._closed = False
        self._target = atomic_path(self.path)
        try:
            self._tmp = self._target.__enter__()
        except OSError as err:
            raise MediaError(str(self.path), "a folder the movie can be written in", str(err),
                             "check the output path and its permissions") from err

    def __enter__(self) -> MovieWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def add(self, frame: np.ndarray) -> None:
        """Append one (h, w, 3) RGB frame of :attr:`size` (the codec's dtype)."""
        if self._closed:
            raise MediaError(str(self.path), "an open movie", "add() after close()")
        if self.size is None:
            self._set_size(frame.shape[1], frame.shape[0])
        assert self.size is not None
        w, h = self.size
        if frame.shape != (h, w, 3) or frame.dtype != self.codec.dtype:
            raise MediaError(str(self.path),
                             f"{w}x{h} RGB {np.dtype(self.codec.dtype).name} frames",
                             f"{frame.dtype} {frame.shape}")
        if self._proc is None:
            self._start()
        assert self._proc is not None and self._proc.stdin is not None
        try:
            self._proc.stdin.write(np.ascontiguousarray(frame).tobytes())
        except OSError as err:  # BrokenPipeError: ffmpeg has exited
            raise self._failed(self._finish()) from err
        self.frames += 1

    def _set_size(self, w: int, h: int) -> None:
        if not (w >= 2 and h >= 2 and w % 2 == 0 and h % 2 == 0):
            raise ConfigError(f"movie {self.path} size", "even width and height >= 2 (yuv420p)",
                              f"{w}x{h}")
        self.size = (int(w), int(h))

    def close(self) -> None:
        """Finish the mp4 and move it into place; a preview without frames is an error."""
        if self._closed:
            return
        if self._proc is None:
            self.abort()
            raise MediaError(str(self.path), "at least one frame for the movie", "none")
        rc = self._finish()
        if rc != 0:
            raise self._failed(rc)
        self._closed = True
        self._close_log()
        try:
            self._target.__exit__(None, None, None)
        except OSError as err:
            raise MediaError(str(self.path), "the finished preview moved into place", str(err),
                             "check free disk space and permissions on the folder") from err

    def _start(self) -> None:
        assert self.size is not None
        exe = _ffmpeg_exe()
        w, h = self.size
        cmd = [exe, "-hide_banner", "-loglevel", "error", "-y",
               "-f", "rawvideo", "-pix_fmt", self.codec.pipe, "-s", f"{w}x{h}",
               "-r", _rate(self.fps), "-i", "-", "-an",
               # RGB -> YUV with the BT.709 matrix, tagged on the frames (ffmpeg 7+ ignores the
               # -color_* output options for libx264) so players do not guess BT.601
               "-vf", (f"scale=out_color_matrix=bt709:out_range=tv,format={self.codec.pix_fmt},"
                       "setparams=range=tv:color_primaries=bt709:color_trc=bt709:"
                       "colorspace=bt709"),
               *self.codec.args, "-pix_fmt", self.codec.pix_fmt, str(self._tmp)]
        # stderr goes to a file, not a pipe nobody reads while frames stream (that deadlocks)
        self._log = tempfile.TemporaryFile()
        try:
            self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                          stderr=self._log)
        except OSError as err:
            self.abort()
            raise MediaError(str(self.path), f"a runnable ffmpeg at {exe}", str(err),
                             "reinstall imageio-ffmpeg or set IMAGEIO_FFMPEG_EXE") from err

    def _finish(self) -> int:
        """End of input: ffmpeg flushes the encoder and exits; its exit status."""
        assert self._proc is not None and self._proc.stdin is not None
        with contextlib.suppress(OSError):  # already gone: the exit status says why
            self._proc.stdin.close()
        return self._proc.wait()

    def _failed(self, rc: int) -> MediaError:
        """Clean up and describe ffmpeg's failure in one line, with its last message."""
        assert self._log is not None
        self._log.seek(0)
        lines = self._log.read().decode("utf-8", "replace").splitlines()
        last = next((ln.strip() for ln in reversed(lines) if ln.strip()), "no message")
        self.abort()
        return MediaError(str(self.path), f"a movie ({self.codec.label}) written by ffmpeg",
                          f"ffmpeg exit status {rc}: {last}",
                          "check the folder is writable and has free space, and that ffmpeg "
                          "has libx264 and prores_ks (ffmpeg -encoders)")

    def abort(self) -> None:
        """Stop ffmpeg and remove its partial output."""
        if self._closed:
            return
        self._closed = True
        if self._proc is not None:
            self._proc.kill()
            self._finish()
        self._close_log()
        self._target.__exit__(_Aborted, _Aborted(), None)

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
