"""Why a plate frame is uncovered, in words a TD can act on.

Each over-tolerance component gets a direction: beyond the actor's range ("mouth open
wider than any actor frame (opening 0.29 vs max 0.17)") or inside it but between actor
frames ("mouth opening 0.12, between the actor frames' 0.05 and 0.20"). Frames whose
components are each covered, but by different actor frames, are "pose and expression
together unlike any actor frame". A range lists its reasons in the order a TD would act
on them, each with the figures of its worst frame: head pose first (a head turned past
the actor's range also changes how the openings and the shape read in 2D, so reference
at that angle is the first thing to get), then mouth and eyes, then the general
expression.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .coverage_report import COMPONENTS

if TYPE_CHECKING:
    from .coverage import FrameMeasures

#: a reason seen on fewer of a range's frames than this is noise, unless it is the only one
SHARE = 0.25
_ORDER = ("yaw_above", "yaw_below", "pitch_above", "pitch_below", "pose_between",
          "mouth_above", "mouth_below", "mouth_between", "eyes_above", "eyes_below",
          "eyes_between", "shape", "combination")
_OPENING = {"mouth": ("mouth open wider", "mouth more closed", "mouth opening"),
            "eyes": ("eyes opened wider", "eyes more closed", "eye opening")}
_POSE = {"yaw_above": "head turned further towards image left",
         "yaw_below": "head turned further towards image right",
         "pitch_above": "head tilted further down", "pitch_below": "head tilted further up"}


def _opening(c: str, v: float, actor: np.ndarray) -> tuple[str, str]:
    lo, hi = float(actor.min()), float(actor.max())
    wider, closed, name = _OPENING[c]
    if v > hi:
        return f"{c}_above", f"{wider} than any actor frame (opening {v:.2f} vs max {hi:.2f})"
    if v < lo:
        return f"{c}_below", f"{closed} than any actor frame (opening {v:.2f} vs min {lo:.2f})"
    below, above = float(actor[actor <= v].max()), float(actor[actor >= v].min())
    return f"{c}_between", f"{name} {v:.2f}, between the actor frames' {below:.2f} and {above:.2f}"


def _pose(yaw: float, pitch: float, distance: float, actor: np.ndarray) -> tuple[str, str]:
    (ylo, plo), (yhi, phi) = actor[:, :2].min(0), actor[:, :2].max(0)
    beyond = {"yaw_above": (yaw - yhi, "yaw", yaw, f"max {yhi:+.0f}"),
              "yaw_below": (ylo - yaw, "yaw", yaw, f"min {ylo:+.0f}"),
              "pitch_above": (pitch - phi, "pitch", pitch, f"max {phi:+.0f}"),
              "pitch_below": (plo - pitch, "pitch", pitch, f"min {plo:+.0f}")}
    key = max(beyond, key=lambda k: beyond[k][0])
    excess, axis, value, limit = beyond[key]
    if excess > 0:
        return key, f"{_POSE[key]} than any actor frame ({axis} {value:+.0f} vs {limit})"
    return "pose_between", (f"head pose (yaw {yaw:+.0f}, pitch {pitch:+.0f}) {distance:.0f} "
                            f"degrees from the nearest actor pose")


def frame_reasons(i: int, plate: FrameMeasures, actor: FrameMeasures,
                  distance: dict[str, np.ndarray], nearest: list[int | None],
                  tolerances: dict[str, float]) -> list[tuple[str, float, str]]:
    """(key, distance over tolerance, words) for each component plate frame ``i`` is
    uncovered in; ``actor`` holds only the actor frames that count."""
    out = []
    for c in COMPONENTS:
        excess = float(distance[c][i] / tolerances[c])
        if not excess > 1.0:
            continue
        if c in _OPENING:
            key, text = _opening(c, float(getattr(plate, c)[i]), getattr(actor, c))
        elif c == "pose":
            key, text = _pose(float(plate.pose[i, 0]), float(plate.pose[i, 1]),
                              float(distance[c][i]), actor.pose)
        else:
            key, text = "shape", (f"expression unlike any actor frame (landmarks "
                                  f"{distance[c][i]:.2f} eye distances from the nearest, "
                                  f"tolerance {tolerances[c]:.2f})")
        out.append((key, excess, text))
    if not out and distance["combined"][i] > 1.0:
        out.append(("combination", float(distance["combined"][i]),
                    f"pose and expression together unlike any actor frame (nearest: actor "
                    f"frame {nearest[i]})"))
    return out


def range_reasons(members: np.ndarray, plate: FrameMeasures, actor: FrameMeasures,
                  distance: dict[str, np.ndarray], nearest: list[int | None],
                  tolerances: dict[str, float]) -> list[tuple[str, int, str]]:
    """(key, frames, words) for a range of over-tolerance plate frames ``members``: the
    reasons seen on at least ``SHARE`` of them (or the commonest), worst frame's words."""
    seen: dict[str, list[tuple[float, str]]] = {}
    for i in members:
        for key, excess, text in frame_reasons(int(i), plate, actor, distance, nearest,
                                               tolerances):
            seen.setdefault(key, []).append((excess, text))
    if not seen:
        return []
    top = max(len(v) for v in seen.values())
    keep = [k for k in _ORDER if k in seen and (len(seen[k]) >= SHARE * len(members)
                                                or len(seen[k]) == top)]
    return [(k, len(seen[k]), max(seen[k])[1]) for k in keep]
