"""Pass one's plate pixels around the face, kept for pass two so it need not decode them again.

Pass one decodes each frame's rows around the face (:mod:`.rows`); pass two, once the
landmarks are smoothed, crops the aligned face from the same rows. :class:`KeptRegions`
keeps, per frame, the decoded pixels (as decoded: half for most plates, already checked
finite by pass one) of the box pass two's crop would read if the landmarks did not move,
grown by a margin for what smoothing moves, in one append-only scratch file. Pass two
asks for the box its smoothed crop reads (:meth:`KeptRegions.take`): inside what was kept
it gets exactly those pixels, outside (a *miss*) None, and it decodes them from the plate
as before. The crop is the same bit for bit either way; memory holds one small record a
frame, not pixels.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..face.align import align_matrix
from ..face.crop import Box, aligned_crop_box

#: the box kept is grown on each side by this fraction of its longer side, plus
#: :data:`MARGIN_PX`: smoothing moves the landmarks, and the crop box with them. On the
#: 1920x1080 demo no margin misses 27 of 96 crops, 2% and 4 px none (1.1 MB a frame kept;
#: this margin 1.3 MB).
MARGIN = 0.05
MARGIN_PX = 8
#: scratch bytes one sequence keeps at most; pass two decodes the frames past it again. The
#: 1920x1080 demo keeps 1.3 MB a frame (1.3 GB over 1000 frames); a face filling a 4K
#: frame would keep about 20 MB a frame.
LIMIT = 2 << 30


@dataclass(frozen=True)
class _Region:
    offset: int  # bytes into the scratch file
    box: Box  # plate pixels x, y, w, h
    channels: int
    dtype: str


class KeptRegions:
    """One sequence's kept regions in the scratch file ``path`` (made here, removed by
    :meth:`close`). :meth:`keep` is called by pass one's main thread, then
    :meth:`finish`; :meth:`take` by pass two's read-ahead thread."""

    def __init__(self, path: Path, size: int, coverage: float, limit: int | None = None
                 ) -> None:
        """``limit``: scratch bytes kept at most (default :data:`LIMIT`); a write the disk
        refuses (full) stops the keeping too, and pass two decodes what was not kept."""
        self.path, self.size, self.coverage = Path(path), size, coverage
        self.limit = LIMIT if limit is None else limit
        self._file = open(self.path, "xb")  # noqa: SIM115 - appended to over pass one
        self._regions: dict[int, _Region] = {}
        self.hits = self.misses = 0

    def keep(self, frame: int, pixels: np.ndarray, window: Box, points: np.ndarray) -> None:
        """Keep, of ``pixels`` (``(h, w, C)``, RGB first, covering the plate box
        ``window``), the region pass two's crop would read for the plate landmarks
        ``points`` (68, 2), grown by the margin."""
        box = aligned_crop_box(align_matrix(points, self.size, self.coverage), self.size,
                               window)
        if box is None:
            return
        x, y, w, h = box
        grow = round(MARGIN * max(w, h)) + MARGIN_PX
        wx, wy, ww, wh = window
        x0, y0 = max(wx, x - grow), max(wy, y - grow)
        x1, y1 = min(wx + ww, x + w + grow), min(wy + wh, y + h + grow)
        region = np.ascontiguousarray(pixels[y0 - wy:y1 - wy, x0 - wx:x1 - wx, :3])
        offset = self._file.tell()
        if offset + region.nbytes > self.limit:
            return
        try:
            self._file.write(region.data)
        except OSError:
            self.limit = 0  # e.g. the disk is full: keep nothing more
            return
        self._regions[frame] = _Region(offset, (x0, y0, x1 - x0, y1 - y0), 3,
                                       region.dtype.str)

    def finish(self) -> None:
        """Pass one is done: what was kept can be read."""
        self._file.close()

    def take(self, frame: int, box: Box) -> np.ndarray | None:
        """``(h, w, 3)`` pixels of the plate box ``box`` of ``frame`` as pass one decoded
        them; None when they were not all kept."""
        region = self._regions.get(frame)
        if region is None or not _inside(box, region.box):
            self.misses += 1
            return None
        rx, ry, rw, _ = region.box
        dtype = np.dtype(region.dtype)
        row = rw * region.channels * dtype.itemsize
        rows = np.fromfile(self.path, dtype, count=box[3] * rw * region.channels,
                           offset=region.offset + (box[1] - ry) * row)
        self.hits += 1
        return np.ascontiguousarray(
            rows.reshape(box[3], rw, region.channels)[:, box[0] - rx:box[0] - rx + box[2]])

    def close(self) -> None:
        self._file.close()
        self._regions.clear()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


def _inside(inner: Box, outer: Box) -> bool:
    return (outer[0] <= inner[0] and outer[1] <= inner[1]
            and inner[0] + inner[2] <= outer[0] + outer[2]
            and inner[1] + inner[3] <= outer[1] + outer[3])
