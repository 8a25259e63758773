"""Detail recovery: the cut-off follows the model's pixel size, grain keeps the plate's
level, and the comp stage uses it only where asked, inside the matte's box."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vfx_double.comp import detail, grain
from vfx_double.errors import ConfigError, MediaError
from vfx_double.face.element import model_pixel


def similarity(k: float, angle: float = 0.0, offset=(3.0, -2.0)) -> np.ndarray:
    c, s = k * math.cos(angle), k * math.sin(angle)
    return np.array([[c, -s, offset[0]], [s, c, offset[1]]])


def passed(s: float, frequency: float, angle: float, size: int = 160) -> float:
    """The share of a plate sinusoid (``frequency`` cycles per plate pixel, direction
    ``angle``) that reaches the result over a flat face, measured on the region's inside."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    phase = 2 * math.pi * frequency * (xx * math.cos(angle) + yy * math.sin(angle))
    # Under the agreement gate's dead zone: face and plate agree, all of the detail counts.
    amplitude = 0.01
    plate = (0.4 + amplitude * np.sin(phase + 0.3))[:, :, None].repeat(3, axis=2)
    face = np.full_like(plate, 0.4)
    out, gate = detail.recover(face.astype(np.float32), plate.astype(np.float32),
                               np.ones((size, size), np.float32), detail.spread(s))
    assert gate.min() == 1.0
    cut = slice(24, size - 24)
    basis = np.stack([np.sin(phase[cut, cut]).ravel(), np.cos(phase[cut, cut]).ravel(),
                      np.ones(phase[cut, cut].size)], axis=1)
    coef, *_ = np.linalg.lstsq(basis, out[cut, cut, 1].ravel().astype(np.float64), rcond=None)
    return float(np.hypot(coef[0], coef[1]) / amplitude)


def analytic_share(s: float, frequency: float, angle: float) -> float:
    w = 2 * math.pi * frequency
    return 1.0 - math.exp(detail.spread(s) * (math.cos(w * math.cos(angle))
                                              + math.cos(w * math.sin(angle)) - 2.0))


def test_model_pixel_is_crop_pixels_per_model_pixel_over_the_matrix_scale() -> None:
    assert model_pixel(similarity(0.5), 256, 64) == pytest.approx(8.0)
    assert model_pixel(similarity(0.5, angle=0.7), 256, 64) == pytest.approx(8.0)
    assert model_pixel(similarity(2.0), 256, 256) == pytest.approx(0.5)


@pytest.mark.parametrize("s", [1.5, 3.0, 6.0, 12.0])
@pytest.mark.parametrize("angle", [0.0, math.pi / 4, 0.4])
def test_the_model_holds_its_band_and_crosses_over_at_its_edge(s: float, angle: float
                                                               ) -> None:
    edge = 0.5 / s  # the model's Nyquist, cycles per plate pixel
    at_edge = passed(s, edge, angle)
    assert at_edge <= detail.edge_share(s) + 2e-3
    assert at_edge == pytest.approx(analytic_share(s, edge, angle), abs=2e-3)
    # inside the band the model dominates: a third of the edge share at half the band,
    # under 5% at a quarter (an identity feature 4 model pixels wide)
    assert passed(s, edge / 2, angle) <= detail.edge_share(s) / 3 + 2e-3
    assert passed(s, edge / 4, angle) <= 0.05


def test_edge_share_rises_from_nothing_at_one_model_pixel_per_plate_pixel() -> None:
    assert detail.edge_share(1.0) == 0.0 and detail.spread(1.0) == 0.0
    assert detail.edge_share(1.5) == pytest.approx(detail.PLATE_AT_MODEL_LIMIT / 2)
    assert detail.edge_share(2.0) == detail.edge_share(9.0) == detail.PLATE_AT_MODEL_LIMIT


@pytest.mark.parametrize("s, at_least", [(2.0, 0.6), (4.0, 0.95), (16.0, 0.99)])
def test_detail_well_above_the_models_band_comes_from_the_plate(s: float,
                                                                at_least: float) -> None:
    got = passed(s, 0.45, 0.0)
    assert got == pytest.approx(analytic_share(s, 0.45, 0.0), abs=5e-3)
    assert got >= at_least


def test_the_cut_off_follows_the_model_pixel_size() -> None:
    # The same plate frequency passes more the coarser the model is on the plate.
    shares = [passed(s, 0.1, 0.0) for s in (2.0, 4.0, 8.0, 16.0)]
    assert shares == sorted(shares) and shares[0] < 0.15 and shares[-1] > 0.95


def test_kernel_is_the_discrete_gaussian_with_the_stated_response() -> None:
    for t in (0.02, 0.3, 2.7, 20.0):
        k = detail.kernel(t).astype(np.float64)
        n = np.arange(len(k)) - len(k) // 2
        assert k.sum() == pytest.approx(1.0, abs=1e-6) and (k > 0).all()
        assert (k * n ** 2).sum() == pytest.approx(t, rel=1e-4)  # its variance is t
        w = np.linspace(0, math.pi, 9)
        got = (k[None, :] * np.cos(np.outer(w, n))).sum(axis=1)
        np.testing.assert_allclose(got, np.exp(t * (np.cos(w) - 1.0)), atol=1e-5)


def test_face_is_low_passed_under_its_coverage_only() -> None:
    # Outside its coverage the element is 0 (a dark ACEScct code): it must not bleed in.
    face = np.full((40, 40, 3), 0.5, np.float32)
    face[:, 20:] = 0.0
    cover = np.zeros((40, 40), np.float32)
    cover[:, :20] = 1.0
    plate = np.full((40, 40, 3), 0.3, np.float32)
    out = detail.recover(face, plate, cover, detail.spread(8.0)).face
    np.testing.assert_allclose(out[:, :20], 0.5, atol=1e-6)


def test_frame_spread_auto_on_above_one_model_pixel_per_plate_pixel() -> None:
    where = "face element, frame 1001"
    assert detail.frame_spread("auto", 1.0, where) is None
    assert detail.frame_spread("auto", 0.5, where) is None
    assert detail.frame_spread("auto", 1.01, where) == detail.spread(1.01)
    assert detail.frame_spread("auto", None, where) is None
    assert detail.frame_spread("on", 0.5, where) is None  # nothing above the model's band
    assert detail.frame_spread("on", 3.0, where) == detail.spread(3.0)
    assert detail.frame_spread("off", 8.0, where) is None
    with pytest.raises(MediaError, match=r"frame 1001.*resolution.*comp.detail"):
        detail.frame_spread("on", None, where)
    with pytest.raises(ConfigError, match="auto, on, off"):
        detail.frame_spread("sometimes", 2.0, where)


def test_grain_keeps_the_plates_level_with_detail_on() -> None:
    # The plate: flat plus grain; the face: flat. With detail, the plate's grain above the
    # cut-off comes through and the synthetic grain fills the rest: the face's grain std
    # must match the plate's within 5%. Adding all the synthetic grain would double the
    # high band (and fail the check); low-passing it would lose power.
    model = grain.GrainModel((0.02, 0.015, 0.025), 0.5,
                             ((1.0, 0.6, 0.4), (0.6, 1.0, 0.5), (0.4, 0.5, 1.0)))
    size, s = 256, 2.0
    t = detail.spread(s)
    plate_grain = grain.synthesise(model, (size, size), seed=1)
    plate = 0.45 + plate_grain
    face = np.full_like(plate, 0.45)
    cover = np.ones((size, size), np.float32)
    synthetic = grain.synthesise(model, (size, size), seed=2)
    base = detail.recover(face, plate, cover, t).face
    inside = (slice(16, -16), slice(16, -16))

    def level(image: np.ndarray) -> np.ndarray:
        return image[inside].reshape(-1, 3).std(axis=0)

    want = level(plate_grain)
    np.testing.assert_allclose(level(base + detail.grain_band(synthetic, t)), want, rtol=0.05)
    assert (level(base + synthetic) > 1.05 * want).all()
    assert (level(base) < 0.9 * want).all()  # the plate alone brings too little


def test_grain_band_is_the_whole_grain_when_detail_passes_nothing() -> None:
    noise = grain.synthesise(grain.GrainModel((0.02,) * 3, 1.0, tuple(map(tuple, np.eye(3)))),
                             (64, 48), seed=3)
    band = detail.grain_band(noise, detail.spread(0.05))
    np.testing.assert_allclose(band, noise, atol=1e-4)


def test_no_ghost_where_the_model_renders_another_feature() -> None:
    """The plate opens a dark mouth (its edge is fine detail) where the model renders closed
    lips: the plate's edge must not be drawn over the lips. Where they agree, it is kept."""
    size, s = 96, 6.0
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    texture = 0.01 * np.sin(xx * 2.5) * np.sin(yy * 2.2)  # fine, far above the model's band
    mouth = ((xx - 48) ** 2 + (yy - 48) ** 2) < 14 ** 2
    plate = np.where(mouth, 0.15, 0.45).astype(np.float32) + texture
    plate = plate[:, :, None].repeat(3, axis=2)
    face = np.full_like(plate, 0.45)
    out, gate = detail.recover(face, plate, np.ones((size, size), np.float32),
                               detail.spread(s))
    ring = (np.abs(np.hypot(xx - 48, yy - 48) - 14) < 2)
    far = np.hypot(xx - 48, yy - 48) > 36
    assert gate[ring].max() < 0.2 and gate[far].min() > 0.99
    # no dark outline of the plate's mouth on the lips: within 0.01 of the face's level
    assert np.abs(out[ring] - 0.45).max() < 0.02
    # away from the mouth the plate's texture comes through
    assert np.corrcoef(out[far][:, 0], plate[far][:, 0])[0, 1] > 0.8
