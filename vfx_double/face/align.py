"""Similarity alignment of 68 iBUG points to a canonical template.

A plate -> crop transform is a 2x3 matrix ``M`` acting on column vectors ``(x, y, 1)``,
the convention of ``cv2.warpAffine(plate, M, (size, size))``.

Template source: the 68-point mean dlib/iBUG shape ``TEMPLATE`` published in OpenFace
(``openface/align_dlib.py``, Carnegie Mellon University, Apache-2.0). It is averaged with
its own mirror image (so a frontal face has no roll and no left/right bias) and scaled
uniformly (the face's aspect is kept) so that the inner points 17-67 (brows, nose, eyes,
mouth; not the jaw) span exactly the unit width, centred in the unit square. The jaw
reaches a little outside that square.

Coverage follows DeepFaceLab's face types (``get_transform_mat``): DFL fits the unit
square of its inner-point mean face and pushes the crop's corners out along the square's
diagonals by ``padding * sqrt(2) + 0.5`` diagonals from the centre, so the square spans
``1 / (1 + 2 * sqrt(2) * padding)`` of the crop width. ``coverage`` is that fraction,
centred: DFL "half" = 1.0, "mid_full" ~ 0.84, "full" ~ 0.63, "whole_face" ~ 0.47 (DFL
also lifts that one 7% to take in the forehead), "head" ~ 0.34.

Only stable points drive the fit (``STABLE_POINTS``): the nose and the four eye corners.
The jaw and mouth move when the mouth opens, eyelids when the eyes blink and brows with
expression; fitting them would make the crop breathe with the performance.
"""

from __future__ import annotations

import numpy as np

from ..errors import TrackingError
from .ibug68 import MIRROR, OUTER_EYE_CORNERS

#: OpenFace's mean 68-point shape (x, y), as published (not normalised).
_OPENFACE_MEAN_68 = np.array([
    (0.0792396913815, 0.339223741112), (0.0829219487236, 0.456955367943),
    (0.0967927109165, 0.575648016728), (0.122141515615, 0.691921601066),
    (0.168687863544, 0.800341263616), (0.239789390707, 0.895732504778),
    (0.325662452515, 0.977068762493), (0.422318282013, 1.04329000149),
    (0.531777802068, 1.06080371126), (0.641296298053, 1.03981924107),
    (0.738105872266, 0.972268833998), (0.824444363295, 0.889624082279),
    (0.894792677532, 0.792494155836), (0.939395486253, 0.681546643421),
    (0.96111933829, 0.562238253072), (0.970579841181, 0.441758925744),
    (0.971193274221, 0.322118743967), (0.163846223133, 0.249151738053),
    (0.21780354657, 0.204255863861), (0.291299351124, 0.192367318323),
    (0.367460241458, 0.203582210627), (0.4392945113, 0.233135599851),
    (0.586445962425, 0.228141644834), (0.660152671635, 0.195923841854),
    (0.737466449096, 0.182360984545), (0.813236546239, 0.192828009114),
    (0.8707571886, 0.235293377042), (0.51534533827, 0.31863546193),
    (0.516221448289, 0.396200446263), (0.517118861835, 0.473797687758),
    (0.51816430343, 0.553157797772), (0.433701156035, 0.604054457668),
    (0.475501237769, 0.62076344024), (0.520712933176, 0.634268222208),
    (0.565874114041, 0.618796581487), (0.607054002672, 0.60157671656),
    (0.252418718401, 0.331052263829), (0.298663015648, 0.302646354002),
    (0.355749724218, 0.303020650651), (0.403718978315, 0.33867711083),
    (0.352507175597, 0.349987615384), (0.296791759886, 0.350478978225),
    (0.631326076346, 0.334136672344), (0.679073381078, 0.29645404267),
    (0.73597236153, 0.294721285802), (0.782865376271, 0.321305281656),
    (0.740312274764, 0.341849376713), (0.68499850091, 0.343734332172),
    (0.353167761422, 0.746189164237), (0.414587777921, 0.719053835073),
    (0.477677654595, 0.706835892494), (0.522732900812, 0.717092275768),
    (0.569832064287, 0.705414478982), (0.635195811927, 0.71565572516),
    (0.69951672331, 0.739419187253), (0.639447159575, 0.805236879972),
    (0.576410514055, 0.835436670169), (0.525398405766, 0.841706377792),
    (0.47641545769, 0.837505914975), (0.41379548902, 0.810045601727),
    (0.380084785646, 0.749979603086), (0.477955996282, 0.74513234612),
    (0.523389793327, 0.748924302636), (0.571057789237, 0.74332894691),
    (0.672409137852, 0.744177032192), (0.572539621444, 0.776609286626),
    (0.5240106503, 0.783370783245), (0.477561227414, 0.778476346951),
])

#: nose (27-35) and the four eye corners: what the similarity is fitted to.
STABLE_POINTS = np.array([27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 39, 42, 45])
#: points whose extent defines the template's unit square.
EXTENT_POINTS = np.arange(17, 68)


def _build_template() -> np.ndarray:
    mean = _OPENFACE_MEAN_68
    mirrored = mean[list(MIRROR)] * np.array([-1.0, 1.0])
    # The mirror line is unknown; averaging the centred shape with its centred mirror
    # removes it along with any left/right asymmetry of the published mean.
    centred = mean - mean.mean(axis=0)
    symmetric = 0.5 * (centred + (mirrored - mirrored.mean(axis=0)))
    inner = symmetric[EXTENT_POINTS]
    low, high = inner.min(axis=0), inner.max(axis=0)
    scale = 1.0 / (high - low).max()
    out = (symmetric - 0.5 * (low + high)) * scale + 0.5
    out.setflags(write=False)
    return out


#: (68, 2) canonical frontal mean face; inner points 17-67 span the unit width.
TEMPLATE_68 = _build_template()


def _check_points(points: np.ndarray, where: str, count: int | None = None) -> np.ndarray:
    arr = np.asarray(points, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2 or (count is not None and arr.shape[0] != count):
        shape = f"({count}, 2)" if count is not None else "(N, 2)"
        raise TrackingError(where, f"points of shape {shape}", f"shape {arr.shape}",
                            "pass one frame's landmarks as (x, y) rows")
    if not np.isfinite(arr).all():
        raise TrackingError(where, "finite coordinates", "NaN or Inf",
                            "align only frames with a face (found or interpolated)")
    return arr


def similarity_params(src: np.ndarray, dst: np.ndarray, estimate_scale: bool = True
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares similarity ``dst ~ a * src + b`` in complex form, batched.

    In 2D a rotation with uniform scale is multiplication by one complex number, so the
    Umeyama (1991) solution is ``a = sum(conj(s) d) / sum(|s|^2)`` on centred points; it
    can never be a reflection. Without scale, ``a`` is normalised to unit modulus.

    Args:
        src: (..., N, 2) points.
        dst: (..., N, 2) points, broadcastable against ``src``.

    Returns:
        ``a`` (...,) complex and ``b`` (...,) complex translation.
    """
    s = src[..., 0] + 1j * src[..., 1]
    d = dst[..., 0] + 1j * dst[..., 1]
    s_mean, d_mean = s.mean(axis=-1), d.mean(axis=-1)
    sc, dc = s - s_mean[..., None], d - d_mean[..., None]
    spread = (np.abs(sc) ** 2).sum(axis=-1)
    a = (np.conj(sc) * dc).sum(axis=-1) / np.where(spread > 0, spread, 1.0)
    if not estimate_scale:
        a = a / np.where(np.abs(a) > 0, np.abs(a), 1.0)
    return a, d_mean - a * s_mean


def params_to_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(..., 2, 3) matrices of complex similarity parameters."""
    a, b = np.asarray(a), np.asarray(b)
    out = np.empty(a.shape + (2, 3))
    out[..., 0, 0], out[..., 0, 1], out[..., 0, 2] = a.real, -a.imag, b.real
    out[..., 1, 0], out[..., 1, 1], out[..., 1, 2] = a.imag, a.real, b.imag
    return out


def umeyama(src: np.ndarray, dst: np.ndarray, estimate_scale: bool = True) -> np.ndarray:
    """(2, 3) similarity (rotation, uniform scale, translation) taking ``src`` to ``dst``.

    Args:
        src: (N, 2) points, N >= 2 and not all equal.
        dst: (N, 2) corresponding points.
        estimate_scale: False fits a rigid transform (scale 1).
    """
    src_arr = _check_points(src, "umeyama src")
    dst_arr = _check_points(dst, "umeyama dst", src_arr.shape[0])
    if np.ptp(src_arr, axis=0).max() <= 0.0:
        raise TrackingError("umeyama src", "at least two distinct points",
                            f"{src_arr.shape[0]} identical points", "check the landmarks")
    a, b = similarity_params(src_arr, dst_arr, estimate_scale)
    return params_to_matrix(a, b)


def template_in_crop(size: int, coverage: float) -> np.ndarray:
    """(68, 2) where the template lands in a ``size`` crop at ``coverage``: its unit square
    centred on ``size / 2`` (as DeepFaceLab maps it onto ``0 .. size``)."""
    return (TEMPLATE_68 - 0.5) * (coverage * size) + 0.5 * size


def align_matrix(points: np.ndarray, size: int, coverage: float) -> np.ndarray:
    """(2, 3) plate pixels -> crop pixels, the template spanning ``coverage`` of the crop.

    Args:
        points: (68, 2) landmarks in plate pixels.
        size: crop width and height in pixels.
        coverage: fraction of the crop width the template's inner points span, in (0, 1].
    """
    arr = _check_points(points, "align_matrix points", 68)
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size <= 0:
        raise TrackingError("align_matrix size", "a positive whole number of pixels",
                            repr(size), "set track.crop_size")
    if not 0.0 < coverage <= 1.0:
        raise TrackingError("align_matrix coverage", "a fraction in (0, 1]", repr(coverage),
                            "set track.coverage, e.g. 0.6")
    stable = arr[STABLE_POINTS]
    if np.ptp(stable, axis=0).max() <= 0.0:
        raise TrackingError("align_matrix points", "distinct nose and eye-corner points",
                            "all at one position", "check the landmark backend's output")
    target = template_in_crop(int(size), float(coverage))[STABLE_POINTS]
    a, b = similarity_params(stable, target)
    return params_to_matrix(a, b)


def invert(matrix: np.ndarray) -> np.ndarray:
    """(..., 2, 3) inverse of invertible affine (..., 2, 3) matrices."""
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape[-2:] != (2, 3):
        raise TrackingError("invert matrix", "shape (..., 2, 3)", f"shape {m.shape}",
                            "pass 2x3 affine matrices")
    linear = m[..., :2, :2]
    det = np.linalg.det(linear)
    if not np.all(np.abs(det) > 1e-12):
        raise TrackingError("invert matrix", "an invertible matrix", f"determinant {det}",
                            "the transform collapses the plane; check the landmarks")
    inv = np.linalg.inv(linear)
    out = np.empty_like(m)
    out[..., :2, :2] = inv
    out[..., :2, 2] = -np.einsum("...ij,...j->...i", inv, m[..., :2, 2])
    return out


def warp_points(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Points through affine matrices: (..., 2, 3) with (..., N, 2) -> (..., N, 2)."""
    m = np.asarray(matrix, dtype=np.float64)
    p = np.asarray(points, dtype=np.float64)
    if m.shape[-2:] != (2, 3) or p.shape[-1] != 2:
        raise TrackingError("warp_points", "a (..., 2, 3) matrix and (..., N, 2) points",
                            f"shapes {m.shape} and {p.shape}", "check the argument order")
    return np.einsum("...ij,...nj->...ni", m[..., :2, :2], p) + m[..., None, :2, 2]


def normalise_shape(shape: np.ndarray) -> np.ndarray:
    """(68, 2) ``shape`` moved so its stable points' centroid is the origin, the outer eye
    corners lie on the x axis and are 1 apart: the frame pose and residuals live in."""
    left, right = shape[OUTER_EYE_CORNERS[0]], shape[OUTER_EYE_CORNERS[1]]
    eye = (right[0] - left[0]) + 1j * (right[1] - left[1])
    z = (shape[:, 0] + 1j * shape[:, 1]) - (shape[STABLE_POINTS, 0]
                                            + 1j * shape[STABLE_POINTS, 1]).mean()
    z = z / eye
    return np.stack([z.real, z.imag], axis=-1)


def mean_shape(points: np.ndarray) -> np.ndarray:
    """(68, 2) normalised mean of (T, 68, 2) finite shapes after aligning each to the
    template on the stable points (one generalised-Procrustes pass)."""
    reference = normalise_shape(TEMPLATE_68)
    a, b = similarity_params(points[:, STABLE_POINTS], reference[STABLE_POINTS])
    z = points[..., 0] + 1j * points[..., 1]
    aligned = a[:, None] * z + b[:, None]
    mean = aligned.mean(axis=0)
    return normalise_shape(np.stack([mean.real, mean.imag], axis=-1))


def fit_pose(points: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """(T, 4) head pose ``cx, cy, log s, theta`` of (T, 68, 2) finite shapes.

    ``points ~ s * R(theta) @ reference + (cx, cy)``, fitted on ``STABLE_POINTS``, so
    ``(cx, cy)`` is the stable points' centroid; theta is in (-pi, pi], not unwrapped.
    ``reference`` (68, 2) comes from ``normalise_shape``.
    """
    a, b = similarity_params(reference[STABLE_POINTS], points[:, STABLE_POINTS])
    return np.stack([b.real, b.imag, np.log(np.abs(a)), np.angle(a)], axis=-1)


def _pose_complex(pose: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.exp(pose[:, 2] + 1j * pose[:, 3]), pose[:, 0] + 1j * pose[:, 1]


def to_face(points: np.ndarray, pose: np.ndarray) -> np.ndarray:
    """(T, 68, 2) plate points into the face frame of pose (T, 4): the pose undone."""
    a, b = _pose_complex(pose)
    z = (points[..., 0] + 1j * points[..., 1] - b[:, None]) / a[:, None]
    return np.stack([z.real, z.imag], axis=-1)


def from_face(local: np.ndarray, pose: np.ndarray) -> np.ndarray:
    """(T, 68, 2) face-frame points back onto the plate through pose (T, 4)."""
    a, b = _pose_complex(pose)
    z = a[:, None] * (local[..., 0] + 1j * local[..., 1]) + b[:, None]
    return np.stack([z.real, z.imag], axis=-1)
