"""Film and sensor grain: measure it on the plate away from the face, synthesise it.

Grain is measured and added in ACEScct code values, where its amplitude is roughly the
same at every exposure whatever the plate's own encoding.

The model: grain is white Gaussian noise, mixed across channels by a correlation
matrix, blurred by a discrete Gaussian of ``size_sigma`` pixels (0: white) and scaled
to a per-channel standard deviation.

Estimation (:func:`estimate`) on blocks sampled over the frame (:func:`sample_blocks`):

1. Each block is split into structure (a Gaussian blur, sigma :data:`HIGHPASS_SIGMA`)
   and residual (the block minus that blur). Only the interior, :data:`HIGHPASS_RADIUS`
   pixels in from each side, is used, so the blur never reads outside the block and a
   linear gradient leaves no residual.
2. Blocks are ranked by the gradient energy of their structure, and the flattest
   :data:`FLAT_FRACTION` are kept, plus any within :data:`FLAT_SLACK` of the last of
   those: edges and texture would read as grain, and on a plate that is flat nearly
   everywhere a strict cut would keep the blocks whose grain happens to be weakest
   (measured: 5-8% low for grain of size 1.5 without the slack, 1-3% with it).
   Of those, blocks whose residual is over :data:`OUTLIER_FACTOR` times the median
   block's are dropped: texture finer than the blur looks flat but is not grain.
3. Grain size: the residual's lag-1 autocorrelation is matched to the one the model
   predicts for each ``size_sigma`` (a table computed from the discrete kernels).
4. Per-channel std: a robust std of the residual (MAD * 1.4826) divided by the
   high-pass filter's attenuation of grain of that size, so the estimate is unbiased for
   the model's noise (white included).
5. Channel correlation: Pearson correlation of the residuals (a linear filter applied
   to every channel alike leaves it unchanged).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import cv2
import numpy as np

from ..errors import ConfigError, MediaError
from ..records import check_schema

SCHEMA = ("GrainModel", 1)
#: sigma, in pixels, of the blur that separates structure from grain.
HIGHPASS_SIGMA = 2.0
#: radius of that blur's kernel (3 sigma); blocks lose this many pixels on each side.
HIGHPASS_RADIUS = math.ceil(3.0 * HIGHPASS_SIGMA)
#: the fraction of blocks, flattest first, that grain is measured on.
FLAT_FRACTION = 0.25
#: blocks whose structure energy is within this factor of that fraction's flattest are kept.
FLAT_SLACK = 1.5
#: kept blocks whose residual rms exceeds this factor times the median are texture, not grain.
OUTLIER_FACTOR = 1.5
#: the largest grain size, Gaussian sigma in pixels, the estimate can report.
MAX_SIZE_SIGMA = 3.0
#: MAD -> standard deviation for Gaussian data.
_MAD_TO_STD = 1.482602218505602
_SIZE_GRID = np.linspace(0.0, MAX_SIZE_SIGMA, 61)
_BLOCK_TRIES = 8


@dataclass(frozen=True)
class GrainModel:
    """Grain as :func:`synthesise` makes it.

    Attributes:
        std: (R, G, B) standard deviation, ACEScct code values.
        size_sigma: sigma in pixels of the Gaussian that colours the noise; 0 is white.
        correlation: 3 x 3 correlation between the channels' grain (identity: independent
            channels; all ones: pure luma grain).
    """

    std: tuple[float, float, float]
    size_sigma: float
    correlation: tuple[tuple[float, float, float], ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: ``schema``, ``std`` (3 floats), ``size_sigma``, ``correlation`` (3x3)."""
        return {"schema": f"{SCHEMA[0]}.{SCHEMA[1]}", "std": [float(v) for v in self.std],
                "size_sigma": float(self.size_sigma),
                "correlation": [[float(v) for v in row] for row in self.correlation]}

    @classmethod
    def from_dict(cls, data: Any, where: str = "GrainModel") -> GrainModel:
        """Read :meth:`to_dict`'s output; refuse other schemas, keys, shapes or values
        (:class:`MediaError`)."""
        if not isinstance(data, dict):
            raise MediaError(where, "a GrainModel object", type(data).__name__)
        check_schema(data.get("schema"), SCHEMA, where, MediaError)
        keys = {"schema", "std", "size_sigma", "correlation"}
        if set(data) != keys:
            raise MediaError(where, f"the keys {', '.join(sorted(keys))}",
                             ", ".join(sorted(map(str, data))))
        parts = {}
        for name, shape in (("std", (3,)), ("size_sigma", ()), ("correlation", (3, 3))):
            try:
                arr = np.asarray(data[name], dtype=np.float64)
            except (TypeError, ValueError) as err:
                raise MediaError(f"{where} (field {name})", f"numbers shaped {shape}",
                                 repr(data[name])[:60]) from err
            if arr.shape != shape or not np.isfinite(arr).all():
                raise MediaError(f"{where} (field {name})", f"finite numbers shaped {shape}",
                                 repr(data[name])[:60])
            parts[name] = arr
        if (parts["std"] < 0).any() or not 0 <= parts["size_sigma"] <= MAX_SIZE_SIGMA:
            raise MediaError(where, f"std >= 0 and size_sigma in [0, {MAX_SIZE_SIGMA}]",
                             f"std {parts['std'].tolist()}, size_sigma {parts['size_sigma']}")
        return _model(parts["std"], float(parts["size_sigma"]), parts["correlation"])


def _model(std: np.ndarray, size_sigma: float, correlation: np.ndarray) -> GrainModel:
    return GrainModel(tuple(float(v) for v in std),  # type: ignore[arg-type]
                      float(size_sigma),
                      tuple(tuple(float(v) for v in row) for row in correlation))


def sample_blocks(shape: tuple[int, int], exclude: tuple[int, int, int, int] | None,
                  count: int, size: int, seed: int) -> list[tuple[slice, slice]]:
    """Where to measure grain: ``count`` blocks spread evenly over the frame.

    The block corners' range is cut into a grid of about ``count`` cells (more when
    cells are lost to ``exclude``) and each cell gets one block at a random place in it,
    so blocks cover the whole frame; ``count`` of them are kept, chosen at random.

    Args:
        shape: (H, W) of the frame.
        exclude: (x, y, w, h) box no block may overlap (the face), or None.
        count: blocks wanted.
        size: block side in pixels.
        seed: the same seed gives the same blocks.

    Returns:
        Up to ``count`` (rows, cols) slices, fewer only when ``exclude`` leaves too little
        room; in row-major order of their cells.

    Raises:
        ConfigError: ``count`` or ``size`` is not positive.
        MediaError: the frame is smaller than one block.
    """
    if count <= 0 or size <= 0:
        raise ConfigError("grain.sample_blocks", "count > 0 and size > 0",
                          f"count {count}, size {size}")
    height, width = int(shape[0]), int(shape[1])
    if height < size or width < size:
        raise MediaError("grain.sample_blocks", f"a frame of at least {size} x {size}",
                         f"{width} x {height}")
    rng = np.random.default_rng(seed)
    span_y, span_x = height - size + 1, width - size + 1          # corner positions
    cells_x = max(1, round(math.sqrt(count * span_x / span_y)))
    cells_y = max(1, math.ceil(count / cells_x))
    placed: list[tuple[int, int]] = []
    for _ in range(4):
        placed = _place(rng, span_y, span_x, cells_y, cells_x, exclude, size)
        if len(placed) >= count:
            break
        cells_y, cells_x = math.ceil(cells_y * 1.5), math.ceil(cells_x * 1.5)
    if len(placed) > count:
        keep = np.sort(rng.choice(len(placed), size=count, replace=False))
        placed = [placed[i] for i in keep]
    return [(slice(y, y + size), slice(x, x + size)) for y, x in placed]


def _place(rng: np.random.Generator, span_y: int, span_x: int, cells_y: int, cells_x: int,
           exclude: tuple[int, int, int, int] | None, size: int) -> list[tuple[int, int]]:
    """One block corner per grid cell (cells that cannot avoid ``exclude`` get none)."""
    ys = np.linspace(0, span_y, cells_y + 1).astype(int)
    xs = np.linspace(0, span_x, cells_x + 1).astype(int)
    placed: dict[tuple[int, int], None] = {}
    for y0, y1 in itertools.pairwise(ys):
        for x0, x1 in itertools.pairwise(xs):
            for _ in range(_BLOCK_TRIES):
                y = int(rng.integers(y0, max(y1, y0 + 1)))
                x = int(rng.integers(x0, max(x1, x0 + 1)))
                if exclude is None or not _overlaps(x, y, size, exclude):
                    placed[(y, x)] = None
                    break
            else:
                spot = _beside(x, y, size, exclude, span_x, span_y)
                if spot is not None:
                    placed[spot] = None
    return list(placed)


def _beside(x: int, y: int, size: int, box: tuple[int, int, int, int] | None, span_x: int,
            span_y: int) -> tuple[int, int] | None:
    """The nearest (y, x) corner to (y, x) that clears ``box`` by moving along one axis,
    inside the frame; None when there is none (room may be only a thin strip the random
    tries missed)."""
    if box is None:
        return None
    bx, by, bw, bh = box
    moves = [(y, bx - size), (y, bx + bw), (by - size, x), (by + bh, x)]
    fits = [(abs(ny - y) + abs(nx - x), (ny, nx)) for ny, nx in moves
            if 0 <= ny < span_y and 0 <= nx < span_x]
    return min(fits)[1] if fits else None


def _overlaps(x: int, y: int, size: int, box: tuple[int, int, int, int]) -> bool:
    bx, by, bw, bh = box
    return x < bx + bw and bx < x + size and y < by + bh and by < y + size


def _gaussian(sigma: float) -> np.ndarray:
    """The normalised 1-D discrete Gaussian of ``sigma`` cut at 3 sigma; [1] for sigma 0."""
    if sigma < 1e-3:
        return np.ones(1)
    radius = max(1, math.ceil(3.0 * sigma))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


@lru_cache(maxsize=1)
def _size_table() -> tuple[np.ndarray, np.ndarray]:
    """For each size in _SIZE_GRID: the residual's lag-1 autocorrelation and the
    high-pass attenuation of unit-std grain of that size (both from the kernels)."""
    g = _gaussian(HIGHPASS_SIGMA)
    rho, gain = [], []
    for size in _SIZE_GRID:
        k = _gaussian(size)
        gk = np.convolve(g, k)
        pad = (len(gk) - len(k)) // 2
        # residual kernel: (delta - G) * K, with G and K separable
        h = -np.outer(gk, gk)
        h[pad:pad + len(k), pad:pad + len(k)] += np.outer(k, k)
        energy = float((h ** 2).sum())
        rho.append(float((h[:, 1:] * h[:, :-1]).sum()) / energy)
        gain.append(math.sqrt(energy) / float((k ** 2).sum()))
    return np.maximum.accumulate(np.array(rho)), np.array(gain)


def estimate(blocks: np.ndarray) -> GrainModel:
    """The grain of (N, S, S, 3) float ACEScct blocks (see the module docstring).

    Blocks must be larger than ``2 * HIGHPASS_RADIUS + 4`` (16) pixels; 32 is a good size.
    Blocks holding NaN or inf are left out. Without grain (no residual) the model is
    std 0, white, independent channels.

    Raises:
        MediaError: ``blocks`` is not (N >= 1, S, S, 3) float with S > 16, or every block
            holds NaN or inf.
    """
    arr = np.asarray(blocks)
    r = HIGHPASS_RADIUS
    if (arr.ndim != 4 or arr.shape[-1] != 3 or arr.shape[0] < 1 or arr.shape[1] != arr.shape[2]
            or arr.shape[1] < 2 * r + 5 or not np.issubdtype(arr.dtype, np.floating)):
        raise MediaError("grain.estimate blocks", f"float (N, S, S, 3) with S > {2 * r + 4}",
                         f"{arr.dtype} {arr.shape}")
    finite = np.isfinite(arr).all(axis=(1, 2, 3))
    if not finite.any():
        raise MediaError("grain.estimate blocks", "at least one block of finite pixels",
                         f"NaN or inf in all {len(arr)} blocks")
    arr = arr[finite]
    count, side = arr.shape[:2]
    stack = np.ascontiguousarray(arr, dtype=np.float32).reshape(count * side, side, 3)
    g = _gaussian(HIGHPASS_SIGMA)
    # Blocks stacked in one tall image: one blur call; the interior never reads across
    # a block boundary because the kernel's radius is what is cut off.
    low = cv2.sepFilter2D(stack, -1, g, g, borderType=cv2.BORDER_REFLECT_101)
    low = low.reshape(arr.shape)[:, r:side - r, r:side - r]
    inner = np.ascontiguousarray(arr[:, r:side - r, r:side - r], dtype=np.float32)
    gx, gy = np.diff(low, axis=2), np.diff(low, axis=1)
    flatness = (gx ** 2).mean(axis=(1, 2, 3)) + (gy ** 2).mean(axis=(1, 2, 3))
    order = np.argsort(flatness, kind="stable")
    flattest = order[:max(1, math.ceil(count * FLAT_FRACTION))]
    keep = order[flatness[order] <= FLAT_SLACK * flatness[flattest[-1]]]
    resid = (inner[keep] - low[keep]).astype(np.float64)
    # Texture finer than the blur looks flat to the ranking but leaves a residual far
    # above the grain's; pure grain varies by a few percent from block to block.
    level = np.sqrt((resid ** 2).mean(axis=(1, 2, 3)))
    resid = resid[level <= OUTLIER_FACTOR * np.median(level)]
    flat = resid.reshape(-1, 3)
    centred = flat - np.median(flat, axis=0)
    mad_std = _MAD_TO_STD * np.median(np.abs(centred), axis=0)
    energy = float((resid ** 2).sum())
    if not energy > 0 or not mad_std.any():
        return _model(np.zeros(3), 0.0, np.eye(3))
    lag1 = float((resid[:, :, 1:] * resid[:, :, :-1]).sum()
                 + (resid[:, 1:] * resid[:, :-1]).sum())
    pairs = resid[:, :, 1:].size + resid[:, 1:].size
    rho = lag1 / pairs / (energy / resid.size)
    rho_table, gain_table = _size_table()
    size = float(np.interp(rho, rho_table, _SIZE_GRID))
    std = mad_std / float(np.interp(size, _SIZE_GRID, gain_table))
    return _model(std, size, _correlation(centred))


def _correlation(resid: np.ndarray) -> np.ndarray:
    """3 x 3 Pearson correlation of (M, 3) residuals; channels without variance are
    uncorrelated."""
    cov = resid.T @ resid / len(resid)
    sd = np.sqrt(np.diag(cov))
    ok = sd > 0
    corr = np.eye(3)
    corr[np.ix_(ok, ok)] = cov[np.ix_(ok, ok)] / np.outer(sd[ok], sd[ok])
    return np.clip((corr + corr.T) / 2.0, -1.0, 1.0)


def _mixing(correlation: np.ndarray) -> np.ndarray:
    """A 3 x 3 ``L`` with ``L @ L.T`` the nearest valid correlation matrix."""
    corr = (np.asarray(correlation, dtype=np.float64) + np.asarray(correlation).T) / 2.0
    values, vectors = np.linalg.eigh(corr)
    corr = (vectors * np.maximum(values, 1e-6)) @ vectors.T
    d = np.sqrt(np.diag(corr))
    return np.linalg.cholesky(corr / np.outer(d, d))


def synthesise(model: GrainModel, shape: tuple[int, int], seed: int) -> np.ndarray:
    """(H, W, 3) float32 zero-mean grain of ``model`` (ACEScct code units to add).

    White noise is drawn with margin, mixed across channels and scaled by the std over
    the blur's norm (one 3 x 3 matrix), blurred by the model's Gaussian and cropped (so the
    edges are as grainy as the middle); the expected std is exactly ``model.std``.
    Same (model, shape, seed): the same array.
    """
    height, width = int(shape[0]), int(shape[1])
    if height <= 0 or width <= 0:
        raise MediaError("grain.synthesise shape", "(H, W) with H, W > 0", repr(tuple(shape)))
    std = np.asarray(model.std, dtype=np.float64)
    if not std.any():
        return np.zeros((height, width, 3), np.float32)
    k = _gaussian(model.size_sigma)
    r = len(k) // 2
    # SFC64: about 1.5x faster than the default PCG64 at normals, which dominate the cost.
    rng = np.random.Generator(np.random.SFC64(seed))
    white = rng.standard_normal((height + 2 * r, width + 2 * r, 3), dtype=np.float32)
    # The blur is the same on every channel, so it commutes with the channel mix.
    mix = (std / float((k ** 2).sum()))[:, None] * _mixing(np.asarray(model.correlation))
    noise = cv2.transform(white, mix.astype(np.float32))
    if r:
        noise = cv2.sepFilter2D(noise, -1, k, k, borderType=cv2.BORDER_REFLECT_101)
    return np.ascontiguousarray(noise[r:r + height, r:r + width])
