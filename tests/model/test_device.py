"""--device is checked against this machine: a typo or an absent GPU is one line, exit 2."""

from __future__ import annotations

import pytest
import torch

from vfx_double.errors import ConfigError
from vfx_double.model.device import pick_device


def test_devices_this_machine_has() -> None:
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device(None).type == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.parametrize("name, words", [("bogus", "a device such as cpu"),
                                         ("meta", "of kind cpu, cuda, mps")])
def test_a_misspelt_device(name: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        pick_device(name)


@pytest.mark.skipif(torch.cuda.device_count() > 3, reason="this machine has a cuda:3")
def test_a_gpu_this_machine_lacks() -> None:
    with pytest.raises(ConfigError, match="cuda"):
        pick_device("cuda:3")
