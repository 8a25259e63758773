"""Progress for stages: the CLI hands a bar factory in; library callers may pass none."""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator

ProgressFn = Callable[[int], None]


@contextlib.contextmanager
def stage_progress(factory: Callable[[int, str], Any] | None, total: int, desc: str
                   ) -> Iterator[ProgressFn]:
    """Yield an ``update(n)`` function: the factory's bar (e.g. the CLI's tqdm) or a no-op."""
    if factory is None:
        yield lambda n: None
        return
    with factory(total, desc) as bar:
        yield bar.update
