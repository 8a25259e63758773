"""Picture measures a blurred or frozen face cannot pass, for bench_comp_quality.py.

All work in ACEScct (the network encoding), per frame, on the plate's pixel grid:

- resolution efficiency: PSNR in the matte's core against two anchors made in the same
  frame and blended with the same matte: a flat fill with the core's mean plate colour
  (floor) and the plate itself squeezed to the model's resolution and back through the
  render's own crop and warp (ceiling). ``(model - floor) / (ceiling - floor)``;
- detail ratio: standard deviation of a Laplacian of Gaussian of luma in the core, comp
  over plate, at two scales;
- halo: mean absolute error in the band between the face silhouette (the landmark hull
  with the forehead, as the training masks) and the matte's outer edge, against the
  plate's own frame-to-frame change in the same band;
- seam and flicker, as before (ratios comp over plate).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vfx_double.face.matte import FOREHEAD, hull_matte
from vfx_double.face.crop import rescale, resize_crop, to_plate, warp_crop

LUMA = np.array([0.2722, 0.6741, 0.0537], np.float32)  # AP1 luminance weights
#: the core is the matte above 0.5, eroded by this many plate pixels (away from the feather)
CORE_ERODE = 8
#: Laplacian-of-Gaussian scales for the detail ratio, plate pixels
LOG_SIGMAS = (1.0, 2.0)
HALO_MIN_MATTE = 0.02


def psnr(a: np.ndarray, b: np.ndarray, where: np.ndarray) -> float:
    err = float(np.mean((a[where] - b[where]) ** 2))
    return 10.0 * np.log10(1.0 / max(err, 1e-12))


def core_of(matte: np.ndarray) -> np.ndarray:
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * CORE_ERODE + 1,) * 2)
    return cv2.erode((matte > 0.5).astype(np.uint8), disc).astype(bool)


def ceiling(plate_cct: np.ndarray, matrix: np.ndarray, size: int, resolution: int
            ) -> np.ndarray:
    """The plate through the render path with a perfect model: aligned crop of ``size``,
    squeezed to ``resolution``, warped back to the whole frame (bicubic)."""
    crop = resize_crop(warp_crop(plate_cct, np.asarray(matrix, np.float64), size), resolution)
    h, w = plate_cct.shape[:2]
    return to_plate(crop, rescale(matrix, size, resolution), (0, 0, w, h))


def log_std(luma: np.ndarray, where: np.ndarray, sigma: float) -> float:
    blurred = cv2.GaussianBlur(luma, (0, 0), sigma)
    return float(cv2.Laplacian(blurred, cv2.CV_32F)[where].std())


def silhouette(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) bool: inside the 68-point hull with the brows lifted, not grown."""
    h, w = shape
    return hull_matte(points, (0, 0, w, h), grow=0.0, forehead=FOREHEAD) > 0.5


def seam_gradient(cct: np.ndarray, band: np.ndarray) -> float:
    luma = cct @ LUMA
    grad = np.hypot(cv2.Sobel(luma, cv2.CV_32F, 1, 0), cv2.Sobel(luma, cv2.CV_32F, 0, 1))
    return float(grad[band].mean())


@dataclass
class FrameMeasure:
    frame: int
    model: float
    floor: float
    ceiling: float
    core_mse: float
    detail: tuple[float, ...]
    detail_plate: tuple[float, ...]
    halo_sum: float
    halo_pixels: int
    seam: float
    seam_plate: float

    @property
    def efficiency(self) -> float:
        span = self.ceiling - self.floor
        return (self.model - self.floor) / span if span > 0 else float("nan")


def measure_frame(frame: int, plate: np.ndarray, comp: np.ndarray, matte: np.ndarray,
                  matrix: np.ndarray, points: np.ndarray, size: int, resolution: int
                  ) -> FrameMeasure:
    """One frame's measures; ``plate`` and ``comp`` (H, W, 3) ACEScct, ``matte`` (H, W)
    the comp's final matte, ``matrix`` / ``points`` the render's track for the frame."""
    core = core_of(matte)
    m = matte[:, :, None]
    fill = plate[core].mean(axis=0)
    floor = fill * m + plate * (1.0 - m)
    ceil = ceiling(plate, matrix, size, resolution) * m + plate * (1.0 - m)
    pl, cl = plate @ LUMA, comp @ LUMA
    band = (matte > HALO_MIN_MATTE) & ~silhouette(points, plate.shape[:2])
    halo = np.abs(comp - plate).mean(axis=2)[band]
    edge = (matte > 0.05) & (matte < 0.95)
    return FrameMeasure(
        frame=frame, model=psnr(plate, comp, core), floor=psnr(plate, floor, core),
        ceiling=psnr(plate, ceil, core),
        core_mse=float(np.mean((plate[core] - comp[core]) ** 2)),
        detail=tuple(log_std(cl, core, s) for s in LOG_SIGMAS),
        detail_plate=tuple(log_std(pl, core, s) for s in LOG_SIGMAS),
        halo_sum=float(halo.sum()), halo_pixels=int(band.sum()),
        seam=seam_gradient(comp, edge), seam_plate=seam_gradient(plate, edge))


def pooled(measures: list[FrameMeasure], flicker: tuple[float, float],
           halo_plate: tuple[float, int]) -> dict:
    """Pooled figures: PSNRs from the summed squared errors' mean (per-frame means of dB
    would weight frames oddly), ratios of means."""
    def mean(attr: str) -> float:
        return float(np.mean([getattr(f, attr) for f in measures]))

    model, floor, ceil = mean("model"), mean("floor"), mean("ceiling")
    detail = np.mean([f.detail for f in measures], axis=0)
    detail_plate = np.mean([f.detail_plate for f in measures], axis=0)
    halo_pixels = sum(f.halo_pixels for f in measures)
    halo = sum(f.halo_sum for f in measures) / halo_pixels if halo_pixels else 0.0
    halo_ref = halo_plate[0] / halo_plate[1] if halo_plate[1] else 0.0
    return {
        "frames": len(measures), "psnr_core_model": model, "psnr_core_floor": floor,
        "psnr_core_ceiling": ceil,
        "efficiency": (model - floor) / (ceil - floor) if ceil > floor else float("nan"),
        "efficiency_per_frame_median": float(np.median([f.efficiency for f in measures])),
        "detail_ratio": [float(v) for v in detail / detail_plate],
        "halo_error": halo, "halo_plate_change": halo_ref, "halo_pixels": halo_pixels,
        "halo_ratio": halo / halo_ref if halo_ref else float("nan"),
        "seam_ratio": mean("seam") / mean("seam_plate"),
        "flicker_ratio": flicker[0] / flicker[1] if flicker[1] else float("nan"),
    }


def mouth_eye_correlation(comp: np.ndarray, plate: np.ndarray) -> float:
    """Pearson r of two (T,) series; nan when either is constant."""
    if len(comp) < 3 or np.std(comp) == 0 or np.std(plate) == 0:
        return float("nan")
    return float(np.corrcoef(comp, plate)[0, 1])


def nme68(points: np.ndarray, truth: np.ndarray) -> float:
    """Mean point error over the outer-eye-corner distance of ``truth``; (T, 68, 2) each."""
    eye = np.linalg.norm(truth[:, 45] - truth[:, 36], axis=1)
    return float(np.mean(np.linalg.norm(points - truth, axis=2).mean(axis=1) / eye))


def side_by_side(panels: list[np.ndarray], labels: list[str], height: int = 256
                 ) -> np.ndarray:
    """uint8 RGB panels (same size) side by side, scaled to ``height``, labelled."""
    out = []
    for panel, label in zip(panels, labels):
        scale = height / panel.shape[0]
        img = cv2.resize(panel, (round(panel.shape[1] * scale), height),
                         interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
        img = np.ascontiguousarray(img)
        cv2.putText(img, label, (6, height - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(img, label, (6, height - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    (255, 255, 255), 1, cv2.LINE_AA)
        out.append(img)
    return np.concatenate(out, axis=1)
