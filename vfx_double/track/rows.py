"""Which rows of a plate frame pass one decodes: between detections, the rows around the face.

The read-ahead thread decodes frame ``i`` while the main thread still follows the face on
earlier frames, so it cannot know where the face is on ``i``. It plans from the rows the
follow step last looked at (:attr:`DisplayFrame.asked`), moved on by the face's motion
between the last two frames seen and grown by that motion and a margin; a detection frame
(every ``redetect_every``-th, which looks at everything) is read whole. The plan is only a
guess for speed: a look that needs a row it left out reads the whole frame
(:class:`DisplayFrame`), so what pass one finds never depends on it.
"""

from __future__ import annotations

from dataclasses import dataclass

#: grown on each side by this fraction of the span last asked for, beyond the motion: the
#: follow step's second crop is re-centred on the face, and a face turning or nearing the
#: camera asks for a few more rows than the frame before. On the 1920x1080 demo the span
#: (~590 rows) moves at most 12 rows and changes by at most 27 between frames.
MARGIN = 0.05
#: rows are read in whole multiples of this from the data window's top: zip stores 16
#: scanlines a chunk (piz, b44 and dwaa 32) and a chunk is decoded whole anyway.
CHUNK = 16
#: past this fraction of the frame's rows, read the whole frame: a band costs about as much,
#: and a frame read whole never misses.
WHOLE_FRACTION = 0.75


@dataclass(frozen=True)
class _Seen:
    index: int
    rows: tuple[int, int]


class RowPlan:
    """Rows to read of each frame of one pass (by its index in the pass), from what the
    follow step looked at on the frames done so far. :meth:`seen` is called by the main
    thread, :meth:`rows` by the read-ahead thread; each swaps or reads one attribute, so
    no lock is needed."""

    def __init__(self, height: int, redetect_every: int) -> None:
        self.height, self.redetect_every = height, redetect_every
        self._last: tuple[_Seen, ...] = ()

    def seen(self, index: int, asked: tuple[int, int] | None) -> None:
        """Frame ``index`` is done; its looks asked for rows ``asked`` (None: it looked
        at none, e.g. no face, and the next frames are read whole)."""
        self._last = (*self._last[-1:], _Seen(index, asked)) if asked is not None else ()

    def rows(self, index: int) -> tuple[int, int] | None:
        """Rows ``top, bottom`` to read of frame ``index``, or None for the whole frame."""
        last = self._last
        if not last or index % self.redetect_every == 0:
            return None
        now = last[-1]
        gap = max(1, index - now.index)
        speed = 0.0
        if len(last) == 2:
            before = last[0]
            speed = (sum(now.rows) - sum(before.rows)) / 2.0 / max(1, now.index - before.index)
        top, bottom = now.rows
        shift = speed * gap
        grow = MARGIN * (bottom - top) + abs(shift)
        top = int(top + min(shift, 0.0) - grow) // CHUNK * CHUNK
        bottom = -(-int(bottom + max(shift, 0.0) + grow + 1) // CHUNK) * CHUNK
        top, bottom = max(0, top), min(self.height, bottom)
        if bottom - top > WHOLE_FRACTION * self.height:
            return None
        return top, bottom
