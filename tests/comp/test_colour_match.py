"""Colour matching: known-answer transforms, the ACEScct curve against OCIO, and the
temporal smoothing's zero lag and chunk independence."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from vfx_double.color import DEFAULT_CONFIG, ColourConfig
from vfx_double.comp import colour_match as cm
from vfx_double.comp.colour_match import FrameStats
from vfx_double.errors import ConfigError, MediaError

#: FrameStats.1 as written by this version; today's reader must still load it.
BASELINE_1 = {
    "schema": "FrameStats.1",
    "plate_mean": [0.41, 0.4, 0.39], "plate_std": [0.05, 0.05, 0.06],
    "element_mean": [0.43, 0.41, 0.37], "element_std": [0.04, 0.05, 0.05],
    "plate_quantiles": [[0.3 + 0.01 * i for i in range(17)]] * 3,
    "element_quantiles": [[0.31 + 0.012 * i for i in range(17)]] * 3,
    "plate_mean_linear": [0.2, 0.19, 0.18], "element_mean_linear": [0.22, 0.2, 0.16],
    "weight_sum": 1234.5,
}


def scene(seed: int = 0, shape: tuple[int, int] = (64, 80)) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 3) linear plate (log-normal around 0.18, a few stops wide) and (H, W) weight
    that is 1 in a disc, soft at its edge and 0 outside."""
    rng = np.random.default_rng(seed)
    log2 = rng.normal(0.0, 1.2, shape + (3,)) + np.array([0.1, 0.0, -0.2])
    plate = (0.18 * np.exp2(log2)).astype(np.float32)
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    r = np.hypot(yy - shape[0] / 2, xx - shape[1] / 2)
    weight = np.clip(25.0 - r, 0.0, 1.0).astype(np.float32)
    return plate, weight


@pytest.mark.parametrize("precise", [True, False])
def test_acescct_curve_matches_opencolorio(precise: bool) -> None:
    config = ColourConfig.load(DEFAULT_CONFIG)
    lin = np.concatenate([np.linspace(-0.01, 0.02, 301),
                          np.geomspace(0.02, 100.0, 400)]).astype(np.float32)
    pixels = np.repeat(lin[:, None], 3, axis=1)
    code = config.convert(pixels, "ACEScg", "ACEScct", precise=precise)
    np.testing.assert_allclose(cm.encode(pixels), code, atol=1e-5, rtol=0)
    back = config.convert(code, "ACEScct", "ACEScg", precise=precise)
    np.testing.assert_allclose(cm.decode(code), back, rtol=1e-5, atol=1e-7)
    assert cm.decode(np.array([1.9], np.float32))[0] == 65504.0


@pytest.mark.parametrize("shape", [(64, 80), (400, 300)])   # the second is subsampled
def test_rct_recovers_an_exposure_and_contrast_change(shape: tuple[int, int]) -> None:
    plate, weight = scene(0, shape)
    code = cm.encode(plate)
    offset, contrast = np.array([0.05, -0.03, 0.02]), np.array([1.3, 0.8, 1.1])
    element = cm.decode((code - 0.4) * contrast + 0.4 + offset)
    stats = cm.measure(plate, element, weight)
    assert stats is not None
    assert stats.weight_sum == pytest.approx(float(weight.sum()), rel=0.01)
    out = cm.apply("rct", element, stats)
    assert out.dtype == np.float32 and out.shape == plate.shape
    inside = weight > 0
    np.testing.assert_allclose(cm.encode(out)[inside], code[inside], atol=1e-4)


@pytest.mark.parametrize("mode", cm.MODES)
def test_apply_encoded_is_apply_then_encode(mode: str) -> None:
    """The comp's ACEScct hand-over skips a decode and re-encode; it must give what
    encoding ``apply``'s linear result gives, to float32 rounding (far below half's)."""
    plate, weight = scene(3, (120, 90))
    element = cm.decode(cm.encode(plate) * 0.8 + 0.09)
    stats = cm.measure(plate, element, weight)
    assert stats is not None
    code = cm.apply_encoded(mode, element, stats)
    assert code.dtype == np.float32 and code.shape == element.shape
    np.testing.assert_allclose(code, cm.encode(cm.apply(mode, element, stats)), atol=2e-6)
    with pytest.raises(ConfigError):
        cm.apply_encoded("nope", element, stats)


def test_rct_scale_is_clamped_for_a_flat_element() -> None:
    plate, weight = scene()
    rng = np.random.default_rng(3)
    element = cm.decode(0.4 + rng.normal(0.0, 1e-3, plate.shape)).astype(np.float32)
    stats = cm.measure(plate, element, weight)
    out = cm.encode(cm.apply("rct", element, stats))[weight > 0]
    got = out.std(axis=0) / cm.encode(element)[weight > 0].std(axis=0)
    np.testing.assert_allclose(got, cm.RCT_SCALE_LIMITS[1], rtol=1e-3)


def test_histogram_undoes_a_monotone_remap() -> None:
    plate, weight = scene(1, (96, 96))
    code = cm.encode(plate).astype(np.float64)
    bend = np.array([0.4, -0.3, 0.6])

    def remap(x: np.ndarray) -> np.ndarray:     # monotone: slope 0.9 + 2 bend (x - 0.4) > 0
        return 0.1 + 0.9 * x + bend * (x - 0.4) ** 2

    element = cm.decode(remap(code))
    stats = cm.measure(plate, element, weight)
    out = cm.encode(cm.apply("histogram", element, stats)).astype(np.float64)
    inside = weight > 0
    lo, hi = np.percentile(code[inside], [2, 98], axis=0)
    core = inside[..., None] & (code > lo) & (code < hi)
    err = np.abs(out - code)
    assert err[core].max() < 2e-3
    assert np.median(err[inside]) < 2e-4
    ramp = np.linspace(0.0, 1.2, 200)
    for c in range(3):   # monotone everywhere, the extrapolated ends included
        line = np.repeat(cm.decode(ramp)[:, None], 3, axis=1).astype(np.float32)
        mapped = cm.encode(cm.apply("histogram", line, stats))[:, c]
        assert (np.diff(mapped) >= 0).all()


def test_histogram_handles_ties() -> None:
    plate, weight = scene(2)
    element = plate.copy()
    element[: element.shape[0] // 2] = 0.18      # half the element is one flat value
    stats = cm.measure(plate, element, weight)
    ramp = np.repeat(np.geomspace(0.01, 10.0, 300)[:, None], 3, axis=1).astype(np.float32)
    out = cm.encode(cm.apply("histogram", ramp, stats))
    assert np.isfinite(out).all() and (np.diff(out, axis=0) >= 0).all()
    grey = float(cm.encode(np.float32(0.18)))
    flat = dataclasses.replace(stats, element_quantiles=((grey,) * 17,) * 3)
    one_knot = cm.encode(cm.apply("histogram", np.full((1, 3), 0.18, np.float32), flat))[0]
    np.testing.assert_allclose(one_knot, np.mean(flat.plate_quantiles, axis=1), atol=1e-5)


def test_gain_recovers_a_known_gain_and_clamps() -> None:
    plate, weight = scene()
    gain = np.array([0.5, 1.3, 2.0], np.float32)
    stats = cm.measure(plate, plate * gain, weight)
    np.testing.assert_allclose(cm.apply("gain", plate * gain, stats), plate, rtol=1e-5)
    wild = cm.measure(plate, plate * np.float32(100.0), weight)
    np.testing.assert_allclose(cm.apply("gain", plate, wild), plate * cm.GAIN_LIMITS[0], rtol=1e-5)


def test_none_mode_and_unknown_mode() -> None:
    plate, weight = scene()
    stats = cm.measure(plate, plate, weight)
    out = cm.apply("none", plate, stats)
    np.testing.assert_array_equal(out, plate)
    assert out is not plate
    with pytest.raises(ConfigError, match="none, rct, histogram, gain"):
        cm.apply("reinhard", plate, stats)


def test_measure_needs_enough_weight_and_ignores_bad_pixels() -> None:
    plate, weight = scene()
    assert cm.measure(plate, plate, np.full(weight.shape, 49.0 / weight.size)) is None
    dirty = plate.copy()
    rows, cols = np.nonzero(weight > 0.5)
    dirty[rows[:5], cols[:5]] = np.nan
    dirty[0, 0] = np.inf
    stats = cm.measure(dirty, plate, np.where(np.isfinite(weight), weight, 0.0))
    assert stats is not None and np.isfinite(cm._pack(stats)).all()
    with pytest.raises(MediaError, match="weight"):
        cm.measure(plate, plate, weight[:-1])


def stats_at(value: np.ndarray) -> FrameStats:
    """FrameStats whose every number is a function of the (V,) vector ``value``."""
    return FrameStats.from_dict(_dict_from(value))


def _dict_from(value: np.ndarray) -> dict:
    a, b = float(value[0]), float(value[1])
    q = [a + 0.01 * i + b for i in range(17)]
    return {"schema": "FrameStats.1", "plate_mean": [a, a + b, a - b],
            "plate_std": [0.05 + 0.01 * b] * 3, "element_mean": [b, 2 * a, a],
            "element_std": [0.04] * 3, "plate_quantiles": [q] * 3,
            "element_quantiles": [[v * 1.1 for v in q]] * 3,
            "plate_mean_linear": [a, b, a + b], "element_mean_linear": [b, a, 1.0],
            "weight_sum": 500.0 + 10 * a}


def test_smoothing_has_no_lag_on_a_ramp() -> None:
    sigma = 2.5
    frames = range(1001, 1061)
    stats = {f: stats_at(np.array([0.3 + 0.004 * (f - 1001), 0.02 - 0.001 * (f - 1001)]))
             for f in frames}
    out = cm.smooth(stats, sigma)
    r = cm.window(sigma)
    assert r == 8 and set(out) == set(frames)
    for f in frames[r:-r]:
        np.testing.assert_allclose(cm._pack(out[f]), cm._pack(stats[f]), rtol=0, atol=1e-12)
    assert abs(out[1001].plate_mean[0] - stats[1001].plate_mean[0]) > 1e-3   # edges lean in


def noisy_stats(frames: range, seed: int, missing: set[int]) -> dict[int, FrameStats | None]:
    rng = np.random.default_rng(seed)
    return {f: None if f in missing else stats_at(0.4 + rng.normal(0.0, 0.01, 2))
            for f in frames}


def test_a_chunk_smoothed_with_its_window_equals_the_whole_shot() -> None:
    sigma = 3.0
    shot = noisy_stats(range(1001, 1121), 4, {1030, 1047, 1048, 1059, 1081})
    whole = cm.smooth(shot, sigma)
    r = cm.window(sigma)
    first, last = 1040, 1070
    chunk = {f: s for f, s in shot.items() if first - r <= f <= last + r}
    part = cm.smooth(chunk, sigma)
    for f in range(first, last + 1):
        assert part[f] == whole[f]


def test_smoothing_reduces_flicker() -> None:
    frames = range(1, 201)
    shot = noisy_stats(frames, 5, set())
    out = cm.smooth(shot, 3.0)
    raw = np.array([cm._pack(shot[f]) for f in frames])
    smooth = np.array([cm._pack(out[f]) for f in frames])
    varying = raw.std(axis=0) > 1e-9
    ratio = np.diff(smooth, axis=0).std(axis=0)[varying] / np.diff(raw, axis=0).std(axis=0)[varying]
    assert ratio.max() < 0.15


def test_unmeasured_frames_are_filled_from_neighbours_or_left_out() -> None:
    ramp = {f: stats_at(np.array([0.3 + 0.01 * f, 0.02])) for f in range(21)}
    ramp[10] = None
    for f in range(40, 61):
        ramp[f] = None
    ramp[61] = stats_at(np.array([0.3, 0.02]))
    out = cm.smooth(ramp, 2.0)
    assert out[10].plate_mean[0] == pytest.approx(0.3 + 0.1, abs=1e-12)
    assert set(out) == set(range(21)) | set(range(55, 62))
    assert cm.smooth({1: None, 2: None}, 2.0) == {}
    assert cm.smooth({}, 2.0) == {}
    sharp = cm.smooth(ramp, 0.0)
    assert sharp[3] == ramp[3] and 10 not in sharp
    with pytest.raises(ConfigError, match="sigma"):
        cm.smooth(ramp, -1.0)


def test_frame_stats_round_trip_and_baseline() -> None:
    plate, weight = scene()
    stats = cm.measure(plate, plate * np.float32(1.2), weight)
    text = json.dumps(stats.to_dict(), allow_nan=False)
    assert FrameStats.from_dict(json.loads(text)) == stats
    baseline = FrameStats.from_dict(BASELINE_1)
    assert baseline.weight_sum == 1234.5 and len(baseline.plate_quantiles[2]) == 17
    assert baseline.to_dict() == BASELINE_1


@pytest.mark.parametrize(("change", "message"), [
    ({"schema": "FrameStats.2"}, "FrameStats.1 or older"),
    ({"schema": "GrainModel.1"}, "schema: FrameStats.1"),
    ({"extra": 1}, "unknown"),
    ({"plate_std": [0.1, 0.1]}, "plate_std"),
    ({"weight_sum": float("nan")}, "weight_sum"),
    ({"plate_mean": "abc"}, "plate_mean"),
])
def test_frame_stats_refuses_bad_records(change: dict, message: str) -> None:
    with pytest.raises(MediaError, match=message):
        FrameStats.from_dict({**BASELINE_1, **change})
