"""Detail recovery: the model below its own resolution, the plate's fine detail above it.

The frequency separation a compositor does by hand, done where the numbers are known.
A model of resolution ``R`` renders the face in a crop of ``C`` crop pixels, which the
element's plate->crop matrix (a similarity, ``k = sqrt|det|`` crop pixels per plate
pixel) puts on the plate. One model pixel spans ``s = (C / R) / k`` plate pixels
(:func:`model_pixel`), so the model holds nothing finer than its Nyquist, 0.5 cycles per
model pixel = ``0.5 / s`` cycles per plate pixel, ``w_m = pi / s`` radians per pixel.
When ``s > 1`` the face is softer than the plate around it. In ACEScct (log: the carried
texture is relative, the same at any exposure)::

    out = lowpass(face) + (plate - lowpass(plate))

one low-pass ``G`` for both, so the plate's share of the result at frequency ``w`` is
``1 - G(w)`` and the model's is ``G(w)``.

The cut-off. The model is trusted below its own resolution and the plate above it: at
the edge of the model's band the two cross over, the plate's share there is ``eps``
(:data:`PLATE_AT_MODEL_LIMIT`, one half); the model's grid is turned on the plate, so its
band is taken as the disc ``|w| <= w_m``. A stricter split (first tried: 5% at the band
edge) keeps the model's pixels up to about 3.7 ``w_m``, far past what a model holds: on
lp_d3 (cpu-tiny, s about 6.5) it brought the face's fine detail from 0.19 of the plate's
only to 0.27, where the crossover at the band edge brings 0.81 (benchmarks/RESULTS.md).

- A continuous Gaussian of sigma ``a`` has ``G(f) = exp(-2 pi^2 a^2 f^2)``;
  ``1 - G(0.5 / s) = eps`` gives ``a = s * sqrt(-2 ln(1 - eps)) / pi``, about ``0.37 s``
  plate pixels at ``eps = 1/2``.
- At small sizes a sampled Gaussian is no Gaussian (at ``a = 0.4`` its taps are almost a
  delta: 0.82 at Nyquist where the Gaussian has 0.44), so the filter is the discrete
  Gaussian of the pixel grid (Lindeberg's: taps ``exp(-t) I_n(t)``, positive, so no
  ringing at edges), whose response is exactly ``G(wx, wy) = exp(t (cos wx + cos wy - 2))``.
- Over a circle of radius ``w`` that exponent is largest on the diagonal
  (``1 - cos(sqrt(x))`` is concave in ``x``), so (:func:`spread`)::

      t = -ln(1 - eps) / (2 (1 - cos(min(w_m / sqrt(2), pi))))

  puts the plate's share at exactly ``eps`` on the diagonal at the band's edge and below
  it everywhere else inside the band (16% at half the band, 4% at a quarter: an identity
  feature 4 model pixels wide keeps 96% of its contrast); for large ``s``, ``t`` tends to
  the continuous ``a^2``.
- ``eps`` rises from 0 at ``s = 1`` to one half at ``s = 2`` (:func:`edge_share`): at
  ``s = 1`` the model's band is the plate's and nothing is carried, so ``auto``, which
  turns the separation on for ``s > 1``, does not pop when a face crosses that size.

The price of the Gaussian's gentle roll-off (and its lack of halos): past the band edge
the plate's share climbs gradually. At the plate's Nyquist, along an axis: s = 2: 71%,
s = 4 and more: 99%.

Grain. With detail on, the plate's real grain comes through at share ``1 - G``. Adding
the synthetic grain as it is would double the grain where that share is high; leaving it
out would leave a near-grainless face where ``s`` is small; low-passing it by ``G`` would
lose up to half the grain's power where both shares are near 0.5. So the synthetic grain
is filtered by ``H = sqrt(1 - (1 - G)^2)`` (:func:`grain_band`): independent grains add
in power, ``(1 - G)^2 + H^2 = 1``, and the face's grain has the plate's spectrum. Where the
gate drops the plate's detail (below), the synthetic grain goes back towards whole in the
same proportion, so a gated patch is not grainless.

The gate. The plate's detail is kept only where face and plate agree at the model's
resolution (:func:`agreement`): where the model renders another feature there (a closed
mouth on a plate that opens it, the actor's brow over the performer's), the plate's edges
would draw a ghost of its own feature over the model's, a double mouth.

Limitation: the high band is the plate's at the same plate pixel. That is right where
the plate's face is the rendered face (same identity) and roughly right in a swap,
because the element is aligned to the performer so eyes, mouth and outline line up;
but texture finer than ``2 s`` plate pixels that belongs to the performer (pores,
stubble, fine lines, a mole's edge) is the performer's, not the actor's. Nothing at or
below the model's resolution comes from the plate (at most ``eps``), so the identity the
model renders stays the actor's; the detail above it is the performer's skin.
"""

from __future__ import annotations

import math
from typing import NamedTuple, get_args

import cv2
import numpy as np

from ..config import DetailMode
from ..errors import ConfigError, MediaError

MODES: tuple[str, ...] = get_args(DetailMode)
#: the plate's share of the comp at the edge of the model's band (the crossover), for a
#: model pixel of 2 plate pixels or more (:func:`edge_share`)
PLATE_AT_MODEL_LIMIT = 0.5
#: face and plate agree (the plate's detail is kept whole) within this much, ACEScct, at
#: the model's resolution; past it the detail fades as a Gaussian of AGREE_WIDTH
#: (:func:`agreement`). An open mouth against closed lips is 0.2 and more. On lp_d3
#: (cpu-tiny) 0.02 / 0.08 also shut out most of a soft model's face (detail ratio 0.46);
#: 0.05 / 0.1 keeps 0.62 and still draws no ghost mouth (benchmarks/RESULTS.md)
AGREE_DEAD = 0.05
AGREE_WIDTH = 0.1
#: a face pixel whose low-passed coverage is below this keeps its own colour (it is
#: outside the element's coverage, where the matte is 0 anyway).
_MIN_COVER = 1e-3


def edge_share(s: float) -> float:
    """The plate's share at the model's band edge: 0 at ``s <= 1``, rising linearly to
    :data:`PLATE_AT_MODEL_LIMIT` at ``s = 2``."""
    return PLATE_AT_MODEL_LIMIT * min(max(s - 1.0, 0.0), 1.0)


def spread(s: float) -> float:
    """The discrete Gaussian's variance ``t`` (pixels^2) for ``s`` plate pixels per model
    pixel (the module docstring derives it); 0 (no low-pass) for ``s <= 1``."""
    edge = min(math.pi / s / math.sqrt(2.0), math.pi)
    return -math.log1p(-edge_share(s)) / (2.0 * (1.0 - math.cos(edge)))


def frame_spread(mode: str, s: float | None, where: str) -> float | None:
    """The low-pass variance for one frame, or None for the model's pixels only.

    ``off``: None. ``auto``: on when ``s > 1`` (the model's resolution is below the
    face's size on the plate); an element that does not say its model resolution stays
    off. ``on``: always, and such an element is refused; at ``s <= 1`` there is nothing
    above the model's band to carry, so it is None there too.

    Raises:
        ConfigError: ``mode`` is not one of :data:`MODES`.
        MediaError: ``on`` and ``s`` is None.
    """
    if mode not in MODES:
        raise ConfigError("comp.detail", f"one of {', '.join(MODES)}", repr(mode))
    if mode == "off" or (mode == "auto" and (s is None or s <= 1.0)):
        return None
    if s is None:
        raise MediaError(where, "an element that says its model's resolution "
                         "(vfx_double/matrix, cropSize and resolution)", "none of them",
                         "re-render this frame, or set comp.detail to auto or off")
    t = spread(s)
    return t if t > 0 else None  # s <= 1: the model's band is the plate's, nothing to carry


def kernel(t: float) -> np.ndarray:
    """The 1-D discrete Gaussian of variance ``t``, float32, odd length, sum 1.

    Cut where its taps fall under about 1e-6 (``5 sqrt(t) + 3``); the taps are the
    inverse DFT of its response, sampled finely enough that no tap aliases.
    """
    radius = math.ceil(5.0 * math.sqrt(t)) + 3
    size = 1 << max(6, (8 * radius).bit_length())
    w = 2.0 * np.pi * np.arange(size) / size
    taps = np.fft.ifft(np.exp(t * (np.cos(w) - 1.0))).real
    half = taps[:radius + 1]
    taps = np.concatenate([half[:0:-1], half])
    return (taps / taps.sum()).astype(np.float32)


def margin(t: float) -> int:
    """Pixels of plate around a box that :func:`recover` reads (the kernel's radius)."""
    return len(kernel(t)) // 2


def response(t: float, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) float64 ``G`` at the frequencies of the DFT of an (H, W) image."""
    wy = 2.0 * np.pi * np.fft.fftfreq(shape[0])[:, None]
    wx = 2.0 * np.pi * np.fft.fftfreq(shape[1])[None, :]
    return np.exp(t * (np.cos(wy) + np.cos(wx) - 2.0))


class Separated(NamedTuple):
    """What :func:`recover` returns: the face with the plate's detail, and where it was
    kept (1) or dropped because face and plate disagree (0), both over the region."""

    face: np.ndarray  # (H, W, 3) float32 ACEScct
    gate: np.ndarray  # (H, W) float32 in [0, 1]


def agreement(face_low: np.ndarray, plate_low: np.ndarray) -> np.ndarray:
    """(H, W) float32 weight of the plate's detail: 1 where the two low-passed images agree
    within :data:`AGREE_DEAD` (any channel, ACEScct), falling as a Gaussian of
    :data:`AGREE_WIDTH` past that.

    The plate's fine detail belongs to the plate's face: where the model renders something
    else at its own resolution (a closed mouth where the plate opens it, an eye looking
    elsewhere, another person's brow), its edges would draw a ghost of the plate's feature
    on the model's, a double mouth. Lips against an open mouth's interior differ by 0.2-0.3.
    """
    diff = np.abs(face_low - plate_low).max(axis=2)
    over = np.maximum(diff - AGREE_DEAD, 0.0) / AGREE_WIDTH
    return np.exp(-(over * over)).astype(np.float32)


def recover(face: np.ndarray, plate: np.ndarray, cover: np.ndarray, t: float) -> Separated:
    """``lowpass(face) + gate * (plate - lowpass(plate))`` over a region, all ACEScct.

    Args:
        face: (H, W, 3) float ACEScct, the (colour-matched) element.
        plate: (H, W, 3) float ACEScct, the plate under it.
        cover: (H, W) float in [0, 1], the element's coverage; the face is low-passed as a
            normalised convolution under it, so colour outside the element does not bleed
            in at its edge.
        t: the low-pass variance (:func:`spread`).

    Returns:
        the face and the gate (:func:`agreement`), (H, W, 3) and (H, W) float32. The
        region's edges are reflected: pass a region grown by :func:`margin` and keep its
        inside, where the result is exact.
    """
    w = np.clip(cover, 0.0, 1.0)[:, :, None].astype(np.float32)
    stack = np.concatenate([face * w, w, plate], axis=2).astype(np.float32)
    k = kernel(t)
    low = cv2.sepFilter2D(stack, -1, k, k, borderType=cv2.BORDER_REFLECT_101)
    weight = low[..., 3:4]
    face_low = np.where(weight > _MIN_COVER, low[..., :3] / np.maximum(weight, _MIN_COVER),
                        face)
    gate = agreement(face_low, low[..., 4:])
    # The plate's high band around a feature's edge reaches about two sigmas past where
    # the low-passed images differ most: the gate closes over that reach as well.
    reach = math.ceil(2.0 * math.sqrt(t))
    if reach > 0:
        disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))
        gate = cv2.erode(gate, disc, borderType=cv2.BORDER_REPLICATE)
    out = face_low + gate[:, :, None] * (plate - low[..., 4:])
    return Separated(out.astype(np.float32), gate)


def fft_shape(shape: tuple[int, int]) -> tuple[int, int]:
    """The smallest (H, W) at least ``shape`` whose sides have no prime factor over 5:
    the DFT is about twice as slow on a prime side (a face box 347 pixels high)."""
    return cv2.getOptimalDFTSize(int(shape[0])), cv2.getOptimalDFTSize(int(shape[1]))


def grain_band(noise: np.ndarray, t: float) -> np.ndarray:
    """(H, W, 3) synthetic grain filtered by ``sqrt(1 - (1 - G)^2)``, the share of the
    grain's power the plate's own grain does not bring (module docstring, Grain).

    The filter is applied through the DFT; grain is stationary, so the wrap at the edges
    leaves its statistics as they were. Pass noise of :func:`fft_shape` and cut it after.
    """
    arr = np.asarray(noise, np.float32)
    g = response(t, arr.shape[:2])
    h = np.sqrt(np.maximum(1.0 - (1.0 - g) ** 2, 0.0)).astype(np.float32)[:, :, None]
    out = np.empty_like(arr)
    # OpenCV's float32 DFT, one channel at a time: about twice as fast as numpy's here.
    for c in range(arr.shape[2]):
        spectrum = cv2.dft(np.ascontiguousarray(arr[..., c]), flags=cv2.DFT_COMPLEX_OUTPUT)
        spectrum *= h
        out[..., c] = cv2.idft(spectrum, flags=cv2.DFT_REAL_OUTPUT | cv2.DFT_SCALE)
    return out
