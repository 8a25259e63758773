"""The ``fan`` backend: face-alignment's 2D FAN (68 points) on mediapipe's face boxes.

FAN's weights are not on any package registry and face-alignment would download a
pickle. Here they come only from the local ``track.weights`` folder, as safetensors:

    <track.weights>/2DFAN4.safetensors   state dict of face_alignment.models.FAN(4)

Make it once, on a trusted machine, from face-alignment's published ``2DFAN4-*.pth.tar``
(``torch.load(path, weights_only=True)`` then ``safetensors.torch.save_file``). Nothing
is downloaded or unpickled here.

Only face-alignment's model definition (``face_alignment/models/fan.py``, which needs
only torch) is loaded, straight from its file: the package's ``__init__`` imports numba,
scikit-image and a downloader at import time, none of which this backend uses. The crop,
heatmap decoding and flip averaging follow ``face_alignment.api.get_landmarks_from_image``
and are written here in numpy.
"""

from __future__ import annotations

import importlib.util
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import TrackingError
from ...face import ibug68
from ...records import hash_file
from ..display import DisplayFrame
from ._base import FaceBox, LandmarkBackend, Landmarks, check_image, crop_square, from_crop

WEIGHTS_FILE = "2DFAN4.safetensors"
#: face-alignment's crop: centre moved up 12% of the box height, side 200/195 of the
#: box's width + height (its ``CENTER_Y_OFFSET``, ``REFERENCE_SCALE``, ``SCALE_FACTOR``),
#: which was calibrated on its SFD detector's boxes; mediapipe's boxes and the
#: landmark boxes the tracker seeds with are about as tight.
_CENTRE_Y_OFFSET = 0.12
_SIDE_PER_BOX = 200.0 / 195.0
_INPUT = 256
_HEATMAP = 64


class FanBackend(LandmarkBackend):
    """2D-FAN-4 landmarks on a 256 px crop; detection is mediapipe's (see that backend).

    Confidence of a :class:`Landmarks`: the mean over the 68 heatmaps of their peak value
    (face-alignment's per-point score), clipped to 0-1. A trained FAN's peaks are near
    0.5-1 on a face and low off one.

    Args:
        weights: folder holding ``2DFAN4.safetensors``.
        where: config location, for error messages.
        device: torch device for FAN.
        flip: also run the mirrored crop and average, as face-alignment does by default
            (twice the time, steadier points).
    """

    name = "fan"

    def __init__(self, *, weights: Path | None, where: str = "", device: str = "cpu",
                 flip: bool = True) -> None:
        self._where = where or "track.backend: fan"
        self.weights_path = _weights_path(weights, self._where)
        torch = _import("torch", self._where, "torch is a dependency of vfx-double")
        safetensors_torch = _import("safetensors.torch", self._where,
                                    "pip install safetensors (an optional extra: `fan`)")
        fan_class = _fan_class(self._where)
        self._torch = torch
        self._device = torch.device(device)
        self.flip = flip
        try:
            state = safetensors_torch.load_file(str(self.weights_path))
            model = fan_class(4)
            model.load_state_dict(state, strict=True)
        except Exception as err:  # safetensors and torch raise several unrelated types
            raise TrackingError(str(self.weights_path), "a state dict of face_alignment's "
                                "FAN(4) saved with safetensors", f"{type(err).__name__}: {err}",
                                "re-export it (see vfx_double/track/backends/fan.py)") from err
        self._model = model.to(self._device).eval()
        self._digest = hash_file(self.weights_path)[:12]
        self._face_alignment = _distribution_version("face-alignment") or "unknown"
        self._detector: LandmarkBackend | None = None

    @classmethod
    def from_config(cls, *, weights: Path | None, where: str) -> FanBackend:
        return cls(weights=weights, where=where)

    def version(self) -> str:
        return f"face-alignment {self._face_alignment} 2DFAN4 sha256:{self._digest}"

    def close(self) -> None:
        if self._detector is not None:
            self._detector.close()
            self._detector = None
        self._model = None

    def detect(self, image: np.ndarray | DisplayFrame) -> list[FaceBox]:
        if self._detector is None:
            from .mediapipe import MediaPipeBackend

            self._detector = MediaPipeBackend(where=self._where)
        return self._detector.detect(image)

    def landmarks(self, image: np.ndarray | DisplayFrame, box: FaceBox) -> Landmarks | None:
        check_image(image, "FanBackend.landmarks")
        if box.width <= 0 or box.height <= 0:
            return None
        cx, cy = box.centre
        centre = (cx, cy - _CENTRE_Y_OFFSET * box.height)
        crop = crop_square(image, centre, _SIDE_PER_BOX * (box.width + box.height), _INPUT)
        heatmaps = self._heatmaps(crop.pixels)
        peaks, scores = decode_heatmaps(heatmaps)
        points = from_crop(crop, peaks * (_INPUT / _HEATMAP) - 0.5)
        confidence = float(np.clip(scores.mean(), 0.0, 1.0))
        return Landmarks(points=points, confidence=confidence,
                         box=FaceBox.around(points, confidence))

    def _heatmaps(self, pixels: np.ndarray) -> np.ndarray:
        """``(68, 64, 64)`` heatmaps of a ``(256, 256, 3)`` uint8 crop."""
        torch = self._torch
        batch = torch.from_numpy(pixels.transpose(2, 0, 1).astype(np.float32) / 255.0)[None]
        if self.flip:
            batch = torch.cat([batch, batch.flip(-1)])
        with torch.inference_mode():
            out = self._model(batch.to(self._device))[-1].float().cpu().numpy()
        heatmaps = out[0]
        if self.flip:
            # The mirrored crop's heatmap for point i is the unmirrored one's MIRROR[i].
            heatmaps = (heatmaps + out[1][list(ibug68.MIRROR)][:, :, ::-1]) / 2.0
        return heatmaps


def decode_heatmaps(heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Peak of each ``(N, H, W)`` heatmap, in heatmap pixels (cell centres at +0.5).

    As face-alignment: the arg-max cell, moved a quarter cell towards the higher
    neighbour on each axis. Returns (``(N, 2)`` x, y; ``(N,)`` peak values).
    """
    n, h, w = heatmaps.shape
    flat = heatmaps.reshape(n, h * w)
    index = flat.argmax(axis=1)
    scores = flat[np.arange(n), index]
    ys, xs = np.divmod(index, w)
    peaks = np.stack([xs, ys], axis=1).astype(np.float64) + 0.5
    inner = (xs > 0) & (xs < w - 1) & (ys > 0) & (ys < h - 1)
    rows = np.nonzero(inner)[0]
    y, x = ys[rows], xs[rows]
    dx = heatmaps[rows, y, x + 1] - heatmaps[rows, y, x - 1]
    dy = heatmaps[rows, y + 1, x] - heatmaps[rows, y - 1, x]
    peaks[rows] += 0.25 * np.stack([np.sign(dx), np.sign(dy)], axis=1)
    return peaks, scores


def _weights_path(folder: Path | None, where: str) -> Path:
    hint = (f"put {WEIGHTS_FILE} (face_alignment's 2DFAN4 state dict as safetensors, see "
            "vfx_double/track/backends/fan.py) in a local folder and set track.weights to it; "
            "nothing is downloaded")
    if folder is None:
        raise TrackingError(where, f"track.weights: a folder holding {WEIGHTS_FILE}",
                            "track.weights not set", hint)
    path = Path(folder).expanduser() / WEIGHTS_FILE
    if not path.is_file():
        present = sorted(p.name for p in Path(folder).expanduser().glob("*"))[:8] \
            if Path(folder).expanduser().is_dir() else None
        found = "no such folder" if present is None else f"folder holds {present or 'nothing'}"
        raise TrackingError(str(path), f"the FAN weights file {WEIGHTS_FILE}", found, hint)
    return path


def _import(module: str, where: str, hint: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise TrackingError(where, f"the {module.split('.')[0]} package", f"ImportError: {err}",
                            hint) from err


def _fan_class(where: str) -> type:
    """``face_alignment.models.fan.FAN``, loaded from its file without the package init."""
    hint = "pip install --no-deps face-alignment (its opencv-python would shadow headless cv2)"
    spec = importlib.util.find_spec("face_alignment")
    if spec is None or not spec.submodule_search_locations:
        raise TrackingError(where, "the face-alignment package", "not installed", hint)
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / "fan.py"
    module_spec = importlib.util.spec_from_file_location("vfx_double._face_alignment_fan", path)
    if module_spec is None or module_spec.loader is None or not path.is_file():
        raise TrackingError(where, "face_alignment/models/fan.py (face-alignment 1.4-1.5)",
                            f"no such file {path}", hint)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module.FAN


def _distribution_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


