"""Write-behind for frame stages: encode and write frames on worker threads, bounded.

Reading ahead is :func:`vfx_double.io.exr.iter_sequence`; this is the other end. EXR
compression runs in OpenImageIO with the GIL released, so a worker thread writing frame N
overlaps the main thread computing frame N+1. At most ``pending`` frames wait in memory:
when the writers fall behind, ``submit`` blocks, so memory does not grow with the shot.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

from ..errors import VfxDoubleError


class WriteBehind:
    """``with WriteBehind() as writer: writer.submit(write_exr, path, image)``.

    The first error of any write is raised from the next ``submit`` or on leaving the
    block; leaving the block waits for every write.
    """

    def __init__(self, workers: int = 2, pending: int = 4) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="write")
        self._slots = threading.BoundedSemaphore(pending)
        self._futures: list[Future] = []
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self._raise_first_error()
        self._slots.acquire()
        try:
            future = self._pool.submit(fn, *args, **kwargs)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(lambda _: self._slots.release())
        with self._lock:
            self._futures.append(future)

    def _raise_first_error(self) -> None:
        with self._lock:
            done = [f for f in self._futures if f.done()]
            self._futures = [f for f in self._futures if not f.done()]
        for future in done:
            error = future.exception()
            if error is not None:
                raise error

    def __enter__(self) -> WriteBehind:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self._pool.shutdown(wait=True)
        if exc_type is None:
            self._raise_first_error()


def readable_exr(path: Path) -> bool:
    """True when ``path`` exists and its pixels decode completely (a rerun keeps it)."""
    from .exr import read_exr  # OIIO is only needed by the stages that call this

    if not path.is_file():
        return False
    try:
        read_exr(path, dtype=None)
    except VfxDoubleError:
        return False
    return True
