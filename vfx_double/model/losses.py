"""Training losses: DSSIM + L1 on the masked face, mask loss, eye/mouth priority, GAN.

As DeepFaceLab SAEHD: structural (DSSIM) and pixel (L1) terms on the face inside the target
mask, an MSE term on the predicted mask, extra L1 weight on the eyes and mouth (where a
swap is judged), and an optional patch-GAN term ramped in once the reconstruction has
settled. SSIM uses a Gaussian window (sigma 1.5, 11 taps) and only the "valid" part of
the image (no padding), so on unmasked images it equals scikit-image's
``structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
data_range=1)``; ACEScct values are treated as data range 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ConfigError

#: iBUG-68 point ranges that make the priority hulls.
RIGHT_EYE = tuple(range(36, 42))
LEFT_EYE = tuple(range(42, 48))
MOUTH = tuple(range(48, 60))

#: Wang et al. 2003 MS-SSIM scale weights, finest first.
MS_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
#: Below this size a single SSIM scale is used (the coarsest MS scale would be < 16 px).
MS_MIN_SIZE = 256

_C1 = 0.01 ** 2
_C2 = 0.03 ** 2
_EPS = 1e-8


def _check_pair(x: Tensor, y: Tensor, where: str) -> None:
    if x.ndim != 4 or x.shape != y.shape:
        raise ConfigError(where, "two (B, C, H, W) tensors of the same shape",
                          f"{tuple(x.shape)} and {tuple(y.shape)}")


def _gaussian_window(window: int, sigma: float, x: Tensor) -> Tensor:
    """(C, 1, window, window) depthwise Gaussian kernel, in ``x``'s dtype and device."""
    r = torch.arange(window, dtype=x.dtype, device=x.device) - (window - 1) / 2
    g = torch.exp(-(r ** 2) / (2 * sigma ** 2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(x.shape[1], 1, window, window).contiguous()


def _ssim_maps(x: Tensor, y: Tensor, window: int, sigma: float = 1.5) -> tuple[Tensor, Tensor]:
    """SSIM and contrast-structure maps, (B, C, H - window + 1, W - window + 1) each."""
    k = _gaussian_window(window, sigma, x)
    c = x.shape[1]
    # one grouped conv over the five stacked statistics instead of five calls
    stack = torch.cat([x, y, x * x, y * y, x * y], dim=1)
    stats = F.conv2d(stack, k.repeat(5, 1, 1, 1), groups=5 * c)
    mx, my, xx, yy, xy = stats.split(c, dim=1)
    vx = xx - mx * mx
    vy = yy - my * my
    cov = xy - mx * my
    cs = (2 * cov + _C2) / (vx + vy + _C2)
    lum = (2 * mx * my + _C1) / (mx * mx + my * my + _C1)
    return lum * cs, cs


def _masked_mean(value: Tensor, mask: Tensor | None, window: int) -> Tensor:
    """Mean of a valid-region map over ``mask`` cropped to the same region."""
    if mask is None:
        return value.mean()
    pad = (window - 1) // 2
    h, w = value.shape[-2:]
    m = mask[..., pad:pad + h, pad:pad + w].to(value.dtype).expand_as(value)
    return (value * m).sum() / (m.sum() + _EPS)


def _check_mask(mask: Tensor | None, x: Tensor, where: str) -> None:
    if mask is None:
        return
    if (mask.ndim != 4 or mask.shape[0] != x.shape[0] or mask.shape[1] not in (1, x.shape[1])
            or mask.shape[-2:] != x.shape[-2:]):
        raise ConfigError(where, f"a mask of shape ({x.shape[0]}, 1, {x.shape[2]}, {x.shape[3]})",
                          f"{tuple(mask.shape)}")


def dssim(x: Tensor, y: Tensor, mask: Tensor | None = None, window: int = 11) -> Tensor:
    """(1 - SSIM) / 2, averaged over the mask.

    Args:
        x, y: (B, C, H, W) images, H and W >= ``window``.
        mask: optional (B, 1, H, W) weights in [0, 1]; SSIM is averaged where it is set.
        window: odd Gaussian window size (sigma 1.5).

    Returns:
        scalar in [0, 1]; 0 when ``x == y``.
    """
    _check_pair(x, y, "dssim input")
    _check_mask(mask, x, "dssim mask")
    if window % 2 == 0 or min(x.shape[-2:]) < window:
        raise ConfigError("dssim window", f"an odd window <= the image size {tuple(x.shape[-2:])}",
                          repr(window))
    ssim_map, _ = _ssim_maps(x, y, window)
    return (1 - _masked_mean(ssim_map, mask, window)) / 2


def ssim_window(size: int) -> int:
    """SAEHD's single-scale DSSIM window for a ``size`` px crop: ``size / 11.6`` made odd,
    at least 5 (5 at 64 px, 11 at 128). A window a sixth of the face wide at 64 px judges
    only coarse structure; one of 5 px sees eyelids and lip edges."""
    return max(5, int(size / 11.6) // 2 * 2 + 1)


def ms_dssim(x: Tensor, y: Tensor, mask: Tensor | None = None) -> Tensor:
    """Multi-scale DSSIM (Wang et al. 2003) for images >= 256 px; below, ``dssim`` with
    :func:`ssim_window`.

    Five scales, each half the last (box-filtered); the mask is box-filtered alongside.
    Contrast-structure terms are clamped at a small positive value before the fractional
    powers, so a negatively correlated patch gives a large loss instead of a NaN.

    Args:
        x, y: (B, C, H, W) images.
        mask: optional (B, 1, H, W) weights in [0, 1].

    Returns:
        scalar in [0, 1].
    """
    _check_pair(x, y, "ms_dssim input")
    _check_mask(mask, x, "ms_dssim mask")
    if min(x.shape[-2:]) < MS_MIN_SIZE:
        return dssim(x, y, mask, window=ssim_window(min(x.shape[-2:])))
    window = 11
    result = torch.ones((), dtype=x.dtype, device=x.device)
    for i, w in enumerate(MS_WEIGHTS):
        ssim_map, cs_map = _ssim_maps(x, y, window)
        last = i == len(MS_WEIGHTS) - 1
        value = _masked_mean(ssim_map if last else cs_map, mask, window)
        result = result * value.clamp_min(1e-6) ** w
        if not last:
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
            mask = F.avg_pool2d(mask, 2) if mask is not None else None
    return (1 - result) / 2


def masked_l1(x: Tensor, y: Tensor, mask: Tensor, weight: Tensor | None = None) -> Tensor:
    """Mean absolute error inside the mask, optionally weighted per pixel.

    ``sum(|x - y| * mask * weight) / (C * sum(mask))``: normalised by the mask area alone,
    so a priority weight > 1 makes those pixels count more rather than being averaged away.

    Args:
        x, y: (B, C, H, W).
        mask: (B, 1, H, W) in [0, 1].
        weight: optional (B, 1, H, W) per-pixel weight (see ``priority_map``).
    """
    _check_pair(x, y, "masked_l1 input")
    _check_mask(mask, x, "masked_l1 mask")
    _check_mask(weight, x, "masked_l1 weight")
    m = mask if weight is None else mask * weight
    return ((x - y).abs() * m).sum() / (x.shape[1] * mask.sum() + _EPS)


def mask_loss(pred_mask: Tensor, target_mask: Tensor) -> Tensor:
    """MSE between (B, 1, H, W) masks, as SAEHD."""
    _check_pair(pred_mask, target_mask, "mask_loss input")
    return F.mse_loss(pred_mask, target_mask)


def _convex_hull(points: np.ndarray) -> np.ndarray:
    """(K, 2) counter-clockwise hull (in y-down image space: clockwise on screen)."""
    pts = sorted(set(map(tuple, points.tolist())))
    if len(pts) < 3:
        return np.asarray(pts, dtype=np.float64).reshape(-1, 2)

    def cross(o: tuple, a: tuple, b: tuple) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[tuple] = []
    upper: list[tuple] = []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return np.asarray(lower[:-1] + upper[:-1], dtype=np.float64)


def _hull_inside(hull: np.ndarray, grid: Tensor) -> Tensor:
    """(H*W,) bool: pixel centres in ``grid`` (H*W, 2) inside the convex ``hull``."""
    if len(hull) < 3:  # a degenerate hull (e.g. all points on a line) covers no area
        return torch.zeros(grid.shape[0], dtype=torch.bool, device=grid.device)
    v = torch.as_tensor(hull, dtype=grid.dtype, device=grid.device)
    edge = v.roll(-1, 0) - v
    rel = grid[:, None, :] - v[None]
    cross = edge[None, :, 0] * rel[..., 1] - edge[None, :, 1] * rel[..., 0]
    return (cross >= 0).all(dim=1)


def priority_map(landmarks: Tensor, size: int, eyes: float = 3.0,
                 mouth: float = 2.0) -> Tensor:
    """Per-pixel L1 weight: 1, plus ``eyes`` inside each eye hull and ``mouth`` in the mouth's.

    Hulls are the convex hulls of iBUG points 36-41, 42-47 (eyes) and 48-59 (outer lips),
    rasterised at pixel centres (x + 0.5, y + 0.5). Not differentiable (not needed).

    Args:
        landmarks: (B, 68, 2) x, y in crop pixels.
        size: crop size H = W.
        eyes, mouth: extra weights, >= 0.

    Returns:
        (B, 1, size, size) weights >= 1, in ``landmarks``' dtype (float32 if integer).
    """
    if landmarks.ndim != 3 or tuple(landmarks.shape[1:]) != (68, 2):
        raise ConfigError("priority_map landmarks", "a (B, 68, 2) tensor",
                          f"shape {tuple(landmarks.shape)}")
    if eyes < 0 or mouth < 0:
        raise ConfigError("priority_map weights", "eyes >= 0 and mouth >= 0",
                          f"eyes={eyes}, mouth={mouth}")
    dtype = landmarks.dtype if landmarks.is_floating_point() else torch.float32
    device = landmarks.device
    c = torch.arange(size, dtype=dtype, device=device) + 0.5
    gy, gx = torch.meshgrid(c, c, indexing="ij")
    grid = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)
    pts = landmarks.detach().cpu().double().numpy()
    out = torch.ones(landmarks.shape[0], size * size, dtype=dtype, device=device)
    for b in range(landmarks.shape[0]):
        for idx, extra in ((RIGHT_EYE, eyes), (LEFT_EYE, eyes), (MOUTH, mouth)):
            inside = _hull_inside(_convex_hull(pts[b, list(idx)]), grid)
            out[b] += extra * inside.to(dtype)
    return out.reshape(-1, 1, size, size)


GAN_KINDS = ("hinge", "nonsat")


def _check_kind(kind: str, where: str = "GAN loss kind") -> None:
    if kind not in GAN_KINDS:
        raise ConfigError(where, f"one of {list(GAN_KINDS)}", repr(kind))


def gan_generator_loss(fake_logits: Tensor, kind: str = "hinge") -> Tensor:
    """Generator term from critic logits on fakes: hinge ``-mean(D(G))``, or the
    non-saturating ``mean(softplus(-D(G)))`` (= -log sigmoid)."""
    _check_kind(kind)
    if kind == "hinge":
        return -fake_logits.mean()
    return F.softplus(-fake_logits).mean()


def gan_discriminator_loss(real_logits: Tensor, fake_logits: Tensor,
                           kind: str = "hinge") -> Tensor:
    """Critic term: hinge ``mean(relu(1 - D(x))) + mean(relu(1 + D(G)))`` or the logistic
    ``mean(softplus(-D(x))) + mean(softplus(D(G)))``."""
    _check_kind(kind)
    if kind == "hinge":
        return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def gan_weight(step: int, start: int, full: int, weight: float) -> float:
    """GAN weight ramp: 0 before ``start``, linear to ``weight`` at ``full``, then flat."""
    if full < start:
        raise ConfigError("gan_weight", "full >= start", f"start={start}, full={full}")
    if step < start:
        return 0.0
    if step >= full:
        return float(weight)
    return float(weight) * (step - start) / (full - start)


@dataclass(frozen=True)
class LossWeights:
    """Weights of the loss terms and the GAN ramp (steps)."""

    dssim: float = 10.0
    l1: float = 10.0
    mask: float = 10.0
    eyes: float = 3.0
    mouth: float = 2.0
    gan: float = 0.1
    gan_start: int = 0
    gan_full: int = 1000
    gan_kind: str = "hinge"
    #: L1 on the crop outside the (feathered) face, so the model's pixels just past the
    #: face, where the comp's soft matte edge reads them, look like the input's and not
    #: like whatever an untrained region drifts to (coloured stripes, dark fill)
    background: float = 1.0
    #: train the face terms on the target mask feathered past the face as SAEHD does
    #: (:func:`feather_mask`) instead of the hard hull
    feather: bool = True

    def __post_init__(self) -> None:
        for name in ("dssim", "l1", "mask", "eyes", "mouth", "gan", "gan_start", "gan_full",
                     "background"):
            if getattr(self, name) < 0:
                raise ConfigError(f"LossWeights.{name}", "a value >= 0", repr(getattr(self, name)))
        if self.gan_full < self.gan_start:
            raise ConfigError("LossWeights.gan_full", f">= gan_start ({self.gan_start})",
                              repr(self.gan_full))
        _check_kind(self.gan_kind, "LossWeights.gan_kind")


def feather_mask(mask: Tensor) -> Tensor:
    """SAEHD's loss mask: (B, 1, R, R) blurred with sigma ``max(1, R / 32)``, clipped at 0.5
    and doubled, so it is 1 inside the face up to its edge and fades out over about two
    sigmas past it: the face's rim, which the comp's feathered matte shows, is trained."""
    r = mask.shape[-1]
    sigma = max(1.0, r / 32)
    radius = math.ceil(3 * sigma)
    x = torch.arange(-radius, radius + 1, dtype=mask.dtype, device=mask.device)
    g = torch.exp(-(x ** 2) / (2 * sigma ** 2))
    g = (g / g.sum()).reshape(1, 1, 1, -1)
    out = F.pad(mask, (radius, radius, 0, 0), mode="replicate")
    out = F.conv2d(out, g)
    out = F.pad(out, (0, 0, radius, radius), mode="replicate")
    out = F.conv2d(out, g.transpose(-1, -2))
    return out.clamp(0.0, 0.5) * 2.0


def reconstruction_terms(pred_rgb: Tensor, pred_mask: Tensor, target_rgb: Tensor,
                         target_mask: Tensor, landmarks: Tensor | None, weights: LossWeights,
                         priority: Tensor | None = None) -> tuple[Tensor, dict[str, Tensor]]:
    """Weighted DSSIM + priority-weighted L1 inside the target mask (feathered, see
    :func:`feather_mask`, when ``weights.feather``), L1 outside it, plus mask MSE.

    Args:
        pred_rgb, target_rgb: (B, 3, R, R) ACEScct.
        pred_mask, target_mask: (B, 1, R, R) in [0, 1].
        landmarks: (B, 68, 2) target landmarks in crop pixels, or None for no priority.
        weights: term weights.
        priority: (B, 1, R, R) :func:`priority_map` made beforehand (the training loop
            builds it on the CPU before the batch moves to the GPU); overrides ``landmarks``.

    Returns:
        the scalar loss, and each unweighted term as a detached 0-d tensor: reading them
        back is a device sync, which the loop does only when it logs.
    """
    prio = priority
    if prio is None and landmarks is not None and (weights.eyes > 0 or weights.mouth > 0):
        prio = priority_map(landmarks, target_rgb.shape[-1], weights.eyes, weights.mouth)
    if prio is not None:
        prio = prio.to(pred_rgb.dtype)
    face = feather_mask(target_mask) if weights.feather else target_mask
    terms = {
        "dssim": ms_dssim(pred_rgb, target_rgb, face),
        "l1": masked_l1(pred_rgb, target_rgb, face, prio),
        "mask": mask_loss(pred_mask, target_mask),
    }
    total = (weights.dssim * terms["dssim"] + weights.l1 * terms["l1"]
             + weights.mask * terms["mask"])
    if weights.background > 0:
        terms["background"] = masked_l1(pred_rgb, target_rgb, 1.0 - face)
        total = total + weights.background * terms["background"]
    return total, {k: v.detach() for k, v in terms.items()}


def reconstruction_loss(pred_rgb: Tensor, pred_mask: Tensor, target_rgb: Tensor,
                        target_mask: Tensor, landmarks: Tensor | None,
                        weights: LossWeights) -> tuple[Tensor, dict[str, float]]:
    """:func:`reconstruction_terms` with the terms read back as floats (for logging)."""
    total, terms = reconstruction_terms(pred_rgb, pred_mask, target_rgb, target_mask,
                                        landmarks, weights)
    return total, {k: float(v) for k, v in terms.items()}


class ReconstructionLoss(nn.Module):
    """Thin module around ``reconstruction_loss`` holding its weights."""

    def __init__(self, weights: LossWeights | None = None) -> None:
        super().__init__()
        self.weights = weights or LossWeights()

    def forward(self, pred_rgb: Tensor, pred_mask: Tensor, target_rgb: Tensor,
                target_mask: Tensor, landmarks: Tensor | None = None
                ) -> tuple[Tensor, dict[str, float]]:
        return reconstruction_loss(pred_rgb, pred_mask, target_rgb, target_mask, landmarks,
                                   self.weights)


class DSSIMLoss(nn.Module):
    """Thin module around ``ms_dssim`` (single scale below 256 px)."""

    def forward(self, x: Tensor, y: Tensor, mask: Tensor | None = None) -> Tensor:
        return ms_dssim(x, y, mask)
