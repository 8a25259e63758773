"""CoverageReport.1: how well the actor reference covers each plate frame, ``coverage.json``.

Written by ``vfx-double track`` into the track version beside ``track.json``; ``status``,
review and the comp-quality benchmark read it back with ``load``. One JSON file, no
arrays beside it: per plate frame the head pose, mouth and eye opening, the distance to
the nearest actor frame in each component and combined, and the nearest actor frame;
then the uncovered plate ranges with their reasons in words. ``coverage.py`` computes it
and its module docstring says what each number means.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import TrackingError
from ..io import atomic
from ..records import read_record

SCHEMA = ("CoverageReport", 1)
#: distance components: head pose, the two openings, the landmark shape
COMPONENTS = ("pose", "mouth", "eyes", "shape")


@dataclass
class Reason:
    """Why frames of a range are uncovered: one component and direction (``key``, e.g.
    ``mouth_above``), on how many of the range's frames, in words (worst frame's figures)."""

    key: str
    frames: int
    text: str


@dataclass
class UncoveredRange:
    """Plate frames ``first``-``last`` (inclusive), of which ``frames`` counted frames
    are over tolerance; frames that do not count and short dips under tolerance between
    them belong to the range."""

    first: int
    last: int
    frames: int
    reasons: list[Reason]

    @property
    def text(self) -> str:
        span = f"{self.first}-{self.last}" if self.first != self.last else str(self.first)
        return f"{span}: " + "; ".join(r.text for r in self.reasons)


@dataclass
class CoverageReport:
    """Coverage of T plate frames by the actor reference.

    Shapes: counted (T,) bool, pose (T, 3) yaw pitch roll in degrees, mouth and eyes (T,),
    each ``distance[c]`` (T,) for c in ``COMPONENTS`` and ``"combined"``; NaN where the
    plate has no face. ``nearest`` is the actor frame nearest in the combined distance.
    """

    plate: dict[str, Any]
    actor: dict[str, Any]
    tolerances: dict[str, float]
    settings: dict[str, int]
    actor_range: dict[str, list[float]]
    frames: list[int]
    flags: list[list[str]]
    counted: np.ndarray
    pose: np.ndarray
    mouth: np.ndarray
    eyes: np.ndarray
    distance: dict[str, np.ndarray]
    nearest: list[int | None]
    ranges: list[UncoveredRange] = field(default_factory=list)
    blips: list[int] = field(default_factory=list)

    @property
    def uncovered(self) -> np.ndarray:
        """(T,) plate frames inside a reported range."""
        f = np.asarray(self.frames)
        out = np.zeros(len(f), dtype=bool)
        for r in self.ranges:
            out |= (f >= r.first) & (f <= r.last)
        return out

    @property
    def covered_count(self) -> int:
        return int((self.counted & ~self.uncovered).sum())

    def lines(self) -> list[str]:
        """What ``track`` prints: one summary line, then one line per uncovered range."""
        counted = int(self.counted.sum())
        notes = [f"{n} {what} not counted" for what, n in (
            ("interpolated", sum("interpolated" in f for f in self.flags)),
            ("no-face", sum("no_face" in f for f in self.flags))) if n]
        if self.blips:
            notes.append(f"{len(self.blips)} one-off frame{'s' if len(self.blips) > 1 else ''}"
                         f" over tolerance ignored")
        note = f" ({'; '.join(notes)})" if notes else ""
        out = [f"coverage: actor reference covers {self.covered_count}/{counted} plate frames"
               f"{note}"]
        out += [f"  uncovered {r.text}" for r in self.ranges]
        return out

    def save(self, path: Path) -> None:
        """Write ``path`` atomically; never replaces an existing file."""
        record = {
            "schema": f"{SCHEMA[0]}.{SCHEMA[1]}",
            "plate": self.plate, "actor": self.actor, "tolerances": self.tolerances,
            "settings": self.settings, "actor_range": self.actor_range,
            "summary": {"counted": int(self.counted.sum()), "covered": self.covered_count,
                        "uncovered": [r.text for r in self.ranges], "blips": self.blips},
            "ranges": [{"first": r.first, "last": r.last, "frames": r.frames,
                        "reasons": [vars(x) for x in r.reasons]} for r in self.ranges],
            "frames": [self._frame(i) for i in range(len(self.frames))],
        }
        atomic.write_json(path, record, overwrite=False)

    def _frame(self, i: int) -> dict[str, Any]:
        yaw, pitch, roll = (_num(v, 2) for v in self.pose[i])
        return {"frame": self.frames[i], "flags": self.flags[i], "counted": bool(self.counted[i]),
                "yaw": yaw, "pitch": pitch, "roll": roll,
                "mouth": _num(self.mouth[i], 4), "eyes": _num(self.eyes[i], 4),
                "distance": {k: _num(v[i], 4) for k, v in self.distance.items()},
                "nearest_actor_frame": self.nearest[i]}


def _num(value: float, digits: int) -> float | None:
    """JSON has no NaN: a frame without a face stores null."""
    return round(float(value), digits) if math.isfinite(value) else None


def _arr(values: list[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def load(path: Path) -> CoverageReport:
    """Read a CoverageReport; refuse a newer schema or a file that is not one."""
    where = str(path)
    data = read_record(path, SCHEMA, TrackingError, what="a coverage report",
                       hint="run `vfx-double track SHOT.yaml` (it writes coverage.json)")
    try:
        per = data["frames"]
        return CoverageReport(
            plate=data["plate"], actor=data["actor"], tolerances=data["tolerances"],
            settings=data["settings"], actor_range=data["actor_range"],
            frames=[f["frame"] for f in per], flags=[list(f["flags"]) for f in per],
            counted=np.array([f["counted"] for f in per], dtype=bool),
            pose=np.stack([_arr([f[k] for f in per]) for k in ("yaw", "pitch", "roll")], axis=-1)
            if per else np.zeros((0, 3)),
            mouth=_arr([f["mouth"] for f in per]), eyes=_arr([f["eyes"] for f in per]),
            distance={k: _arr([f["distance"][k] for f in per])
                      for k in (*COMPONENTS, "combined")},
            nearest=[f["nearest_actor_frame"] for f in per],
            ranges=[UncoveredRange(r["first"], r["last"], r["frames"],
                                   [Reason(**x) for x in r["reasons"]]) for r in data["ranges"]],
            blips=list(data["summary"]["blips"]))
    except (KeyError, TypeError) as err:
        raise TrackingError(where, "every CoverageReport.1 field", f"missing or malformed {err}",
                            "the file was edited or truncated; rerun `vfx-double track`") from err
