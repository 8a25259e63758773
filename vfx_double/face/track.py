"""TrackResult.1: one tracked sequence on disk, ``<name>.json`` plus ``<name>.npz``.

The JSON holds what a TD reads (frames, flags, confidence, boxes, alignment matrices,
backend and settings, summary); the 68-point arrays, raw and smoothed, go into an
``.npz`` of plain float arrays (read with ``allow_pickle=False``) whose sha256 the JSON
records, so a swapped or damaged array file is caught.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import TrackingError
from ..io import atomic
from ..records import read_record

SCHEMA = ("TrackResult", 1)
FLAGS = ("no_face", "interpolated", "low_confidence", "long_gap")


@dataclass
class TrackResult:
    """A performer's track over ``frames`` (T of them).

    Shapes: points (T, 68, 2) in plate pixels (display-window coordinates), boxes (T, 4)
    x0 y0 x1 y1, matrices (T, 2, 3) plate -> aligned crop, confidence (T,).
    """

    sequence: str
    source: str
    colourspace: str
    frame_size: tuple[int, int]
    frames: list[int]
    points_raw: np.ndarray
    points: np.ndarray
    boxes: np.ndarray
    confidence: np.ndarray
    matrices: np.ndarray
    flags: list[list[str]]
    backend: dict[str, str]
    settings: dict[str, Any]
    performer: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def valid(self) -> np.ndarray:
        """(T,) frames with usable landmarks: found or interpolated."""
        return np.array(["no_face" not in f for f in self.flags], dtype=bool)

    def save(self, json_path: Path) -> None:
        """Write ``json_path`` and the ``.npz`` beside it, each atomically, never replacing."""
        buffer = io.BytesIO()
        np.savez_compressed(buffer, points_raw=self.points_raw.astype(np.float32),
                            points=self.points.astype(np.float32),
                            boxes=self.boxes.astype(np.float32),
                            confidence=self.confidence.astype(np.float32),
                            matrices=self.matrices.astype(np.float64))
        arrays = buffer.getvalue()
        npz_path = json_path.with_suffix(".npz")
        atomic.write_bytes(npz_path, arrays, overwrite=False)
        record = {
            "schema": f"{SCHEMA[0]}.{SCHEMA[1]}",
            "sequence": self.sequence,
            "source": self.source,
            "colourspace": self.colourspace,
            "frame_size": list(self.frame_size),
            "backend": self.backend,
            "settings": self.settings,
            "performer": self.performer,
            "summary": self.summary,
            "arrays": {"file": npz_path.name, "sha256": hashlib.sha256(arrays).hexdigest()},
            "frames": [
                {"frame": f, "flags": fl, "confidence": round(float(c), 4),
                 "box": [round(float(v), 2) for v in b], "matrix": m.round(6).tolist()}
                for f, fl, c, b, m in zip(self.frames, self.flags, self.confidence,
                                         self.boxes, self.matrices)
            ],
        }
        atomic.write_json(json_path, record, overwrite=False)


def load(json_path: Path) -> TrackResult:
    """Read a TrackResult; refuse a newer schema, a missing or altered array file."""
    data = read_record(json_path, SCHEMA, TrackingError, what="a track file",
                       hint="run `vfx-double track SHOT.yaml` first")
    npz_path = Path(json_path).with_name(data["arrays"]["file"])
    try:
        blob = npz_path.read_bytes()
    except FileNotFoundError as err:
        raise TrackingError(str(npz_path), "the track's array file", "no such file",
                            "copy the whole track folder") from err
    digest = hashlib.sha256(blob).hexdigest()
    if digest != data["arrays"]["sha256"]:
        raise TrackingError(str(npz_path), f"sha256 {data['arrays']['sha256'][:12]}...",
                            f"{digest[:12]}...", "the array file does not belong to this track")
    with np.load(io.BytesIO(blob), allow_pickle=False) as arrays:
        values = {k: arrays[k] for k in arrays.files}
    per_frame = data["frames"]
    return TrackResult(
        sequence=data["sequence"], source=data["source"], colourspace=data["colourspace"],
        frame_size=tuple(data["frame_size"]), frames=[f["frame"] for f in per_frame],
        points_raw=values["points_raw"].astype(np.float64),
        points=values["points"].astype(np.float64), boxes=values["boxes"].astype(np.float64),
        confidence=values["confidence"].astype(np.float64), matrices=values["matrices"],
        flags=[list(f["flags"]) for f in per_frame], backend=data["backend"],
        settings=data["settings"], performer=data.get("performer", {}),
        summary=data.get("summary", {}))
