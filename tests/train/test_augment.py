"""Augmentation: geometry follows the landmarks, the target is un-warped, log colour jitter."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vfx_double.acescct import MID_GREY as MID_GREY_CCT
from vfx_double.acescct import decode as acescct_decode
from vfx_double.acescct import encode as acescct_encode
from vfx_double.errors import ConfigError
from vfx_double.face.align import template_in_crop
from vfx_double.face.matte import hull_mask
from vfx_double.train.augment import (
    AugmentSpec,
    apply_log_jitter,
    augment,
    colour_jitter_log,
    log_offset_to_gain,
    random_affine,
    random_warp_grid,
)

R = 64
NO_COLOUR = {"colour": 0.0}


def dot_image(centre: np.ndarray, size: int = R) -> np.ndarray:
    """(size, size, 3) black with a small Gaussian dot at ``centre`` in the green channel."""
    ys, xs = np.mgrid[0:size, 0:size]
    rgb = np.zeros((size, size, 3), np.float32)
    rgb[..., 1] = np.exp(-((xs - centre[0]) ** 2 + (ys - centre[1]) ** 2) / (2 * 1.5 ** 2))
    return rgb


def centroid(channel: np.ndarray) -> np.ndarray:
    weights = np.clip(channel.astype(np.float64), 0.0, None)
    ys, xs = np.mgrid[0:channel.shape[0], 0:channel.shape[1]]
    return np.array([(weights * xs).sum(), (weights * ys).sum()]) / weights.sum()


@pytest.fixture
def face() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    points = template_in_crop(R, 0.6).astype(np.float32)
    mask = hull_mask(points, R)
    ys, xs = np.mgrid[0:R, 0:R] / R
    rgb = np.stack([0.3 + 0.2 * xs, 0.35 + 0.2 * ys, 0.4 + 0.1 * xs * ys], -1).astype(np.float32)
    return rgb, mask, points


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("flip", [False, True])
def test_landmarks_follow_the_pixels(seed: int, flip: bool) -> None:
    """A dot at landmark 36 ends where the augmented landmark says (45 after a mirror)."""
    points = template_in_crop(R, 0.6).astype(np.float32)
    spec = AugmentSpec(warp=0.0, rotate_deg=25.0, scale=0.1, shift=0.05, flip=flip, **NO_COLOUR)
    rgb = dot_image(points[36])
    mask = np.ones((R, R), np.float32)
    _, _, new_points, target, _ = augment(rgb, mask, points, np.random.default_rng(seed), spec)
    mirrored = np.linalg.det(random_affine(np.random.default_rng(seed), R, spec)[:, :2]) < 0
    where = new_points[45] if mirrored else new_points[36]
    assert np.abs(centroid(target[..., 1]) - where).max() < 1.0


def test_flip_mirrors_some_samples() -> None:
    spec = AugmentSpec(flip=True)
    dets = [np.linalg.det(random_affine(np.random.default_rng(s), R, spec)[:, :2])
            for s in range(40)]
    assert any(d < 0 for d in dets) and any(d > 0 for d in dets)
    assert all(np.linalg.det(random_affine(np.random.default_rng(s), R, AugmentSpec())[:, :2])
               > 0 for s in range(40))


def test_affine_is_within_the_spec() -> None:
    spec = AugmentSpec(rotate_deg=6.0, scale=0.05, shift=0.03)
    for seed in range(50):
        m = random_affine(np.random.default_rng(seed), R, spec)
        scale = math.sqrt(abs(np.linalg.det(m[:, :2])))
        angle = math.degrees(math.atan2(m[1, 0], m[0, 0]))
        assert 0.95 - 1e-9 <= scale <= 1.05 + 1e-9 and abs(angle) <= 6.0 + 1e-9
        centre = np.full(2, (R - 1) / 2)
        assert np.abs(m[:, :2] @ centre + m[:, 2] - centre).max() <= 0.03 * R + 1e-9


def test_warp_changes_only_the_input(face: tuple) -> None:
    rgb, mask, points = face
    warped = AugmentSpec(warp=1.0, rotate_deg=10.0, scale=0.05, shift=0.03, **NO_COLOUR)
    plain = AugmentSpec(warp=0.0, rotate_deg=10.0, scale=0.05, shift=0.03, **NO_COLOUR)
    a = augment(rgb, mask, points, np.random.default_rng(4), warped)
    b = augment(rgb, mask, points, np.random.default_rng(4), plain)
    # Same affine draw: targets and landmarks agree exactly, the warped input does not.
    np.testing.assert_array_equal(a[3], b[3])
    np.testing.assert_array_equal(a[4], b[4])
    np.testing.assert_array_equal(a[2], b[2])
    assert np.abs(a[0] - a[3]).max() > 0.01
    np.testing.assert_array_equal(b[0], b[3])


def test_warp_alone_leaves_the_target_untouched(face: tuple) -> None:
    rgb, mask, points = face
    spec = AugmentSpec(warp=1.0, rotate_deg=0.0, scale=0.0, shift=0.0, **NO_COLOUR)
    _, in_mask, new_points, target, target_mask = augment(
        rgb, mask, points, np.random.default_rng(0), spec)
    np.testing.assert_allclose(target, rgb, atol=1e-5)
    np.testing.assert_allclose(target_mask, mask, atol=1e-5)
    np.testing.assert_allclose(new_points, points, atol=1e-4)
    assert np.abs(in_mask - mask).max() > 0.05


def test_warp_grid_is_smooth_and_pins_the_border() -> None:
    map_x, map_y = random_warp_grid(np.random.default_rng(1), R, 1.0)
    ys, xs = np.mgrid[0:R, 0:R].astype(np.float32)
    assert map_x.shape == (R, R) and map_x.dtype == np.float32
    dx, dy = map_x - xs, map_y - ys
    assert np.abs(dx).max() > 0.5
    # Coarse grid: neighbouring pixels move almost together; corners stay put.
    assert np.abs(np.diff(dx, axis=1)).max() < 1.0 and np.abs(np.diff(dy, axis=0)).max() < 1.0
    for corner in [(0, 0), (0, -1), (-1, 0), (-1, -1)]:
        assert abs(dx[corner]) < 0.5 and abs(dy[corner]) < 0.5
    still_x, still_y = random_warp_grid(np.random.default_rng(1), R, 0.0)
    np.testing.assert_array_equal(still_x, xs)
    np.testing.assert_array_equal(still_y, ys)


@pytest.mark.parametrize("seed", range(5))
def test_mask_stays_in_range(face: tuple, seed: int) -> None:
    rgb, mask, points = face
    spec = AugmentSpec(warp=1.0, rotate_deg=30.0, scale=0.2, shift=0.1, flip=True, colour=0.1)
    _, in_mask, _, _, target_mask = augment(rgb, mask, points,
                                            np.random.default_rng(seed), spec)
    for m in (in_mask, target_mask):
        assert m.dtype == np.float32 and m.shape == (R, R)
        assert m.min() >= 0.0 and m.max() <= 1.0
        assert m.max() > 0.9


def test_augment_is_deterministic_for_one_rng_state(face: tuple) -> None:
    rgb, mask, points = face
    a = augment(rgb, mask, points, np.random.default_rng(9), AugmentSpec(flip=True, warp=1.0))
    b = augment(rgb, mask, points, np.random.default_rng(9), AugmentSpec(flip=True, warp=1.0))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_acescct_formula() -> None:
    assert MID_GREY_CCT == pytest.approx(0.4135884, abs=1e-6)
    lin = np.array([0.0, 0.001, 0.0078125, 0.18, 1.0, 16.0], np.float32)
    code = acescct_encode(lin)
    assert code[3] == pytest.approx(0.4135884, abs=1e-6)
    assert code[2] == pytest.approx(0.155251141552511, abs=1e-6)
    np.testing.assert_allclose(acescct_decode(code), lin, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("offset", [-0.05, -0.01, 0.02, 0.05])
def test_log_offset_is_a_linear_gain(offset: float) -> None:
    lin = np.array([[[0.05, 0.18, 2.0]]], np.float32)  # above the toe
    jittered = apply_log_jitter(acescct_encode(lin), np.full(3, offset), 1.0)
    gain = acescct_decode(jittered) / lin
    expected = 2.0 ** (17.52 * offset)
    np.testing.assert_allclose(gain, expected, rtol=1e-4)
    assert log_offset_to_gain(offset) == pytest.approx(expected)


def test_contrast_pivots_on_mid_grey() -> None:
    lin = np.array([[[0.18, 0.045, 0.72]]], np.float32)
    out = acescct_decode(apply_log_jitter(acescct_encode(lin), np.zeros(3), 1.1))
    assert out[0, 0, 0] == pytest.approx(0.18, rel=1e-4)
    # Two stops below and above grey move to 2.2 stops: the power curve 0.18 (l/0.18)^k.
    np.testing.assert_allclose(out[0, 0, 1:], 0.18 * (lin[0, 0, 1:] / 0.18) ** 1.1, rtol=1e-4)


def test_colour_jitter_stays_within_the_amplitude() -> None:
    code = np.full((4, 4, 3), MID_GREY_CCT, np.float32)
    shifts = []
    for seed in range(30):
        out = colour_jitter_log(code, np.random.default_rng(seed), 0.05)
        shift = out[0, 0] - MID_GREY_CCT
        assert np.abs(shift).max() <= 0.05 + 1e-6
        assert np.allclose(out, out[0, 0])
        shifts.append(shift)
    shifts = np.array(shifts)
    assert shifts.std(axis=0).min() > 0.01
    assert not np.allclose(shifts[:, 0], shifts[:, 1])
    np.testing.assert_array_equal(colour_jitter_log(code, np.random.default_rng(0), 0.0), code)


@pytest.mark.parametrize("field, value", [("warp", 1.5), ("rotate_deg", -1.0), ("colour", "x"),
                                          ("flip", 1), ("scale", True)])
def test_spec_refuses_bad_values(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=f"AugmentSpec.{field}"):
        AugmentSpec(**{field: value})
