"""Frame patterns: ``plate.####.exr``, ``plate.%04d.exr``, ``plate.$F4.exr``, ``plate.@@@@.exr``.

Parsing is fileseq's, in its one-digit-per-hash style (``fileseq.PAD_STYLE_HASH1``) so that
``#`` means what it means in Nuke (``####`` is 4 digits, ``#`` is unpadded); fileseq's
default style would read a single ``#`` as 4 digits. pyseq is not used: it cannot parse
Nuke's ``plate.####.exr`` nor ``plate.1001-1100#.exr``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterable

import fileseq

from ..errors import ConfigError, MediaError
from .atomic import is_temp_path

PAD_STYLE = fileseq.PAD_STYLE_HASH1
#: ``format_frames`` shows at most this many ranges before summarising the rest
MAX_RANGES = 12
_TOKEN_EXAMPLES = "a frame token such as ####, %04d, $F4 or @@@@"
_RANGE_RE = re.compile(r"\s*(-?\d+)\s*(?:-\s*(-?\d+)\s*)?")


class FrameSequence:
    """A numbered file sequence on disk, optionally limited to a frame range.

    Args:
        pattern: a path with a frame token (``####``, ``%04d``, ``$F4``, ``@@@@``), with or
            without an explicit range (``plate.1001-1100####.exr``).
        frames: ``(first, last)``, inclusive; overrides a range written in the pattern.
    """

    def __init__(self, pattern: str | os.PathLike[str],
                 frames: tuple[int, int] | None = None) -> None:
        self.pattern = os.fspath(pattern)
        try:
            parsed = fileseq.FileSequence(self.pattern, pad_style=PAD_STYLE)
        except fileseq.ParseException as err:
            raise MediaError(self.pattern, f"a frame pattern with {_TOKEN_EXAMPLES}",
                             f"a pattern fileseq cannot parse ({err})",
                             "fix the frame token or range in the path") from err
        token = parsed.padding()
        # fileseq also accepts a single numbered file (``plate.1001.exr``) and invents a
        # token for it; a sequence must be written with its token.
        if not token or token not in Path(self.pattern).name:
            raise MediaError(self.pattern, f"a path with {_TOKEN_EXAMPLES}",
                             "a path without a frame token",
                             "put the frame number's place in the file name, e.g. plate.####.exr")
        self.padding: int = parsed.zfill()
        self.folder = Path(parsed.dirname() or ".")
        self._head = parsed.basename()
        self._tail = parsed.extension()
        self._name = re.compile(re.escape(self._head) + r"(-?\d+)" + re.escape(self._tail))
        if frames is not None:
            self._frames: list[int] | None = _checked_range(frames, self.pattern)
        elif parsed.frameSet() is not None:
            self._frames = sorted(set(parsed.frameSet()))
        else:
            self._frames = None

    def __repr__(self) -> str:
        span = format_frames(self._frames) if self._frames is not None else "frames on disk"
        return f"FrameSequence({self.pattern!r}, {span})"

    @property
    def has_range(self) -> bool:
        return self._frames is not None

    def hash_pattern(self) -> str:
        """The sequence as ``folder/name.####.ext`` (the form Nuke's Read and Write take)."""
        return str(self.folder / f"{self._head}{'#' * self.padding}{self._tail}")

    def frame_name(self, frame: int) -> str:
        # printf-style padding: -5 at 4 digits is "-005", as Nuke and fileseq write it
        return f"{self._head}{frame:0{self.padding}d}{self._tail}"

    def path(self, frame: int) -> Path:
        return self.folder / self.frame_name(frame)

    def frames(self) -> list[int]:
        """The configured range, or the frames on disk when no range was given."""
        return list(self._frames) if self._frames is not None else self.existing()

    def existing(self) -> list[int]:
        """Frames on disk, from one directory listing (no per-frame stat)."""
        found: list[int] = []
        try:
            entries = os.scandir(self.folder)
        except (FileNotFoundError, NotADirectoryError):
            return found
        with entries:
            for entry in entries:
                match = self._name.fullmatch(entry.name)
                if match is None or is_temp_path(entry.name):
                    continue
                frame = int(match.group(1))
                # Only names path() would produce: "plate.01001.exr" is not frame 1001 of
                # a 4-digit sequence, and unpadded "plate.7.exr" is not part of "####".
                if entry.name == self.frame_name(frame) and entry.is_file():
                    found.append(frame)
        return sorted(found)

    def missing(self, frames: Iterable[int] | None = None) -> list[int]:
        wanted = self.frames() if frames is None else list(frames)
        have = set(self.existing())
        return sorted({f for f in wanted if f not in have})

    def with_frames(self, frames: tuple[int, int] | None) -> FrameSequence:
        return FrameSequence(self.pattern, frames)

    def with_pattern(self, target: str | os.PathLike[str]) -> FrameSequence:
        """A sequence for output: ``target`` is either a pattern with a frame token, or a
        folder that gets this sequence's file name (same token, so same padding).
        The frame range carries over."""
        target = os.fspath(target)
        if not _has_token(target):
            target = os.path.join(target, Path(self.pattern).name)
        out = FrameSequence(target)
        out._frames = None if self._frames is None else list(self._frames)
        return out


def _has_token(text: str) -> bool:
    name = Path(text).name
    try:
        token = fileseq.FileSequence(text, pad_style=PAD_STYLE).padding()
    except fileseq.ParseException:
        return False
    return bool(token) and token in name


def _checked_range(frames: tuple[int, int], where: str) -> list[int]:
    first, last = frames
    if first > last:
        raise ConfigError(where, "a frame range (first, last) with first <= last",
                          f"({first}, {last})", "swap the two frames")
    return list(range(first, last + 1))


def format_frames(frames: Iterable[int], max_ranges: int = MAX_RANGES) -> str:
    """Compact ranges: ``[1013, 1050, 1051, 1052]`` -> ``"1013, 1050-1052"``.

    Past ``max_ranges`` ranges the rest is summarised as ``... (N more frames)``.
    """
    ordered = sorted(set(frames))
    if not ordered:
        return "none"
    runs: list[tuple[int, int]] = []
    start = prev = ordered[0]
    for frame in ordered[1:]:
        if frame != prev + 1:
            runs.append((start, prev))
            start = frame
        prev = frame
    runs.append((start, prev))
    shown = [str(a) if a == b else f"{a}-{b}" for a, b in runs[:max_ranges]]
    if len(runs) > max_ranges:
        rest = sum(b - a + 1 for a, b in runs[max_ranges:])
        shown.append(f"... ({rest} more frames)")
    return ", ".join(shown)


FRAME_RANGE_EXPECTED = "a frame range A-B with A <= B (e.g. 1001-1100) or a single frame"


def split_frame_range(text: str) -> tuple[int, int]:
    """The one frame-range grammar (the CLI's ``--frames`` and a shot config's string
    form): ``"1001-1100"`` -> ``(1001, 1100)``; ``"1001"`` -> ``(1001, 1001)``; ``"-5--1"``
    works. Raises ValueError whose text is the hint."""
    match = _RANGE_RE.fullmatch(text)
    if match is None:
        raise ValueError("write it like 1001-1100 or 1001")
    first = int(match.group(1))
    last = int(match.group(2)) if match.group(2) is not None else first
    if first > last:
        raise ValueError(f"the range is reversed: write it as {last}-{first}")
    return first, last


def parse_frame_range(text: str, where: str = "--frames") -> tuple[int, int]:
    """:func:`split_frame_range` with a one-line ConfigError naming ``where``."""
    try:
        return split_frame_range(text)
    except ValueError as err:
        raise ConfigError(where, FRAME_RANGE_EXPECTED, repr(text), str(err)) from None
