"""Streaming for frame stages: read ahead on a thread, write behind on worker threads.

:func:`iter_sequence` decodes the next frames while the caller works on this one;
:class:`WriteBehind` is the other end. EXR
compression runs in OpenImageIO with the GIL released, so a worker thread writing frame N
overlaps the main thread computing frame N+1. At most ``pending`` frames wait in memory:
when the writers fall behind, ``submit`` blocks, so memory does not grow with the shot.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence, TypeVar

from ..errors import MediaError, VfxDoubleError, WorkAreaError
from .exr import ExrImage, read_exr, write_exr
from .sequences import FrameSequence, format_frames

T = TypeVar("T")


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
    if not path.is_file():
        return False
    try:
        read_exr(path, dtype=None)
    except VfxDoubleError:
        return False
    return True


def write_frame(path: Path, image: ExrImage, *, write: Callable[..., Any] | None = None,
                **options: Any) -> bool:
    """Write one output frame of a stage (``write_exr`` ``options``; ``write``: a writer
    other than ``write_exr`` with its ``overwrite`` contract) unless a complete one is
    already there; True when this call wrote it.

    Two farm chunks or two comps on the same frames of one version race for a frame: the
    one that links it first wins, and the other finds a complete frame made from the same
    options, which it keeps instead of failing (one line telling a TD to "pass
    overwrite=True" before). A frame there that does not decode is broken and replaced."""
    path = Path(path)
    write = write or write_exr
    if path.exists():
        if readable_exr(path):
            return False
        write(path, image, overwrite=True, **options)
        return True
    try:
        write(path, image, overwrite=False, **options)
    except WorkAreaError:
        if readable_exr(path):
            return False
        raise
    return True


def iter_sequence(seq: FrameSequence, frames: Sequence[int] | None = None,
                  channels: Sequence[str] | None = None, dtype: str | None = "float32",
                  read_ahead: int = 2) -> Iterator[tuple[int, ExrImage]]:
    """Stream ``(frame, image)`` in order, reading ahead on one background thread.

    Every frame is checked to exist when this is called, before anything is read.
    OpenImageIO releases the GIL while it decodes, so the caller's work overlaps the next
    read.
    """
    frames = seq.frames() if frames is None else list(frames)
    missing = seq.missing(frames)
    if missing:
        raise MediaError(seq.pattern, f"frames {format_frames(frames)}",
                         f"missing frames {format_frames(missing)}",
                         "render or copy them, or narrow the frame range")
    return _read_ahead(seq, frames, channels, dtype, read_ahead)


def _read_ahead(seq: FrameSequence, frames: list[int], channels: Sequence[str] | None,
                dtype: str | None, read_ahead: int) -> Iterator[tuple[int, ExrImage]]:
    return read_ahead_of(frames, lambda frame: read_exr(seq.path(frame), channels, dtype,
                                                         frame=frame),
                         f"read {seq.pattern}", read_ahead)


def read_ahead_of(frames: Sequence[int], read: Callable[[int], T], name: str,
                  read_ahead: int = 2) -> Iterator[tuple[int, T]]:
    """Stream ``(frame, read(frame))`` in order, ``read`` running ahead on one thread
    (:func:`iter_sequence` with any reader, e.g. only the rows a stage needs).

    ``read_ahead`` frames wait decoded beyond the one being read. 0: a frame is read only
    once the caller has taken the one before, so ``read`` can plan from what the caller
    found on every frame but the last it took (it still overlaps the caller's work)."""
    results: queue.Queue[tuple[int, T | BaseException]] = queue.Queue(max(1, read_ahead))
    taken = threading.Semaphore(1) if read_ahead == 0 else None
    stop = threading.Event()

    def reader() -> None:
        for frame in frames:
            if taken is not None and not _acquire(taken, stop):
                return
            try:
                item: T | BaseException = read(frame)
            except BaseException as err:  # handed to the consumer, which re-raises it
                item = err
            if not _offer(results, (frame, item), stop) or isinstance(item, BaseException):
                return

    thread = threading.Thread(target=reader, name=name, daemon=True)
    thread.start()
    try:
        for _ in frames:
            frame, item = results.get()
            if taken is not None:
                taken.release()
            if isinstance(item, BaseException):
                raise item
            yield frame, item
    finally:
        # The consumer may stop early (break, error): release the reader and wait for it.
        stop.set()
        thread.join()


def _acquire(slot: threading.Semaphore, stop: threading.Event) -> bool:
    """Take ``slot``, waiting while it is held; False once the consumer has gone."""
    while not stop.is_set():
        if slot.acquire(timeout=0.1):
            return True
    return False


def _offer(results: queue.Queue, item: Any, stop: threading.Event) -> bool:
    """Put ``item``, waiting while the queue is full; False once the consumer has gone."""
    while not stop.is_set():
        try:
            results.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False
