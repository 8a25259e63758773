"""The faceset format (FacesetMeta.1): what track writes and train reads.

``faceset/vNNN/plate/`` and ``faceset/vNNN/actor/`` each hold aligned crops and a
``meta.json``. A crop is ``crop.<frame>.exr``, half float, channels R, G, B, mask: the
face in the network encoding (ACEScct: log, so values above 1.0 survive, never 8-bit) and
the landmark-hull mask (:func:`vfx_double.face.matte.hull_mask`). ``meta.json`` lists per
crop the frame, the plate->crop matrix, landmarks in crop pixels, sharpness, confidence
and a head pose estimate, plus what was skipped and why. A faceset version is never
rewritten: the writer refuses an existing ``meta.json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MediaError
from ..io import atomic
from ..io.exr import Attribute, ExrImage, write_exr
from ..io.sequences import format_frames
from ..io.streaming import WriteBehind
from ..records import check_schema, read_json
from .element import PREFIX

SCHEMA = ("FacesetMeta", 1)
CHANNELS = ("R", "G", "B", "mask")
#: why a frame gave no crop, in the order they are tested
SKIP_REASONS = ("no_face", "low_confidence", "blurred", "interpolated")
_TRACK_HINT = "rerun `vfx-double track` for this shot"


class FacesetWriter:
    """Writes one faceset side: :meth:`add` each crop, :meth:`skip` each frame left out,
    then :meth:`finish` writes ``meta.json`` and returns it.

    Crops are written on a worker thread (OpenEXR compresses with the GIL released) while
    the caller makes the next one: 11-19 ms a 256 px crop that tracking waited for. Use it
    as a context manager so a stage that fails still waits for the writes it started;
    :meth:`finish` waits for them all, and raises the first write's error, before it lists
    them in ``meta.json``."""

    def __init__(self, folder: Path, sequence: str, colourspace: str, size: int,
                 coverage: float, padding: int) -> None:
        self.folder, self.sequence, self.colourspace = Path(folder), sequence, colourspace
        self.size, self.coverage, self.padding = size, coverage, padding
        self.crops: list[dict[str, Any]] = []
        self.skipped: dict[str, list[int]] = {k: [] for k in SKIP_REASONS}
        self._writes: WriteBehind | None = None

    def __enter__(self) -> FacesetWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self._wait(exc_type, exc, tb)

    def _wait(self, *exc: Any) -> None:
        writes, self._writes = self._writes, None
        if writes is not None:
            writes.__exit__(*exc)

    def add(self, frame: int, crop: np.ndarray, mask: np.ndarray, matrix: np.ndarray,
            landmarks: np.ndarray, sharpness: float, confidence: float,
            pose: tuple[float, float, float], source: str | None = None) -> None:
        """Write ``crop`` (S, S, 3) and ``mask`` (S, S) of ``frame`` and list them, with the
        sha256 of the ``source`` frame file when given (the actor's: checked against the
        licence's media by train)."""
        size = self.size
        pixels = np.concatenate([crop, mask[:, :, None]], axis=2).astype(np.float16)
        file_name = f"crop.{frame:0{self.padding}d}.exr"
        if self._writes is None:
            self._writes = WriteBehind(workers=1)
        self._writes.submit(write_exr, self.folder / file_name, ExrImage(
            pixels=pixels, channels=CHANNELS, data_window=(0, 0, size, size),
            display_window=(0, 0, size, size), compression="zip",
            attributes=[Attribute(PREFIX + "colourspace", "string", self.colourspace),
                        Attribute(PREFIX + "frame", "int", int(frame)),
                        Attribute(PREFIX + "sequence", "string", self.sequence)]))
        yaw, pitch, roll = pose
        self.crops.append({"frame": frame, "file": file_name, "matrix": matrix.round(6).tolist(),
                           "landmarks": landmarks.round(3).tolist(),
                           "sharpness": round(float(sharpness), 6),
                           "confidence": round(float(confidence), 4),
                           "yaw": round(yaw, 2), "pitch": round(pitch, 2), "roll": round(roll, 2),
                           **({"source_sha256": source} if source else {})})

    def skip(self, frame: int, reason: str) -> None:
        self.skipped[reason].append(frame)

    def finish(self, median_sharpness: float, track: str) -> dict[str, Any]:
        """Write ``meta.json`` (never over an existing one) and return it; ``track`` is the
        track version the crops were made from, relative to the shot folder."""
        self._wait(None, None, None)
        meta = {"schema": f"{SCHEMA[0]}.{SCHEMA[1]}", "sequence": self.sequence,
                "colourspace": self.colourspace, "size": self.size, "coverage": self.coverage,
                "crops": self.crops,
                "skipped": {k: len(v) for k, v in self.skipped.items()},
                "skipped_frames": {k: format_frames(v) for k, v in self.skipped.items() if v},
                "median_sharpness": median_sharpness, "track": track}
        atomic.write_json(self.folder / "meta.json", meta, overwrite=False)
        return meta


@dataclass(frozen=True)
class FacesetInfo:
    """One checked faceset folder (``faceset/vNNN/plate`` or ``.../actor``).

    Attributes:
        frames: the plate frame of each crop, in meta.json order.
        files: each crop's file name, in the same order.
        landmarks: ``(count, 68, 2)`` float32 landmarks in crop pixels (faceset size).
    """

    path: Path
    sequence: str
    size: int
    frames: list[int]
    count: int
    files: tuple[str, ...] = ()
    landmarks: np.ndarray = field(default_factory=lambda: np.zeros((0, 68, 2), np.float32),
                                  compare=False, repr=False)
    #: sha256 of each crop's source frame file, None where the faceset does not say
    sources: tuple[str | None, ...] = ()
    colourspace: str = "ACEScct"


def _place(path: Path, where: str) -> str:
    return f"{path} ({where})" if where else str(path)


def open_faceset(folder: Path, where: str = "") -> FacesetInfo:
    """Read and check ``folder/meta.json`` (FacesetMeta.1) and that every crop file exists.

    Args:
        where: what the folder is for, added to error messages (e.g. ``"actor faceset"``).

    Raises:
        MediaError: the folder or meta.json is missing or invalid, the schema is another
            or newer one, the faceset has no crops, or crop files are missing.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise MediaError(_place(folder, where), "a faceset folder (faceset/vNNN/plate|actor)",
                         "no such folder", f"check the path, or {_TRACK_HINT}")
    meta_path = folder / "meta.json"
    if not meta_path.is_file():
        raise MediaError(_place(meta_path, where), "the faceset's meta.json",
                         "no such file", f"the tracking stage did not finish; {_TRACK_HINT}")
    place = _place(meta_path, where)
    meta = read_json(meta_path, "record", MediaError, what="the faceset's meta.json", where=place)
    if not isinstance(meta, dict):
        raise MediaError(place, "a JSON object", type(meta).__name__, _TRACK_HINT)
    check_schema(meta.get("schema"), SCHEMA, place, MediaError)
    size = meta.get("size")
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
        raise MediaError(f"{place} (field size)", "a positive crop size in pixels",
                         repr(size), _TRACK_HINT)
    crops = meta.get("crops")
    if not isinstance(crops, list):
        raise MediaError(f"{place} (field crops)", "a list of crops", repr(type(crops).__name__),
                         _TRACK_HINT)
    if not crops:
        skipped = meta.get("skipped") or {}
        why = ", ".join(f"{k} {v}" for k, v in skipped.items() if v) or "none recorded"
        raise MediaError(place, "at least one crop",
                         f"the faceset has no crops (skipped frames: {why})",
                         f"{_TRACK_HINT} with a lower track.min_confidence or "
                         "track.min_sharpness, or check that the face is in the frames")
    frames, files, points, sources = [], [], [], []
    for n, crop in enumerate(crops):
        item = f"{place} (crops[{n}])"
        if not isinstance(crop, dict):
            raise MediaError(item, "an object", type(crop).__name__, _TRACK_HINT)
        frame, name = crop.get("frame"), crop.get("file")
        if isinstance(frame, bool) or not isinstance(frame, int):
            raise MediaError(f"{item} field frame", "a frame number", repr(frame), _TRACK_HINT)
        if not isinstance(name, str) or not name or Path(name).name != name:
            raise MediaError(f"{item} field file", "a file name in the faceset folder",
                             repr(name), _TRACK_HINT)
        try:
            lm = np.asarray(crop.get("landmarks"), dtype=np.float32)
        except (TypeError, ValueError) as err:
            raise MediaError(f"{item} field landmarks", "68 [x, y] pairs",
                             "values that are not numbers", _TRACK_HINT) from err
        if lm.shape != (68, 2) or not np.isfinite(lm).all():
            raise MediaError(f"{item} field landmarks", "68 finite [x, y] pairs",
                             f"shape {lm.shape}", _TRACK_HINT)
        frames.append(frame)
        files.append(name)
        points.append(lm)
        source = crop.get("source_sha256")
        sources.append(source if isinstance(source, str) else None)
    if len(set(frames)) != len(frames):
        dupes = sorted({f for f in frames if frames.count(f) > 1})
        raise MediaError(f"{place} (field crops)", "each frame once",
                         f"frame {dupes[0]} listed twice", _TRACK_HINT)
    missing = [f for f in files if not (folder / f).is_file()]
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3
                                          else "")
        raise MediaError(_place(folder, where), "every crop file meta.json lists",
                         f"{len(missing)} missing: {shown}",
                         f"{_TRACK_HINT} (it refills missing frames)")
    return FacesetInfo(path=folder, sequence=str(meta.get("sequence", folder.name)),
                       size=size, frames=frames, count=len(frames), files=tuple(files),
                       landmarks=np.stack(points), colourspace=str(meta.get("colourspace", "")),
                       sources=tuple(sources))
