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


def test_learning_rate_warms_up_then_falls_to_lr_end() -> None:
    preset = PRESETS["cpu-tiny"]
    total = 1000
    rates = [preset.learning_rate(step, total) for step in range(total)]
    assert rates[0] == pytest.approx(preset.lr / preset.warmup_steps)
    assert max(rates) == pytest.approx(preset.lr)
    after = rates[preset.warmup_steps:]
    assert all(a >= b for a, b in zip(after, after[1:]))  # cosine: never rises again
    assert preset.learning_rate(total, total) == pytest.approx(preset.lr * preset.lr_end)
    # a pure function of (step, total): a resumed run follows the same curve
    assert preset.learning_rate(500, total) == rates[500]


def test_warp_stops_for_the_last_part_of_the_run() -> None:
    preset = PRESETS["cpu-tiny"]
    assert preset.warp_stop(1000) == round(preset.warp_until * 1000)
    assert 0 < preset.warp_until < 1
