"""Alignment maths: the template, Umeyama, plate -> crop matrices and their inverses."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from vfx_double.errors import TrackingError
from vfx_double.face.align import (
    EXTENT_POINTS,
    STABLE_POINTS,
    TEMPLATE_68,
    align_matrix,
    fit_pose,
    from_face,
    invert,
    mean_shape,
    normalise_shape,
    template_in_crop,
    to_face,
    umeyama,
    warp_points,
)
from vfx_double.face.ibug68 import MIRROR


def similarity(angle: float, scale: float, shift: tuple[float, float]) -> np.ndarray:
    c, s = scale * math.cos(angle), scale * math.sin(angle)
    return np.array([[c, -s, shift[0]], [s, c, shift[1]]])


def test_template_is_symmetric_frontal_and_fills_the_unit_width() -> None:
    assert TEMPLATE_68.shape == (68, 2)
    mirrored = TEMPLATE_68[list(MIRROR)] * [-1.0, 1.0] + [1.0, 0.0]
    assert np.allclose(mirrored, TEMPLATE_68, atol=1e-12)
    inner = TEMPLATE_68[EXTENT_POINTS]
    assert inner[:, 0].min() == pytest.approx(0.0) and inner[:, 0].max() == pytest.approx(1.0)
    assert 0.0 < inner[:, 1].min() and inner[:, 1].max() < 1.0
    assert inner[:, 1].min() + inner[:, 1].max() == pytest.approx(1.0)
    # brows above eyes above nose tip above mouth above chin (image y grows downwards)
    ys = [TEMPLATE_68[i, 1] for i in (19, 37, 30, 51, 57, 8)]
    assert ys == sorted(ys)
    with pytest.raises(ValueError):
        TEMPLATE_68[0, 0] = 1.0


def test_umeyama_recovers_a_known_similarity_exactly() -> None:
    rng = np.random.default_rng(3)
    src = rng.uniform(-50, 50, (20, 2))
    truth = similarity(0.7, 1.8, (310.0, -42.5))
    dst = warp_points(truth, src)
    assert np.allclose(umeyama(src, dst), truth, atol=1e-10)
    rigid = similarity(-2.5, 1.0, (3.0, 4.0))
    assert np.allclose(umeyama(src, warp_points(rigid, src), estimate_scale=False), rigid,
                       atol=1e-10)


def test_umeyama_never_reflects() -> None:
    rng = np.random.default_rng(4)
    src = rng.uniform(-1, 1, (10, 2))
    matrix = umeyama(src, src * [-1.0, 1.0])
    assert np.linalg.det(matrix[:, :2]) >= 0.0


@pytest.mark.parametrize("src, dst", [
    (np.zeros((5, 2)), np.ones((5, 2))),          # all source points equal
    (np.ones((5, 2)), np.ones((4, 2))),           # counts differ
    (np.ones((5, 3)), np.ones((5, 3))),           # not 2D
    (np.full((5, 2), np.nan), np.ones((5, 2))),
])
def test_umeyama_rejects_bad_points(src: np.ndarray, dst: np.ndarray) -> None:
    with pytest.raises(TrackingError, match="umeyama"):
        umeyama(src, dst)


@pytest.mark.parametrize("size, coverage", [(256, 0.6), (512, 1.0), (128, 0.42)])
def test_align_matrix_puts_a_moved_template_where_the_template_goes(size: int,
                                                                     coverage: float) -> None:
    plate = warp_points(similarity(0.35, 420.0, (1210.0, 530.0)), TEMPLATE_68)
    matrix = align_matrix(plate, size, coverage)
    assert matrix.shape == (2, 3)
    crop = warp_points(matrix, plate)
    assert np.allclose(crop, template_in_crop(size, coverage), atol=1e-8)
    inner = crop[EXTENT_POINTS]
    # the inner points span `coverage` of the crop width, centred
    assert inner[:, 0].max() - inner[:, 0].min() == pytest.approx(coverage * size)
    assert inner[:, 0].max() + inner[:, 0].min() == pytest.approx(size)
    assert inner[:, 1].max() + inner[:, 1].min() == pytest.approx(size)


def test_align_matrix_known_numbers() -> None:
    # a frontal template 300 px wide at (100, 200): the crop just scales and shifts it
    plate = TEMPLATE_68 * 300.0 + [100.0, 200.0]
    matrix = align_matrix(plate, 256, 0.5)
    assert np.allclose(matrix, [[128 / 300, 0.0, 64 - 100 * 128 / 300],
                                [0.0, 128 / 300, 64 - 200 * 128 / 300]], atol=1e-9)


def test_mouth_blinks_and_jaw_do_not_move_the_crop() -> None:
    plate = warp_points(similarity(-0.2, 300.0, (640.0, 360.0)), TEMPLATE_68)
    talking = plate.copy()
    talking[list(range(5, 12)) + list(range(55, 60)) + [65, 66, 67]] += [0.0, 40.0]
    talking[[37, 38, 43, 44]] += [0.0, 12.0]          # lids closing
    talking[17:27] += [0.0, -15.0]                     # brows raised
    assert np.allclose(align_matrix(talking, 256, 0.6), align_matrix(plate, 256, 0.6))


@pytest.mark.parametrize("kwargs, match", [
    ({"size": 0}, "size"), ({"size": 25.5}, "size"), ({"coverage": 0.0}, "coverage"),
    ({"coverage": 1.5}, "coverage"),
])
def test_align_matrix_rejects_bad_settings(kwargs: dict, match: str) -> None:
    args = {"points": TEMPLATE_68 * 100.0, "size": 256, "coverage": 0.6} | kwargs
    with pytest.raises(TrackingError, match=match):
        align_matrix(**args)


def test_align_matrix_rejects_bad_points() -> None:
    with pytest.raises(TrackingError, match=r"\(68, 2\)"):
        align_matrix(np.zeros((67, 2)), 256, 0.6)
    broken = TEMPLATE_68 * 100.0
    broken[30] = np.nan
    with pytest.raises(TrackingError, match="finite"):
        align_matrix(broken, 256, 0.6)
    with pytest.raises(TrackingError, match="distinct"):
        align_matrix(np.ones((68, 2)), 256, 0.6)


def test_invert_and_warp_points_round_trip_in_batches() -> None:
    matrices = np.stack([similarity(a, s, (x, -x)) for a, s, x in
                         [(0.1, 2.0, 5.0), (-1.2, 0.3, 700.0), (3.0, 1.0, 0.0)]])
    matrices[1, 0, 1] += 0.05          # any invertible affine, not only similarities
    rng = np.random.default_rng(5)
    points = rng.uniform(0, 1000, (3, 68, 2))
    back = warp_points(invert(matrices), warp_points(matrices, points))
    assert np.allclose(back, points, atol=1e-8)
    assert np.allclose(warp_points(matrices[0], points[0]), warp_points(matrices, points)[0])


def test_invert_rejects_singular_and_misshapen_matrices() -> None:
    with pytest.raises(TrackingError, match="invertible"):
        invert(np.zeros((2, 3)))
    with pytest.raises(TrackingError, match=r"\(\.\.\., 2, 3\)"):
        invert(np.eye(3))
    with pytest.raises(TrackingError, match="warp_points"):
        warp_points(np.eye(2), np.zeros((4, 2)))


def test_pose_round_trip_and_mean_shape() -> None:
    rng = np.random.default_rng(6)
    shapes = np.stack([warp_points(similarity(a, s, (x, y)), TEMPLATE_68)
                       for a, s, x, y in rng.uniform([-1, 100, 0, 0], [1, 400, 1920, 1080],
                                                     (5, 4))])
    reference = mean_shape(shapes)
    assert np.allclose(reference, normalise_shape(TEMPLATE_68), atol=1e-9)
    assert np.linalg.norm(reference[36] - reference[45]) == pytest.approx(1.0)
    pose = fit_pose(shapes, reference)
    assert np.allclose(from_face(to_face(shapes, pose), pose), shapes, atol=1e-8)
    assert np.allclose(to_face(shapes, pose), reference, atol=1e-9)


def test_a_real_frontal_face_lands_on_the_template(shared_data: Path) -> None:
    truth = json.loads((shared_data / "landmarks" / "ground_truth_68_xy0.json").read_text())
    points = np.array(truth["takeo"]["landmarks_xy_0based"])
    matrix = align_matrix(points, 256, 0.6)
    error = np.linalg.norm(warp_points(matrix, points) - template_in_crop(256, 0.6), axis=1)
    assert error[STABLE_POINTS].mean() < 0.03 * 256
    assert error.mean() < 0.05 * 256
