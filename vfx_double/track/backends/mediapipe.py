"""The default backend: MediaPipe 0.10.21's full-range face detector and FaceMesh.

Both models ship inside the mediapipe wheel, so this works offline. What they can and
cannot do decides the design (measured on 1920x1080, DESIGN.md Tracking): the full-range
detector sees faces down to about 9% of the frame's long side, FaceMesh on a whole frame
finds nothing at 230 px faces. So:

- ``detect`` runs the full-range detector on an area-averaged proxy of the whole frame
  (big faces) and on overlapping square tiles (small faces), and merges the two with
  non-maximum suppression;
- ``landmarks`` runs FaceMesh (478 points) on a square crop twice the face box, then
  again on a crop re-centred on the points it found, and maps the mesh to iBUG 68 with
  :mod:`vfx_double.face.ibug68`.
"""

from __future__ import annotations

import math
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from typing import Any

import cv2
import numpy as np

from ...errors import TrackingError
from ...face import ibug68
from ..display import DisplayFrame, resampled
from ._base import FaceBox, LandmarkBackend, Landmarks, check_image, crop_square, from_crop

#: the detector's smallest reliable face, as a fraction of its (square) input's side:
#: DESIGN.md measured 56 px faces found on 720 px tiles (7.8%); measured here, 48 px
#: faces on 768 px tiles (6.3%); 1/12 leaves margin.
_MIN_FACE_FRACTION = 1.0 / 12.0
#: the full-range model's input side (192, its model card). The proxy (whole frame) and
#: the tiles are area-averaged to it, which costs less than mediapipe's own bilinear
#: shrink of a 4K frame and does not alias; measured, 384 or 768 px find the same faces.
_DETECTOR_INPUT = 192
#: smallest tile: below it a 4K frame takes hundreds of tiles.
_MIN_TILE = 384
#: FaceMesh crop: this many face-box sides, square. FaceMesh's own short-range detector
#: runs inside the crop and wants the face at about half of it.
_CROP_FACTOR = 2.0
_NMS_IOU = 0.3
#: a tile box mostly inside a better box is the same face cut differently, not another.
_NMS_OVERLAP = 0.7


class MediaPipeBackend(LandmarkBackend):
    """Full-range detector on proxy + tiles; FaceMesh on a crop, mapped to iBUG 68.

    Confidence of a :class:`Landmarks`: FaceMesh drops faces whose landmark model
    presence score is under 0.5 but does not report the score; what it reports is the
    score of its own short-range face detection inside the crop (0.8-0.93 on the test
    photos). The confidence is that score times a sanity factor: 1, falling to 0 as the
    outer eye corners come closer than 20% of the mesh's size (a profile, where the 68
    points mean little) or the mesh fills more than 70% of the crop (it ran off the
    face the crop was centred on).

    Args:
        min_face: smallest face to find, in pixels of the frame given to ``detect``.
            Sets the tile size (12x this): tiles cost about 5 ms each, so a 4K frame at
            the default 64 px takes about 45 tiles.
        min_score: detector score below which a box is dropped.
        crop_size: side of the square crop FaceMesh sees, in pixels.
        where: config location, for error messages.
    """

    name = "mediapipe"

    def __init__(self, *, min_face: float = 64.0, min_score: float = 0.5,
                 crop_size: int = 256, where: str = "") -> None:
        self._where = where or "track.backend: mediapipe"
        self.min_face = float(min_face)
        self.min_score = float(min_score)
        self.crop_size = int(crop_size)
        mp = _import_mediapipe(self._where)
        with quiet_native_logs():
            self._detector = mp["FaceDetection"](model_selection=1,
                                                 min_detection_confidence=self.min_score)
            self._mesh = mp["mesh_factory"]()
            # Each graph logs as it loads its models on its first frame, and FaceMesh once
            # more on the process's first face: run a real face through both here, inside
            # the filter, rather than on the caller's first frame.
            face = _warm_up_face()
            self._detector.process(face)
            self._mesh.process(face)

    def version(self) -> str:
        return f"mediapipe {metadata.version('mediapipe')}"

    def close(self) -> None:
        for graph in (getattr(self, "_detector", None), getattr(self, "_mesh", None)):
            if graph is not None:
                graph.close()
        self._detector = self._mesh = None

    # -- detection -----------------------------------------------------------------

    def detect(self, image: np.ndarray | DisplayFrame) -> list[FaceBox]:
        """Faces on the proxy and the tiles, merged, each confirmed by FaceMesh.

        The full-range detector scores textures (fabric, noise, foliage) up to about
        0.75, as high as a real small face (einstein.jpg: 0.63-0.69); with some 45 tiles
        on a 4K frame it finds some. A box is kept only when FaceMesh also finds a face
        there: about 10 ms a box.
        """
        check_image(image, "MediaPipeBackend.detect")
        boxes = self._detect_proxy(image)
        for tile in tile_sizes(image.shape[:2], self.min_face):
            boxes += self._detect_tiles(image, tile)
        return [box for box in nms(boxes) if self._confirmed(image, box)]

    def _confirmed(self, image: np.ndarray | DisplayFrame, box: FaceBox) -> bool:
        found = self._mesh_on_crop(image, box.centre, _CROP_FACTOR * max(box.width, box.height))
        if found is None:
            return False
        cx, cy = found[0].mean(axis=0)
        return box.x0 <= cx <= box.x1 and box.y0 <= cy <= box.y1

    def _detect_proxy(self, image: np.ndarray | DisplayFrame) -> list[FaceBox]:
        h, w = image.shape[:2]
        scale = min(1.0, _DETECTOR_INPUT / max(h, w))
        size = (w, h) if scale == 1.0 else (max(1, round(w * scale)), max(1, round(h * scale)))
        proxy = resampled(image, (0, 0, w, h), size, cv2.INTER_AREA)
        return self._run_detector(proxy, 0.0, 0.0, w / proxy.shape[1], h / proxy.shape[0])

    def _detect_tiles(self, image: np.ndarray | DisplayFrame, tile: int) -> list[FaceBox]:
        """Detect on half-overlapping ``tile``-pixel squares covering the frame.

        A face at most ``tile / 2`` across lies wholly inside the tile whose core (the
        part nearer its centre than any neighbour's) holds the face's centre; a tile
        keeps only boxes centred in its core, so a face cut by a tile edge is dropped
        there and found whole by the neighbour. Bigger faces are the proxy's.
        """
        h, w = image.shape[:2]
        xs, ys = _tile_starts(w, tile), _tile_starts(h, tile)
        x_cores, y_cores = _cores(xs, tile, w), _cores(ys, tile, h)
        found: list[FaceBox] = []
        for y, (cy0, cy1) in zip(ys, y_cores):
            for x, (cx0, cx1) in zip(xs, x_cores):
                th, tw = min(tile, h - y), min(tile, w - x)
                shrink = min(1.0, _DETECTOR_INPUT / max(th, tw))
                small = resampled(image, (x, y, tw, th), (max(1, round(tw * shrink)),
                                                          max(1, round(th * shrink))),
                                  cv2.INTER_AREA)
                for box in self._run_detector(small, x, y, tw / small.shape[1],
                                              th / small.shape[0]):
                    bx, by = box.centre
                    if cx0 <= bx < cx1 and cy0 <= by < cy1:
                        found.append(box)
        return found

    def _run_detector(self, image: np.ndarray, x: float, y: float, sx: float,
                      sy: float) -> list[FaceBox]:
        """Boxes in ``image``, mapped to the frame by offset ``(x, y)`` and scale ``sx, sy``."""
        h, w = image.shape[:2]
        result = self._detector.process(np.ascontiguousarray(image))
        boxes = []
        for det in result.detections or []:
            rel = det.location_data.relative_bounding_box
            boxes.append(FaceBox(x + rel.xmin * w * sx, y + rel.ymin * h * sy,
                                 x + (rel.xmin + rel.width) * w * sx,
                                 y + (rel.ymin + rel.height) * h * sy, float(det.score[0])))
        return boxes

    # -- landmarks -----------------------------------------------------------------

    def landmarks(self, image: np.ndarray | DisplayFrame, box: FaceBox) -> Landmarks | None:
        check_image(image, "MediaPipeBackend.landmarks")
        first = self._mesh_on_crop(image, box.centre, _CROP_FACTOR * max(box.width, box.height))
        if first is None:
            return None
        # The seed box may be a detector box (forehead to chin) or last frame's landmark
        # box (brows to chin): re-centre on what FaceMesh found so the face sits in the
        # second crop the same way whatever the seed was.
        tight = FaceBox.around(first[0], 1.0)
        second = self._mesh_on_crop(image, tight.centre,
                                    _CROP_FACTOR * max(tight.width, tight.height))
        dense, score, crop_side = second if second is not None else first
        points = ibug68.to_ibug68(dense)
        confidence = score * _sanity(points, dense, crop_side)
        return Landmarks(points=points, confidence=confidence,
                         box=FaceBox.around(points, confidence), dense=dense)

    def _mesh_on_crop(self, image: np.ndarray | DisplayFrame, centre: tuple[float, float],
                      side: float) -> tuple[np.ndarray, float, float] | None:
        """FaceMesh on a square crop: the face nearest the crop centre, in image pixels.

        Returns (478 points, FaceMesh's detection score, crop side) or None.
        """
        crop = crop_square(image, centre, side, self.crop_size)
        result = self._mesh.process(crop.pixels)
        faces = result.multi_face_landmarks or []
        if not faces:
            return None
        size = crop.size
        meshes = [np.array([(p.x, p.y) for p in f.landmark], dtype=np.float64) * size - 0.5
                  for f in faces]
        middle = (size - 1) / 2.0
        best = min(range(len(meshes)),
                   key=lambda i: float(np.hypot(*(meshes[i].mean(axis=0) - middle))))
        score = _detection_score(result.face_detections or [], meshes[best] / size)
        return from_crop(crop, meshes[best]), score, float(crop.side)


def nms(boxes: list[FaceBox]) -> list[FaceBox]:
    """Highest score first; drop boxes that overlap a better one (IoU or containment)."""
    kept: list[FaceBox] = []
    for box in sorted(boxes, key=lambda b: b.score, reverse=True):
        if all(box.iou(k) <= _NMS_IOU and box.overlap(k) <= _NMS_OVERLAP for k in kept):
            kept.append(box)
    return kept


def tile_sizes(shape: tuple[int, int], min_face: float) -> list[int]:
    """Tile sides, smallest first, so every face from ``min_face`` up is found somewhere.

    Tiles of side t find faces from t/12 (the detector's floor) to t/2 (the overlap), so
    each level is 4x the last; levels stop where the whole-frame proxy takes over
    (a tile nearly as big as the frame). A 1080p or 4K frame at the default 64 px needs
    one level of 768 px tiles.
    """
    long_side = max(shape)
    sizes = []
    tile = max(round(min_face / _MIN_FACE_FRACTION), _MIN_TILE)
    while tile * 1.25 < long_side:
        sizes.append(tile)
        tile *= 4
    return sizes


def _tile_starts(length: int, tile: int) -> list[int]:
    """Evenly spaced tile origins covering ``length`` with at least half-tile overlap."""
    if length <= tile:
        return [0]
    count = math.ceil((length - tile) / (tile / 2.0)) + 1
    return [round(i * (length - tile) / (count - 1)) for i in range(count)]


def _cores(starts: list[int], tile: int, length: int) -> list[tuple[float, float]]:
    """Each tile's core: from the midpoint with the previous tile's centre to the next's."""
    centres = [s + min(tile, length) / 2.0 for s in starts]
    bounds = [-math.inf] + [(a + b) / 2.0 for a, b in zip(centres, centres[1:])] + [math.inf]
    return list(zip(bounds[:-1], bounds[1:]))


def _detection_score(detections: list[Any], mesh: np.ndarray) -> float:
    """Score of FaceMesh's own detection whose box holds the mesh centre (normalised)."""
    cx, cy = mesh.mean(axis=0)
    best = 0.0
    for det in detections:
        rel = det.location_data.relative_bounding_box
        if rel.xmin <= cx <= rel.xmin + rel.width and rel.ymin <= cy <= rel.ymin + rel.height:
            best = max(best, float(det.score[0]))
    return best


def _sanity(points: np.ndarray, dense: np.ndarray, crop_side: float) -> float:
    """1 for a plausible face, falling to 0 for a degenerate or runaway one."""
    box = FaceBox.around(dense, 1.0)
    size = max(box.width, box.height)
    if size <= 0:
        return 0.0
    eyes = float(np.linalg.norm(points[36] - points[45])) / size
    # Frontal faces measure 0.5-0.6, the strongly turned breakingbad.jpg 0.41; a full
    # profile nears 0.1.
    eye_factor = float(np.clip((eyes - 0.1) / 0.1, 0.0, 1.0))
    # The crop is twice the face, so a real face's mesh fills about half of it.
    fill_factor = float(np.clip((0.9 - size / crop_side) / 0.2, 0.0, 1.0))
    return eye_factor * fill_factor


def _import_mediapipe(where: str) -> dict[str, Any]:
    """The mediapipe pieces this backend uses, imported on first use (it is slow)."""
    try:
        with quiet_native_logs():
            from mediapipe.python.solution_base import SolutionBase
            from mediapipe.python.solutions import face_detection, face_mesh
    except ImportError as err:
        raise TrackingError(where, "the mediapipe package (0.10.21)", f"ImportError: {err}",
                            "run ./dev.sh, or pip install --no-deps mediapipe==0.10.21") from err

    class FaceMeshWithDetections(SolutionBase):  # type: ignore[misc]
        """FaceMesh that also returns its own face detections (for their scores).

        Same graph and settings as ``face_mesh.FaceMesh(static_image_mode=True,
        refine_landmarks=True, max_num_faces=3)``; the graph already has the
        ``face_detections`` output stream, the solution just does not ask for it.
        """

        def __init__(self) -> None:
            super().__init__(
                binary_graph_path=face_mesh._BINARYPB_FILE_PATH,  # noqa: SLF001
                side_inputs={"num_faces": 3, "with_attention": True,
                             "use_prev_landmarks": False},
                calculator_params={
                    "facedetectionshortrangecpu__facedetectionshortrange__facedetection__"
                    "TensorsToDetectionsCalculator.min_score_thresh": 0.5,
                    "facelandmarkcpu__ThresholdingCalculator.threshold": 0.5,
                },
                outputs=["multi_face_landmarks", "face_detections"])

    return {"FaceDetection": face_detection.FaceDetection,
            "mesh_factory": FaceMeshWithDetections}


def _warm_up_face() -> np.ndarray:
    """The public-domain astronaut's face (scikit-image ships it), 256 px square."""
    from skimage import data

    return np.ascontiguousarray(cv2.resize(data.astronaut()[0:240, 120:360], (256, 256)))


#: mediapipe's C++ info and warning lines (absl/glog ``I0000 00:00:...`` style, TFLite's
#: ``INFO:``) on loading a graph. Errors (``E``/``F`` lines) and anything else pass.
_BENIGN_LOG = re.compile(
    rb"^(?:[IW]\d{4} \d\d:\d\d:\d\d|INFO: |WARNING: All log messages before absl)")
_LOG_LOCK = threading.Lock()
_LOG_STATE: dict[str, Any] = {"depth": 0}


@contextmanager
def quiet_native_logs() -> Iterator[None]:
    """Send file descriptor 2 to a temporary file; replay its non-benign lines after.

    mediapipe's native code writes straight to fd 2, and neither ``GLOG_minloglevel`` nor
    ``TF_CPP_MIN_LOG_LEVEL`` reach it (checked, 0.10.21). Used only around graph
    creation and warm-up, where all of its chatter happens, so a crash while a frame is
    processed still shows its message. Re-entrant across threads: the first one in
    redirects, the last one out restores.
    """
    with _LOG_LOCK:
        if _LOG_STATE["depth"] == 0:
            sys.stderr.flush()
            sink = tempfile.TemporaryFile()
            _LOG_STATE.update(sink=sink, saved=os.dup(2))
            os.dup2(sink.fileno(), 2)
        _LOG_STATE["depth"] += 1
    try:
        yield
    finally:
        with _LOG_LOCK:
            _LOG_STATE["depth"] -= 1
            if _LOG_STATE["depth"] == 0:
                os.dup2(_LOG_STATE["saved"], 2)
                os.close(_LOG_STATE["saved"])
                sink = _LOG_STATE.pop("sink")
                sink.seek(0)
                kept = [ln for ln in sink.read().splitlines(keepends=True)
                        if ln.strip() and not _BENIGN_LOG.match(ln)]
                sink.close()
                if kept:
                    sys.stderr.write(b"".join(kept).decode(errors="replace"))
