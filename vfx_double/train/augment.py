"""Training augmentation: DFL-style random warp, small affine jitter, colour jitter in log.

The network sees a randomly warped face and learns to reproduce the un-warped one (as
DeepFaceLab trains): the *input* gets the random warp and the affine jitter, the *target*
only the affine jitter. Landmarks follow the affine (they describe the target).

Colour jitter works on ACEScct code values (the faceset's network encoding). Above the
toe (linear > 2**-7, code > 0.1553) ACEScct is ``(log2(lin) + 9.72) / 17.52``, so:

- an offset ``o`` added to the code is a linear gain of ``2 ** (17.52 * o)``
  (``17.52 * o`` stops; the default amplitude 0.05 is up to +-0.88 stops), applied per
  channel it is an exposure plus white-balance change;
- a contrast ``k`` around mid-grey (code 0.4136, linear 0.18) is the power curve
  ``0.18 * (lin / 0.18) ** k`` in linear.

The same jitter goes on input and target: the network should not learn to undo a
colour change, because the performer's lighting must pass through to the actor.

Every random number comes from the ``rng`` passed in, drawn in a fixed order (affine,
colour, warp), so one generator state gives one augmentation and nothing touches a
global RNG.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import cv2
import numpy as np

from .. import acescct
from ..errors import ConfigError
from ..face.align import warp_points
from ..face.ibug68 import MIRROR

#: DFL's warp: grid-point offsets have a standard deviation of 0.24 cells.
_WARP_SIGMA_CELLS = 0.24


@dataclass(frozen=True)
class AugmentSpec:
    """How much to augment.

    Attributes:
        warp: probability that a sample's input gets the DFL random warp, in [0, 1].
        rotate_deg: largest rotation, degrees.
        scale: largest relative scale change (0.05 is 0.95 .. 1.05).
        shift: largest shift as a fraction of the crop size.
        flip: mirror half the samples left-right (landmark indices swap sides too).
        colour: largest ACEScct code offset per channel, and contrast change around
            mid-grey (``1 +- colour``); 0 turns colour jitter off.
    """

    warp: float = 0.5
    rotate_deg: float = 6.0
    scale: float = 0.05
    shift: float = 0.03
    flip: bool = False
    colour: float = 0.05

    def __post_init__(self) -> None:
        limits = {"warp": 1.0, "rotate_deg": 180.0, "scale": 0.5, "shift": 0.5, "colour": 0.5}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "flip":
                if not isinstance(value, bool):
                    raise ConfigError("AugmentSpec.flip", "true or false", repr(value))
                continue
            top = limits[f.name]
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not 0.0 <= value <= top:
                raise ConfigError(f"AugmentSpec.{f.name}", f"a number in [0, {top}]",
                                  repr(value), "fix the training augment settings")


def log_offset_to_gain(offset: float | np.ndarray) -> float | np.ndarray:
    """The linear gain an ACEScct code offset makes above the toe: ``2 ** (17.52 o)``."""
    return np.exp2(acescct.SLOPE * np.asarray(offset, dtype=np.float64))


def apply_log_jitter(rgb: np.ndarray, offset: np.ndarray, contrast: float) -> np.ndarray:
    """``(H, W, 3)`` ACEScct -> ``(H, W, 3)``: contrast around mid-grey, then a per-channel
    ``(3,)`` offset. Float32 out."""
    out = (rgb.astype(np.float32) - acescct.MID_GREY) * np.float32(contrast) + acescct.MID_GREY
    return out + np.asarray(offset, dtype=np.float32).reshape(1, 1, 3)


def _draw_colour(rng: np.random.Generator, amplitude: float) -> tuple[np.ndarray, float]:
    offset = rng.uniform(-1.0, 1.0, size=3) * amplitude
    contrast = 1.0 + rng.uniform(-1.0, 1.0) * amplitude
    return offset, float(contrast)


def colour_jitter_log(rgb: np.ndarray, rng: np.random.Generator, amplitude: float) -> np.ndarray:
    """``(H, W, 3)`` ACEScct with a random per-channel offset and contrast, both within
    ``amplitude`` (see the module docstring for what they mean in linear)."""
    offset, contrast = _draw_colour(rng, amplitude)
    return apply_log_jitter(rgb, offset, contrast)


def random_affine(rng: np.random.Generator, size: int, spec: AugmentSpec) -> np.ndarray:
    """(2, 3) float64 crop pixels -> augmented crop pixels: rotation, scale and optional
    mirror about the crop centre, then a shift. Always draws five numbers."""
    angle = math.radians(rng.uniform(-1.0, 1.0) * spec.rotate_deg)
    scale = 1.0 + rng.uniform(-1.0, 1.0) * spec.scale
    shift = rng.uniform(-1.0, 1.0, size=2) * spec.shift * size
    mirror = spec.flip and rng.random() < 0.5
    if not spec.flip:
        rng.random()  # keep the draw count fixed so later draws do not depend on flip
    c, s = math.cos(angle) * scale, math.sin(angle) * scale
    linear = np.array([[c, -s], [s, c]]) @ np.diag([-1.0 if mirror else 1.0, 1.0])
    # Pixel centres are integers (cv2's convention), so the centre is (size - 1) / 2.
    centre = np.full(2, (size - 1) / 2.0)
    return np.hstack([linear, (centre + shift - linear @ centre)[:, None]])


def is_mirrored(matrix: np.ndarray) -> bool:
    """Whether an affine matrix flips the image (negative determinant)."""
    return float(np.linalg.det(np.asarray(matrix)[:2, :2])) < 0.0


def random_warp_grid(rng: np.random.Generator, size: int, strength: float,
                     cells: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """DFL-style random warp as ``(size, size)`` float32 ``map_x, map_y`` for cv2.remap.

    A ``(cells + 1)`` square grid of points (5 x 5 by default) on the crop, the inner
    ones moved by Gaussian offsets of ``0.24 * strength`` cells, upsampled smoothly
    (bicubic, with DeepFaceLab's half-cell crop so grid points land on cell corners).
    The border stays where it is.
    """
    n = cells + 1
    cell = max(size // cells, 1)
    offsets = np.zeros((2, n, n), np.float32)
    offsets[:, 1:-1, 1:-1] = rng.normal(size=(2, n - 2, n - 2)) * (
        _WARP_SIGMA_CELLS * cell * strength)
    half = cell // 2
    maps = []
    for k in range(2):
        big = cv2.resize(offsets[k], (n * cell, n * cell), interpolation=cv2.INTER_CUBIC)
        full = big[half:half + size, half:half + size]
        if full.shape != (size, size):
            full = cv2.resize(full, (size, size), interpolation=cv2.INTER_LINEAR)
        maps.append(full)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    return xs + maps[0], ys + maps[1]


def _inverse_grid(matrix: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Where each output pixel of the affine comes from in the source: (size, size) x2."""
    # cv2's closed form: np.linalg.inv costs ~0.3 ms a call here (LAPACK dispatch), half
    # of a whole 64 px augmentation.
    inv = cv2.invertAffineTransform(np.asarray(matrix, np.float64))
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    sx = inv[0, 0] * xs + inv[0, 1] * ys + inv[0, 2]
    sy = inv[1, 0] * xs + inv[1, 1] * ys + inv[1, 2]
    return sx.astype(np.float32), sy.astype(np.float32)


def augment(rgb: np.ndarray, mask: np.ndarray, landmarks: np.ndarray,
            rng: np.random.Generator, spec: AugmentSpec
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One training sample's augmentation.

    Args:
        rgb: ``(R, R, 3)`` float32 ACEScct.
        mask: ``(R, R)`` float32 in [0, 1].
        landmarks: ``(68, 2)`` in crop pixels.

    Returns:
        ``rgb (R, R, 3)``, ``mask (R, R)`` (the input: warped and affine-jittered),
        ``landmarks (68, 2)`` float32 (through the affine), ``target_rgb (R, R, 3)``,
        ``target_mask (R, R)`` (affine only). Colour jitter is on both rgb images.
    """
    size = rgb.shape[0]
    matrix = random_affine(rng, size, spec)
    offset, contrast = _draw_colour(rng, spec.colour)
    warped = rng.random() < spec.warp
    sx, sy = _inverse_grid(matrix, size)
    # Both images are one remap from the source (the warp composed with the affine), so
    # an un-warped input is bit-identical to its target and nothing is resampled twice.
    if warped:
        wx, wy = random_warp_grid(rng, size, 1.0)
        ident = np.arange(size, dtype=np.float32)
        off_x = cv2.remap(wx - ident[None, :], sx, sy, cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
        off_y = cv2.remap(wy - ident[:, None], sx, sy, cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
        ix, iy = sx + off_x, sy + off_y
    else:
        ix, iy = sx, sy

    def resample(image: np.ndarray, mx: np.ndarray, my: np.ndarray, colour: bool
                 ) -> np.ndarray:
        # Faces near the border continue (reflect) rather than go to code 0 (deep black);
        # the mask goes to 0 outside so the loss ignores the made-up border.
        if colour:
            return cv2.remap(image, mx, my, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT_101)
        out = cv2.remap(image, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                        borderValue=0.0)
        return np.clip(out, 0.0, 1.0)

    rgb = np.ascontiguousarray(rgb, dtype=np.float32)
    mask = np.ascontiguousarray(mask, dtype=np.float32)
    target_rgb = resample(rgb, sx, sy, True)
    target_mask = resample(mask, sx, sy, False)
    in_rgb = resample(rgb, ix, iy, True) if warped else target_rgb.copy()
    in_mask = resample(mask, ix, iy, False) if warped else target_mask.copy()
    if spec.colour > 0.0:
        target_rgb = apply_log_jitter(target_rgb, offset, contrast)
        in_rgb = apply_log_jitter(in_rgb, offset, contrast)
    points = warp_points(matrix, landmarks)
    if is_mirrored(matrix):
        # After a mirror the subject's left eye is where the right one was.
        points = points[list(MIRROR)]
    return in_rgb, in_mask, points.astype(np.float32), target_rgb, target_mask
