"""OCIO conversions against published curve formulas, alpha, caching and error messages."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import PyOpenColorIO as ocio
import pytest

from vfx_double import color
from vfx_double.color import DEFAULT_CONFIG, ColourConfig, convert, resolve_config_uri
from vfx_double.errors import ColourError

LOGC3 = "ARRI LogC3 (EI800)"

MINIMAL_CONFIG = """\
ocio_profile_version: 2
roles:
  default: linear
  scene_linear: linear
file_rules:
  - !<Rule> {name: Default, colorspace: default}
displays:
  sRGB:
    - !<View> {name: Raw, colorspace: linear}
colorspaces:
  - !<ColorSpace>
    name: linear
    aliases: [lin]
    encoding: scene-linear
  - !<ColorSpace>
    name: log2
    encoding: log
    from_scene_reference: !<LogTransform> {base: 2}
"""


def logc3_ei800_to_linear(t: np.ndarray) -> np.ndarray:
    """ARRI's published LogC3 (v3) decoding at EI 800, in float64."""
    cut, a, b, c, d, e, f = 0.010591, 5.555556, 0.052272, 0.247190, 0.385537, 5.367655, 0.092809
    return np.where(t > e * cut + f, (10.0 ** ((t - d) / c) - b) / a, (t - f) / e)


def acescct_from_linear(x: np.ndarray) -> np.ndarray:
    """ACEScct encoding (Academy S-2016-001)."""
    safe = np.maximum(x, 1e-30)
    return np.where(x <= 0.0078125, 10.5402377416545 * x + 0.0729055341958355,
                    (np.log2(safe) + 9.72) / 17.52)


def grey(value: float, channels: int = 3) -> np.ndarray:
    return np.full((1, channels), value, np.float32)


@pytest.fixture(scope="module")
def cfg() -> ColourConfig:
    return ColourConfig.load(DEFAULT_CONFIG)


@pytest.fixture
def minimal_config(tmp_path: Path) -> Path:
    path = tmp_path / "minimal.ocio"
    path.write_text(MINIMAL_CONFIG)
    return path


# -- known values -----------------------------------------------------------------------

@pytest.mark.parametrize("precise", [True, False])
def test_acescg_grey_to_acescct(cfg: ColourConfig, precise: bool) -> None:
    out = cfg.convert(grey(0.18), "ACEScg", "ACEScct", precise=precise)
    np.testing.assert_allclose(out, 0.413588, atol=2e-6)


def test_logc3_grey_code_value_is_18_percent(cfg: ColourConfig) -> None:
    out = cfg.convert(grey(0.391007), LOGC3, "ACEScg", precise=True)
    np.testing.assert_allclose(out, 0.18, atol=2e-6)


def test_logc3_curve_matches_arri_formula(cfg: ColourConfig) -> None:
    """Same gamut, so only the curve: rtol 1e-5 covers ARRI's 6-decimal constants.

    Fast mode misses this by ~6e-5 absolute near code value 1.0 (linear ~55).
    """
    code = np.linspace(0.0, 1.0, 20001)
    pixels = np.repeat(code[:, None], 3, axis=1).astype(np.float32)
    out = cfg.convert(pixels, LOGC3, "Linear ARRI Wide Gamut 3", precise=True)
    expected = logc3_ei800_to_linear(pixels[:, :1].astype(np.float64))
    np.testing.assert_allclose(out, np.broadcast_to(expected, out.shape), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("precise, atol", [(True, 2e-7), (False, 2e-6)])
def test_acescct_matches_formula(cfg: ColourConfig, precise: bool, atol: float) -> None:
    """Measured worst case: 7.7e-8 precise, 8.4e-7 fast."""
    linear = np.concatenate([np.linspace(-0.01, 0.01, 201), np.geomspace(1e-4, 100.0, 5001)])
    pixels = np.repeat(linear[:, None], 3, axis=1).astype(np.float32)
    out = cfg.convert(pixels, "ACEScg", "ACEScct", precise=precise)
    expected = acescct_from_linear(pixels[:, :1].astype(np.float64))
    np.testing.assert_allclose(out, np.broadcast_to(expected, out.shape), rtol=0, atol=atol)


def plate_like(rng: np.random.Generator) -> np.ndarray:
    """LogC3 code values from black to past white, with modest chroma."""
    level = rng.uniform(-0.05, 1.05, (64, 96, 1))
    return np.clip(level + rng.normal(0.0, 0.05, (64, 96, 3)), -0.05, 1.1).astype(np.float32)


def saturated(rng: np.random.Generator) -> np.ndarray:
    """Each channel anywhere in 0..1: far outside AP1, linear values from -30 to +55."""
    return rng.uniform(0.0, 1.0, (64, 96, 3)).astype(np.float32)


@pytest.mark.parametrize("make, precise, bound", [
    (plate_like, True, 1e-6), (plate_like, False, 5e-6),
    (saturated, True, 1e-5), (saturated, False, 2e-5),
])
def test_logc3_acescg_round_trip(cfg: ColourConfig, make: Callable, precise: bool,
                                 bound: float) -> None:
    """LogC3 -> ACEScg -> LogC3 in code values.

    Measured here: plate-like 1.2e-7 precise, 1.4e-6 fast; saturated 7.8e-6 precise, 8.4e-6
    fast (9.1e-6 and 1.3e-5 over 20,000 samples), where float32 cancellation in the gamut
    matrices, not OCIO's approximation, dominates.
    """
    pixels = make(np.random.default_rng(3))
    linear = cfg.convert(pixels, LOGC3, "ACEScg", precise=precise)
    back = cfg.convert(linear, "ACEScg", LOGC3, precise=precise)
    assert np.abs(back - pixels).max() < bound


def test_fast_and_precise_flags() -> None:
    assert not int(color.PRECISE_FLAGS) & int(ocio.OptimizationFlags.OPTIMIZATION_FAST_LOG_EXP_POW)
    assert int(color.FAST_FLAGS) & int(ocio.OptimizationFlags.OPTIMIZATION_FAST_LOG_EXP_POW)
    processor = ocio.Config.CreateFromFile(DEFAULT_CONFIG).getProcessor(LOGC3, "ACEScg")
    fast = processor.getOptimizedCPUProcessor(color.FAST_FLAGS)
    assert fast.getCacheID() == processor.getDefaultCPUProcessor().getCacheID()


# -- pixels: alpha, dtypes, shapes, out, threads ----------------------------------------

FINITE_ALPHAS = [0.0, -0.0, 0.5, 1.0, 1e30, -1e30, 1e37, 1e-40, 0.1234567]
NON_FINITE_ALPHAS = FINITE_ALPHAS + [np.nan, np.inf, -np.inf]


@pytest.mark.parametrize("alphas", [FINITE_ALPHAS, NON_FINITE_ALPHAS], ids=["finite", "nan-inf"])
@pytest.mark.parametrize("dst", ["ACEScg", "sRGB Encoded Rec.709 (sRGB)", "ACEScct"])
@pytest.mark.parametrize("precise", [True, False])
def test_alpha_bit_identical(cfg: ColourConfig, alphas: list[float], dst: str,
                             precise: bool) -> None:
    """OCIO alone turns -0.0 alpha into +0.0, shifts 1e30 (sRGB), and a NaN or inf alpha
    makes R, G and B NaN; RGB must match an RGB-only conversion bit for bit."""
    rng = np.random.default_rng(0)
    pixels = rng.uniform(0, 1, (len(alphas), 5, 4)).astype(np.float32)
    pixels[..., 3] = np.array(alphas, np.float32)[:, None]
    out = cfg.convert(pixels, LOGC3, dst, precise=precise)
    assert np.array_equal(out[..., 3].view(np.uint32), pixels[..., 3].view(np.uint32))
    rgb = cfg.convert(np.ascontiguousarray(pixels[..., :3]), LOGC3, dst, precise=precise)
    assert np.array_equal(out[..., :3], rgb)


@pytest.mark.parametrize("alpha", [-0.0, np.nan])
@pytest.mark.parametrize("threads", [1, 2])
def test_in_place(cfg: ColourConfig, alpha: float, threads: int) -> None:
    pixels = np.random.default_rng(7).uniform(0, 1, (9, 4, 4)).astype(np.float32)
    pixels[::2, :, 3] = alpha
    before = pixels.copy()
    expected = cfg.convert(before, LOGC3, "ACEScg")
    out = cfg.convert(pixels, LOGC3, "ACEScg", out=pixels, threads=threads)
    assert out is pixels
    assert np.array_equal(out.view(np.uint32), expected.view(np.uint32))
    assert np.array_equal(out[..., 3].view(np.uint32), before[..., 3].view(np.uint32))


def test_out_array(cfg: ColourConfig) -> None:
    pixels = np.random.default_rng(8).uniform(0, 1, (5, 4, 4)).astype(np.float32)
    out = np.full_like(pixels, 7.0)
    assert cfg.convert(pixels, LOGC3, "ACEScg", out=out) is out
    np.testing.assert_array_equal(out, cfg.convert(pixels, LOGC3, "ACEScg"))


def test_input_not_modified_and_float32_out(cfg: ColourConfig) -> None:
    pixels = np.full((3, 2, 4), 0.4, np.float32)
    before = pixels.copy()
    out = cfg.convert(pixels, LOGC3, "ACEScg")
    assert out.dtype == np.float32 and out is not pixels
    assert np.array_equal(pixels, before)


def test_float16_input(cfg: ColourConfig) -> None:
    pixels = np.random.default_rng(1).uniform(0, 1, (8, 8, 4)).astype(np.float16)
    out = cfg.convert(pixels, LOGC3, "ACEScg")
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, cfg.convert(pixels.astype(np.float32), LOGC3, "ACEScg"))
    assert np.array_equal(out[..., 3], pixels[..., 3].astype(np.float32))


@pytest.mark.parametrize("shape", [(7, 3), (7, 4), (5, 6, 3), (2, 5, 6, 4), (0, 4)])
def test_shapes(cfg: ColourConfig, shape: tuple[int, ...]) -> None:
    pixels = np.random.default_rng(2).uniform(0, 1, shape).astype(np.float32)
    out = cfg.convert(pixels, LOGC3, "ACEScg")
    assert out.shape == shape
    flat = cfg.convert(pixels.reshape(-1, shape[-1]), LOGC3, "ACEScg")
    np.testing.assert_array_equal(out.reshape(-1, shape[-1]), flat)


def test_non_contiguous_input(cfg: ColourConfig) -> None:
    pixels = np.random.default_rng(4).uniform(0, 1, (10, 12, 4)).astype(np.float32)
    view = pixels[::2, ::3]
    np.testing.assert_array_equal(cfg.convert(view, LOGC3, "ACEScg"),
                                  cfg.convert(view.copy(), LOGC3, "ACEScg"))


@pytest.mark.parametrize("alpha", [0.5, np.inf])
def test_threads_give_the_same_pixels(cfg: ColourConfig, alpha: float) -> None:
    pixels = np.random.default_rng(5).uniform(0, 1, (37, 16, 4)).astype(np.float32)
    pixels[3, 3, 3] = alpha
    one = cfg.convert(pixels, LOGC3, "ACEScg", precise=True)
    for threads in (2, 3, 64):
        out = cfg.convert(pixels, LOGC3, "ACEScg", precise=True, threads=threads)
        assert np.array_equal(out.view(np.uint32), one.view(np.uint32))


def test_same_space_is_a_copy_without_ocio(cfg: ColourConfig,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    def no_ocio(*args: object, **kwargs: object) -> None:
        raise AssertionError("OCIO was called")

    monkeypatch.setattr(ColourConfig, "processor", no_ocio)
    pixels = np.random.default_rng(6).uniform(0, 1, (4, 4, 4)).astype(np.float16)
    out = cfg.convert(pixels, "ACEScg", "lin_ap1")  # an alias of the same space
    assert out.dtype == np.float32 and np.array_equal(out, pixels.astype(np.float32))


@pytest.mark.parametrize("pixels, found", [
    (np.zeros((4, 4, 2), np.float32), "shape (4, 4, 2)"),
    (np.zeros((4,), np.float32), "shape (4,)"),
    (np.zeros((4, 4, 3), np.uint16), "dtype uint16"),
])
def test_bad_pixels(cfg: ColourConfig, pixels: np.ndarray, found: str) -> None:
    with pytest.raises(ColourError, match=found.replace("(", r"\(").replace(")", r"\)")):
        cfg.convert(pixels, LOGC3, "ACEScg", where="plate.1001.exr")


def test_bad_out(cfg: ColourConfig) -> None:
    pixels = np.zeros((4, 4, 3), np.float32)
    with pytest.raises(ColourError, match="expected out as C-contiguous float32"):
        cfg.convert(pixels, LOGC3, "ACEScg", out=np.zeros((4, 4, 3), np.float64))
    with pytest.raises(ColourError, match="found out overlapping pixels"):
        cfg.convert(pixels[:2], LOGC3, "ACEScg", out=pixels[1:3])


# -- names, caching, display ------------------------------------------------------------

@pytest.mark.parametrize("name, canonical", [
    ("ACEScg", "ACEScg"), ("acescg", "ACEScg"), ("lin_ap1", "ACEScg"),
    ("scene_linear", "ACEScg"), ("compositing_log", "ACEScct"),
    ("arri_logc3_ei800", LOGC3), ("Input - ARRI - V3 LogC (EI800) - Wide Gamut", LOGC3),
])
def test_resolve_names_aliases_roles(cfg: ColourConfig, name: str, canonical: str) -> None:
    assert cfg.resolve(name) == canonical


@pytest.mark.parametrize("name, suggestion", [
    ("ACEScgg", "'ACEScg'"), ("arri logc3", f"'{LOGC3}'"), ("LogC3", f"'{LOGC3}'"),
    ("logc4", "'ARRI LogC4'"),
])
def test_unknown_colourspace_suggests_nearest(cfg: ColourConfig, name: str,
                                              suggestion: str) -> None:
    with pytest.raises(ColourError) as info:
        cfg.resolve(name, where="shot.yaml:12 plate.colourspace")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("shot.yaml:12 plate.colourspace: expected a colourspace of "
                              f"{DEFAULT_CONFIG}, found {name!r}; nearest: {suggestion}")


def test_colourspace_names(cfg: ColourConfig) -> None:
    names = cfg.colourspace_names()
    assert {"ACEScg", "ACEScct", LOGC3, "sRGB - Display"} <= set(names)
    assert "lin_ap1" not in names


def test_processor_cache(cfg: ColourConfig) -> None:
    first = cfg.processor(LOGC3, "ACEScg")
    assert cfg.processor(LOGC3, "ACEScg") is first
    assert cfg.processor("arri_logc3_ei800", "scene_linear") is first
    assert cfg.processor(LOGC3, "ACEScg", precise=True) is not first


def test_config_cache() -> None:
    assert ColourConfig.load(DEFAULT_CONFIG) is ColourConfig.load(DEFAULT_CONFIG)


def test_floating_builtin_name_is_pinned() -> None:
    assert ColourConfig.load("ocio://default").uri.startswith("ocio://cg-config-v")


def test_to_display(cfg: ColourConfig) -> None:
    out = cfg.to_display(np.full((2, 2, 4), 0.18, np.float32), "ACEScg")
    assert out.shape == (2, 2, 4) and np.all(out[..., 3] == np.float32(0.18))
    assert 0.3 < out[0, 0, 0] < 0.4 and np.ptp(out[0, 0, :3]) < 1e-5
    with pytest.raises(ColourError, match="found 'sRGB'; nearest: 'sRGB - Display'"):
        cfg.to_display(out, "ACEScg", display="sRGB")
    with pytest.raises(ColourError, match="one of: 'ACES 1.0 - SDR Video'"):
        cfg.to_display(out, "ACEScg", view="SDR")


# -- configs ----------------------------------------------------------------------------

def test_garbage_config_names_path(tmp_path: Path) -> None:
    path = tmp_path / "garbage.ocio"
    path.write_text("this: [is not\n }} an ocio config")
    with pytest.raises(ColourError) as info:
        ColourConfig.load(str(path))
    message = str(info.value)
    assert message.startswith(f"{path}: expected a readable OCIO config, found ")
    assert "yaml-cpp" in message and "\n" not in message


def test_missing_config_names_path(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "config.ocio"
    with pytest.raises(ColourError, match=f"^{path}: expected a readable OCIO config.*"
                                          "does not exist"):
        ColourConfig.load(str(path))


def test_unknown_builtin_lists_builtins() -> None:
    with pytest.raises(ColourError) as info:
        ColourConfig.load("ocio://studio-config-v2.2.0")
    message = str(info.value)
    assert f"nearest built-in: {DEFAULT_CONFIG};" in message
    assert "ocio://studio-config-v4.0.0_aces-v2.0_ocio-v2.5" in message


def test_minimal_file_config(minimal_config: Path) -> None:
    cfg = ColourConfig.load(str(minimal_config))
    assert cfg.uri == str(minimal_config)
    assert cfg.colourspace_names() == ["linear", "log2"]
    out = cfg.convert(np.array([[4.0, 8.0, 0.5]], np.float32), "lin", "log2", precise=True)
    np.testing.assert_allclose(out, [[2.0, 3.0, -1.0]], atol=1e-6)


def test_resolve_config_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OCIO", raising=False)
    assert resolve_config_uri(None) == DEFAULT_CONFIG
    assert resolve_config_uri("ocio://cg-config-v2.2.0_aces-v1.3_ocio-v2.4", tmp_path) \
        == "ocio://cg-config-v2.2.0_aces-v1.3_ocio-v2.4"
    assert resolve_config_uri("colour/show.ocio", tmp_path) == str(tmp_path / "colour/show.ocio")
    assert resolve_config_uri("/abs/show.ocio", tmp_path) == "/abs/show.ocio"
    monkeypatch.setenv("OCIO", "/studio/config.ocio")
    assert resolve_config_uri(None) == "/studio/config.ocio"
    assert resolve_config_uri("ocio://x") == "ocio://x"


def test_ocio_env_honoured(minimal_config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCIO", str(minimal_config))
    out = convert(np.array([[2.0, 4.0, 1.0]], np.float32), "linear", "log2", precise=True)
    np.testing.assert_allclose(out, [[1.0, 2.0, 0.0]], atol=1e-6)
    with pytest.raises(ColourError, match=f"a colourspace of {minimal_config}"):
        convert(np.zeros((1, 3), np.float32), "ACEScg", "log2")


def test_missing_lut_is_a_colour_error(tmp_path: Path) -> None:
    path = tmp_path / "graded.ocio"
    path.write_text(MINIMAL_CONFIG.replace("roles:", "search_path: luts\nroles:")
                    + "  - !<ColorSpace>\n    name: graded\n"
                    "    from_scene_reference: !<FileTransform> {src: missing.cube}\n")
    cfg = ColourConfig.load(str(path))
    with pytest.raises(ColourError, match="^shot.yaml:9 colour.output: expected a processor "
                                          "for 'linear' -> 'graded', found .*missing.cube"):
        cfg.convert(np.zeros((1, 3), np.float32), "linear", "graded",
                    where="shot.yaml:9 colour.output")
