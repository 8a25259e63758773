"""Every preset the config accepts exists, and config overrides reach the model spec."""

from __future__ import annotations

import typing

import pytest

from vfx_double.config import Train
from vfx_double.errors import ConfigError
from vfx_double.train.presets import PRESETS, resolve


def test_every_config_choice_has_a_preset() -> None:
    choices = typing.get_args(typing.get_type_hints(Train)["preset"])
    assert set(choices) == set(PRESETS)


def test_overrides_reach_the_spec() -> None:
    preset = resolve(Train(preset="cpu-tiny", resolution=96, encoder_dims=8, batch_size=2))
    assert preset.spec.resolution == 96 and preset.spec.encoder_dims == 8
    assert preset.batch_size == 2 and preset.spec.inter_dims == PRESETS["cpu-tiny"].spec.inter_dims


def test_bad_resolution_override_is_refused() -> None:
    with pytest.raises(ConfigError, match="resolution"):
        resolve(Train(resolution=100))
