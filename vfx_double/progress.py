"""Progress for stages: the CLI hands a bar factory in; library callers may pass none.

On a terminal the CLI shows tqdm's bar. Where stderr is not a terminal (farm logs, pipes)
tqdm hides itself, so :class:`PlainProgress` writes one plain line every ``every`` seconds
instead: done / total, the rate over the last interval (not the run's average, which a
slow start drags down) and the time left at that rate.
"""

from __future__ import annotations

import contextlib
import sys
import time
from typing import IO, Any, Callable, Iterator

ProgressFn = Callable[[int], None]

#: seconds between plain progress lines
PLAIN_EVERY = 30.0


@contextlib.contextmanager
def stage_progress(factory: Callable[..., Any] | None, total: int, desc: str,
                   unit: str = "frame") -> Iterator[ProgressFn]:
    """Yield an ``update(n)`` function: the factory's bar (e.g. the CLI's tqdm), called as
    ``factory(total, desc, unit=unit)``, or a no-op."""
    if factory is None:
        yield lambda n: None
        return
    with factory(total, desc, unit=unit) as bar:
        yield bar.update


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


class PlainProgress:
    """A progress line every ``every`` seconds, and one at the end: for logs, not terminals.

    ``clock`` is injectable so the timing is testable; it defaults to a monotonic clock.
    """

    def __init__(self, total: int, desc: str, unit: str = "frame", *, every: float = PLAIN_EVERY,
                 out: IO[str] | None = None, clock: Callable[[], float] = time.monotonic):
        self.total, self.desc, self.unit, self.every = total, desc, unit, every
        self.out = out if out is not None else sys.stderr
        self.clock = clock
        self.done = 0
        self._start = self._mark = clock()
        self._mark_done = 0

    def update(self, n: int = 1) -> None:
        self.done += n
        now = self.clock()
        if now - self._mark >= self.every:
            self._line(now, (self.done - self._mark_done) / (now - self._mark))
            self._mark, self._mark_done = now, self.done

    def close(self) -> None:
        """A last line with the whole run's count and time, if any line was written:
        a command shorter than one interval stays as quiet as on a terminal."""
        if self._mark == self._start:
            return
        elapsed = self.clock() - self._start
        self.out.write(f"{self.desc}: {self._count()} {self.unit}s in {_duration(elapsed)}\n")
        self.out.flush()

    def _count(self) -> str:
        return f"{self.done}/{self.total}" if self.total else str(self.done)

    def _line(self, now: float, rate: float) -> None:
        left = self.total - self.done
        eta = f", {_duration(left / rate)} left" if rate > 0 and self.total and left > 0 else ""
        share = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
        self.out.write(f"{self.desc}: {self._count()} {self.unit}s{share}, "
                       f"{rate:.2f} {self.unit}s/s recently{eta}\n")
        self.out.flush()

    def __enter__(self) -> "PlainProgress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
