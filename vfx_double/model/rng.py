"""Process state that exact resume carries across a stop: RNG states as plain JSON, and
the SIGTERM/SIGINT flag that turns a farm preemption into a clean checkpoint-and-exit.

Covers the global generators a training loop draws from: Python's ``random``, numpy's
global ``np.random`` and torch's default CPU generator (plus every CUDA device's when
CUDA is available). Private ``torch.Generator`` objects and DataLoader worker seeds are
the caller's business: derive them from the step number so they need no saving.
"""

from __future__ import annotations

import base64
import contextlib
import random
import signal
import threading
from types import FrameType
from typing import Any, Self

import numpy as np
import torch

from ..errors import WorkAreaError

#: bumped when the layout of the dict below changes.
RNG_FORMAT = "Rng.1"


def _b64(t: torch.Tensor) -> str:
    return base64.b64encode(t.cpu().numpy().tobytes()).decode("ascii")


def _unb64(text: str) -> torch.Tensor:
    # bytearray: torch.frombuffer warns on read-only buffers, and set_rng_state wants its own copy.
    return torch.frombuffer(bytearray(base64.b64decode(text)), dtype=torch.uint8).clone()


def capture_rng() -> dict[str, Any]:
    """The state of every global generator, JSON-serialisable (floats round-trip exactly)."""
    version, internal, gauss_next = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)  # type: ignore[misc]
    state: dict[str, Any] = {
        "format": RNG_FORMAT,
        "python": {"version": version, "state": list(internal), "gauss_next": gauss_next},
        "numpy": {"kind": kind, "keys": [int(k) for k in keys], "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "torch_cpu": _b64(torch.get_rng_state()),
        "torch_cuda": None,
    }
    if torch.cuda.is_available():
        state["torch_cuda"] = [_b64(s) for s in torch.cuda.get_rng_state_all()]
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Put every generator back exactly as :func:`capture_rng` found it."""
    where = "checkpoint state.json (field rng)"
    if not isinstance(state, dict) or state.get("format") != RNG_FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise WorkAreaError(where, f"format {RNG_FORMAT}", repr(found),
                            "the checkpoint was written by another vfx_double version")
    try:
        py = state["python"]
        random.setstate((py["version"], tuple(py["state"]), py["gauss_next"]))
        n = state["numpy"]
        np.random.set_state((n["kind"], np.asarray(n["keys"], dtype=np.uint32), n["pos"],
                             n["has_gauss"], n["cached_gaussian"]))
        torch.set_rng_state(_unb64(state["torch_cpu"]))
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise WorkAreaError(where, "the generator states capture_rng writes",
                            f"{type(err).__name__}: {err}",
                            "the checkpoint is damaged; resume from an earlier one") from err
    cuda = state.get("torch_cuda")
    if cuda and torch.cuda.is_available():
        # A resume on fewer GPUs restores what it can; exactness then is not promised anyway
        # because the data split across ranks differs.
        for index, text in enumerate(cuda[: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(_unb64(text), device=index)


class GracefulStop:
    """Turn SIGTERM (farm preemption), SIGUSR1 (Slurm's ``--signal`` ahead of a time limit)
    and SIGINT into a flag the loop checks after each step.

    The loop then saves a checkpoint and exits 0, so the farm requeues a resumable task
    instead of a failed one. A second Ctrl-C raises KeyboardInterrupt at once. Handlers
    can only be installed from the main thread; elsewhere this is a no-op flag holder.
    """

    def __init__(self, signals: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT,
                                                   signal.SIGUSR1)) -> None:
        self.requested = False
        self.signal: int | None = None
        self._signals = signals
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        self.signal = signum

    def __enter__(self) -> Self:
        if threading.current_thread() is threading.main_thread():
            for sig in self._signals:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, previous in self._previous.items():
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(sig, previous if previous is not None else signal.SIG_DFL)
        self._previous.clear()
