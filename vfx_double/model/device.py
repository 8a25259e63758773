"""The torch device a command asks for (``--device``), checked against this machine."""

from __future__ import annotations

import torch

from ..errors import ConfigError

_KINDS = ("cpu", "cuda", "mps")


def pick_device(name: str | None, *, rank: int = 0, where: str = "--device") -> torch.device:
    """``name`` as a torch device this machine has; None picks CUDA (GPU ``rank``) when
    there is one, else the CPU. A misspelt or absent device is a ConfigError, not a
    RuntimeError from deep inside torch."""
    if not name:
        return torch.device("cuda", rank) if torch.cuda.is_available() else torch.device("cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as err:
        raise ConfigError(where, "a device such as cpu, cuda or cuda:1", repr(name)) from err
    if device.type not in _KINDS:
        raise ConfigError(where, f"a device of kind {', '.join(_KINDS)}", repr(name))
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ConfigError(where, "a device this machine has", f"{name!r}, but no CUDA GPU "
                              "is visible here", "use --device cpu, or run on a GPU machine")
        if device.index is not None and device.index >= count:
            raise ConfigError(where, f"cuda:0 to cuda:{count - 1} (GPUs visible here)",
                              repr(name), "pick a visible GPU (CUDA_VISIBLE_DEVICES)")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(where, "a device this machine has", f"{name!r}, but MPS is not "
                          "available here", "use --device cpu")
    return device
