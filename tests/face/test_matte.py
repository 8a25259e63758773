"""Matte erode/feather and the landmark hull, on shapes whose answers are known."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from vfx_double.errors import ConfigError, MediaError
from vfx_double.face.align import TEMPLATE_68
from vfx_double.face.matte import (
    FEATHER_PER_SIGMA,
    feather_sigma,
    hull_matte,
    margin,
    refine_matte,
)


def disc(radius: float, size: int = 300) -> np.ndarray:
    """(size, size) antialiased disc of ``radius`` at the centre."""
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2.0
    return np.clip(radius + 0.5 - np.hypot(yy, xx), 0.0, 1.0).astype(np.float32)


def radius_of(matte: np.ndarray) -> float:
    return math.sqrt(float(matte.sum()) / math.pi)


@pytest.mark.parametrize("erode", [-3.0, -1.0, 1.0, 2.0, 5.0])
def test_integer_erode_moves_a_round_edge_by_that_many_pixels(erode: float) -> None:
    out = refine_matte(disc(80.0), erode, 0.0)
    assert radius_of(out) == pytest.approx(80.0 - erode, abs=0.35)


def test_fractional_erode_lies_between_its_integers() -> None:
    radii = [radius_of(refine_matte(disc(80.0), e, 0.0)) for e in (2.0, 2.25, 2.5, 2.75, 3.0)]
    assert all(a > b for a, b in itertools.pairwise(radii))
    grow = [radius_of(refine_matte(disc(80.0), e, 0.0)) for e in (-2.0, -2.5, -3.0)]
    assert grow[0] < grow[1] < grow[2]


def test_erode_keeps_edges_round() -> None:
    """A dilated point is a disc: its extent is the same along the axes and diagonals."""
    point = np.zeros((41, 41), np.float32)
    point[20, 20] = 1.0
    out = refine_matte(point, -10.0, 0.0)
    assert out[20, 30] == 1.0 and out[20, 31] == 0.0   # radius 10 along x
    assert out[27, 27] == 1.0 and out[28, 28] == 0.0   # 7 * sqrt(2) = 9.9 along the diagonal


def test_feather_width_is_the_documented_ramp() -> None:
    """A hard edge feathered by F goes from 11.5% to 88.5% over F pixels."""
    feather = 12.0
    edge = np.zeros((8, 120), np.float32)
    edge[:, 60:] = 1.0
    row = refine_matte(edge, 0.0, feather)[4].astype(np.float64)
    x = np.arange(120) - 59.5                      # the edge lies between pixels 59 and 60
    low, high = np.interp([0.115, 0.885], row, x)
    assert high - low == pytest.approx(feather, rel=0.02)
    assert feather_sigma(feather) == feather / FEATHER_PER_SIGMA


def test_zero_feather_and_erode_only_clip() -> None:
    matte = np.random.default_rng(0).uniform(-0.2, 1.2, (20, 30)).astype(np.float64)
    out = refine_matte(matte, 0.0, 0.0)
    assert out.dtype == np.float32 and out.shape == (20, 30)
    np.testing.assert_array_equal(out, np.clip(matte, 0, 1).astype(np.float32))


@pytest.mark.parametrize(("erode", "feather"), [(0.0, 8.0), (-4.5, 6.0), (3.0, 10.0), (-2.0, 0.0)])
def test_margin_is_enough_padding(erode: float, feather: float) -> None:
    """Padded by margin(), the result equals the one on a much larger canvas and its
    border stays zero."""
    pad = margin(erode, feather)
    core = disc(15.0, 41)
    small = np.pad(core, pad)
    big = np.pad(core, pad + 40)
    out_small = refine_matte(small, erode, feather)
    out_big = refine_matte(big, erode, feather)[40:-40, 40:-40]
    np.testing.assert_allclose(out_small, out_big, atol=1e-6)
    assert out_small[0].max() == 0.0 and out_small[:, -1].max() == 0.0
    assert margin(erode, feather) >= math.ceil(max(-erode, 0.0))


def test_matte_touching_the_crop_edge_stays_solid_there() -> None:
    matte = np.zeros((40, 40), np.float32)
    matte[:, :25] = 1.0          # the face runs off the plate's left edge
    out = refine_matte(matte, 2.0, 6.0)
    assert out[:, 0].min() == pytest.approx(1.0, abs=1e-6)


def test_refine_matte_refuses_bad_input() -> None:
    with pytest.raises(MediaError, match="expected a non-empty"):
        refine_matte(np.zeros((4, 4, 1), np.float32), 0.0, 1.0)
    with pytest.raises(ConfigError, match="feather"):
        refine_matte(np.zeros((4, 4), np.float32), 0.0, -1.0)
    with pytest.raises(ConfigError, match="erode"):
        margin(float("nan"), 1.0)


def square(x0: float, y0: float, side: float) -> np.ndarray:
    return np.array([[x0, y0], [x0 + side, y0], [x0 + side, y0 + side], [x0, y0 + side]])


def test_hull_covers_exact_areas_with_antialiased_edges() -> None:
    m = hull_matte(square(10.25, 10.0, 40.0), (0, 0, 64, 64), 0.0)
    assert m.dtype == np.float32 and m.shape == (64, 64)
    assert m.sum() == pytest.approx(1600.0, abs=1e-3)
    np.testing.assert_allclose(m[30, 9:12], [0.0, 0.25, 1.0])
    np.testing.assert_allclose(m[30, 49:52], [1.0, 0.75, 0.0])
    triangle = np.array([[5.3, 7.1], [60.2, 20.7], [22.2, 55.5]])
    area = 0.5 * abs(np.cross(triangle[1] - triangle[0], triangle[2] - triangle[0]))
    assert hull_matte(triangle, (0, 0, 64, 64), 0.0).sum() == pytest.approx(area, rel=1e-3)


def test_hull_box_is_a_window_on_plate_space() -> None:
    points = square(100.0, 200.0, 30.0) + np.random.default_rng(1).uniform(0, 5, (4, 2))
    whole = hull_matte(points, (90, 190, 60, 60), 2.0)
    part = hull_matte(points, (110, 205, 20, 30), 2.0)
    np.testing.assert_allclose(part, whole[15:45, 20:40], atol=1e-6)
    assert hull_matte(points, (0, 0, 50, 50), 2.0).max() == 0.0


def test_hull_grows_by_a_rounded_margin() -> None:
    grow = 5.0
    m = hull_matte(square(20.0, 20.0, 40.0), (0, 0, 80, 80), grow)
    expected = 1600.0 + 4 * 40.0 * grow + math.pi * grow ** 2
    assert m.sum() == pytest.approx(expected, rel=2e-3)
    assert m[40, 15] == pytest.approx(0.5, abs=0.02)   # the edge moved from x=20 to 15


def face_points() -> np.ndarray:
    """(68, 2) a frontal face about 200 px wide."""
    return np.asarray(TEMPLATE_68, dtype=np.float64) * 200.0 + 100.0


def test_forehead_extends_the_hull_up_the_face() -> None:
    points = face_points()
    box = (0, 0, 400, 400)
    plain = hull_matte(points, box, 0.0)
    tall = hull_matte(points, box, 0.0, forehead=0.3)
    brow_y = points[17:27, 1].min()
    height = points[8, 1] - points[17:27, 1].mean()
    top_plain = np.nonzero(plain.max(axis=1) > 0.5)[0][0]
    top_tall = np.nonzero(tall.max(axis=1) > 0.5)[0][0]
    assert top_plain == pytest.approx(brow_y, abs=1.0)
    assert top_plain - top_tall == pytest.approx(0.3 * height, abs=3.0)
    assert (tall >= plain - 1e-6).all()


def test_forehead_follows_a_tilted_head() -> None:
    points = face_points()
    centre = points.mean(axis=0)
    angle = math.radians(90.0)     # head lying on its side: "up" is image +x
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    tilted = (points - centre) @ rot.T + centre
    plain = hull_matte(tilted, (0, 0, 400, 400), 0.0)
    tall = hull_matte(tilted, (0, 0, 400, 400), 0.0, forehead=0.3)
    rows_plain = np.nonzero(plain.max(axis=0) > 0.5)[0]
    rows_tall = np.nonzero(tall.max(axis=0) > 0.5)[0]
    assert rows_tall[-1] > rows_plain[-1] + 10 and rows_tall[0] == rows_plain[0]


def test_hull_refuses_bad_input() -> None:
    with pytest.raises(MediaError, match="points"):
        hull_matte(np.zeros((2, 2)), (0, 0, 10, 10), 0.0)
    with pytest.raises(MediaError, match="box"):
        hull_matte(square(0, 0, 5), (0, 0, 0, 10), 0.0)
    with pytest.raises(ConfigError, match="grow"):
        hull_matte(square(0, 0, 5), (0, 0, 10, 10), -1.0)
    with pytest.raises(ConfigError, match="68 iBUG"):
        hull_matte(square(0, 0, 5), (0, 0, 10, 10), 0.0, forehead=0.2)
