"""The shot's grain: measured once on frames spread over the shot, checked on every frame.

Grain belongs to the film stock or the sensor and its exposure, not to one frame, and a
compositor regrains a shot from one sample of it (Nuke's DasGrain and F_ReGrain analyse a
chosen frame and apply that to the whole shot). Measuring it afresh on every frame made
the added grain's character change from frame to frame with the estimate's own noise (on
the comp benchmark's plate ``size_sigma`` went between 0 and 0.26 from one frame to the
next) and cost 54 ms of a 2K frame's comp.

- :func:`shot_model`: :data:`FRAMES` frames evenly spread over the shot's frames that have
  a face element; on each, :data:`STRIPS` strips of rows spread from top to bottom (only
  those rows are decoded, a sixth of a 2K frame) give :data:`STRIP_BLOCKS` blocks each away
  from that frame's face, and one :func:`.grain.estimate` runs over all of them. It is
  saved as ``grain.json`` in the comp version, so every farm chunk and every rerun of that
  version adds the same grain.
- :func:`frame_model`: each comped frame measures :data:`CHECK_BLOCKS` blocks. Where its
  grain's std differs from the shot's by more than :data:`CHECK_LIMITS` in any channel (a
  cut inside the plate, another stock, a push the log encoding does not absorb), that frame
  gets its own estimate on the full set of blocks, as every frame did before, and the comp
  names it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import WorkAreaError
from ..face.element import PREFIX
from ..io import atomic
from ..io.exr import ExrImage, read_bands, read_header
from ..io.sequences import FrameSequence
from ..records import read_record
from . import colour_match, grain
from .blend import CompColour

SCHEMA = ("ShotGrain", 1)
#: frames the shot's grain is measured on, spread evenly over the shot
FRAMES = 4
#: blocks, and their side, measured on each of those frames and on a frame's own estimate
BLOCKS = 192
BLOCK_SIZE = 32
#: the shot's frames are measured in this many strips of BLOCK_SIZE rows, STRIP_BLOCKS
#: blocks along each
STRIPS = 6
STRIP_BLOCKS = BLOCKS // STRIPS
#: blocks each frame's check measures
CHECK_BLOCKS = 32
#: a frame keeps the shot's grain while each channel's std measured on its check blocks is
#: within these factors of the shot's (and :data:`CHECK_FLOOR` absolute: an almost clean
#: plate has nothing to compare)
CHECK_LIMITS = (0.8, 1.25)
CHECK_FLOOR = 2e-4
FILE = "grain.json"


@dataclass(frozen=True)
class FrameGrain:
    """The grain a frame gets, and whether it is the frame's own estimate (its check
    failed) rather than the shot's."""

    model: grain.GrainModel | None
    own: bool = False


def options() -> dict[str, Any]:
    """What the comp's options record of this method, so a comp version made another way
    is not continued with it."""
    return {"method": f"{SCHEMA[0]}.{SCHEMA[1]}", "frames": FRAMES, "blocks": BLOCKS,
            "block_size": BLOCK_SIZE, "strips": STRIPS, "strip_blocks": STRIP_BLOCKS,
            "check_blocks": CHECK_BLOCKS,
            "check_limits": list(CHECK_LIMITS), "check_floor": CHECK_FLOOR}


def blocks(pixels: np.ndarray, rgb: list[int], window: tuple[int, int, int, int],
           face: tuple[int, int, int, int] | None, count: int, spaces: CompColour
           ) -> np.ndarray | None:
    """(N, S, S, 3) ACEScct blocks of a plate's stored ``pixels`` spread over the frame
    away from the ``face`` box (plate pixels; None: no face); None when there is no room."""
    x0, y0 = window[:2]
    exclude = None if face is None else (face[0] - x0, face[1] - y0, face[2], face[3])
    slices = grain.sample_blocks(pixels.shape[:2], exclude, count, BLOCK_SIZE, seed=0)
    if not slices:
        return None
    return _encoded(np.stack([pixels[ys, xs][..., rgb] for ys, xs in slices]), spaces)


def strip_blocks(path: Path, frame: int, face: tuple[int, int, int, int] | None,
                 spaces: CompColour) -> np.ndarray | None:
    """(N, S, S, 3) ACEScct blocks from :data:`STRIPS` strips of rows of the plate frame at
    ``path``, spread from its top to its bottom and aligned to its 16-row EXR chunks, so
    only those rows are decoded; blocks stay clear of the ``face`` box (plate pixels).
    None when no block fits."""
    x0, y0, width, height = read_header(path, frame=frame).data_window
    if width < BLOCK_SIZE or height < BLOCK_SIZE:
        return None
    tops = sorted({int(t) // 16 * 16 for t in np.linspace(0, height - BLOCK_SIZE, STRIPS)})
    rows = read_bands(path, [(y0 + t, y0 + t + BLOCK_SIZE) for t in tops], ["R", "G", "B"],
                      frame=frame)
    # one block at a random place in each of STRIP_BLOCKS equal cells across the strip;
    # those that would touch the face are left out
    edges = np.linspace(0, width - BLOCK_SIZE, STRIP_BLOCKS + 1).astype(int)
    found = []
    for i, top in enumerate(tops):
        strip = rows[i * BLOCK_SIZE:(i + 1) * BLOCK_SIZE]
        rng = np.random.default_rng(i)
        lefts = rng.integers(edges[:-1], np.maximum(edges[1:], edges[:-1] + 1))
        if face is not None and face[1] < y0 + top + BLOCK_SIZE and y0 + top < face[1] + face[3]:
            fx0, fx1 = face[0] - x0, face[0] - x0 + face[2]
            lefts = lefts[(lefts + BLOCK_SIZE <= fx0) | (lefts >= fx1)]
        found += [strip[:, x:x + BLOCK_SIZE] for x in lefts.tolist()]
    return _encoded(np.stack(found), spaces) if found else None


def _encoded(stack: np.ndarray, spaces: CompColour) -> np.ndarray:
    """(N, S, S, 3) plate blocks as stored -> float32 ACEScct."""
    flat = np.ascontiguousarray(stack.reshape(-1, BLOCK_SIZE, 3), np.float32)
    linear = spaces.colour.convert(flat, spaces.plate, spaces.working)
    return colour_match.encode(linear).reshape(stack.shape)


def pick(frames: list[int], count: int = FRAMES) -> list[int]:
    """``count`` of ``frames`` evenly spread from the first to the last (all when fewer)."""
    if len(frames) <= count:
        return list(frames)
    at = np.linspace(0, len(frames) - 1, count).round().astype(int)
    return [frames[i] for i in dict.fromkeys(at.tolist())]


def shot_model(comp_dir: Path, all_frames: list[int], plate_seq: FrameSequence,
               elements: FrameSequence, spaces: CompColour) -> grain.GrainModel | None:
    """The shot's grain: this comp version's ``grain.json``, or measured and saved there."""
    path = comp_dir / FILE
    if path.is_file():
        return _read(path)
    with_face = [f for f in all_frames if elements.path(f).is_file()]
    sampled, used = [], []
    for frame in pick(with_face):
        header = read_header(elements.path(frame), frame=frame)
        face = tuple(header.data_window) if header.attribute(PREFIX + "face", 0) else None
        found = strip_blocks(plate_seq.path(frame), frame, face, spaces)
        if found is not None:
            sampled.append(found)
            used.append(frame)
    model = grain.estimate(np.concatenate(sampled)) if sampled else None
    atomic.write_json(path, {"schema": f"{SCHEMA[0]}.{SCHEMA[1]}", "frames": used,
                             "model": None if model is None else model.to_dict()})
    return model


def _read(path: Path) -> grain.GrainModel | None:
    hint = f"delete {path.name} and comp again to measure the shot's grain afresh"
    data = read_record(path, SCHEMA, WorkAreaError, what="the shot's grain (ShotGrain.1)",
                       hint=hint)
    if set(data) != {"schema", "frames", "model"}:
        raise WorkAreaError(str(path), "the keys frames, model, schema",
                            ", ".join(sorted(map(str, data))), hint)
    return None if data["model"] is None else grain.GrainModel.from_dict(
        data["model"], f"{path} (model)")


def frame_model(shot: grain.GrainModel | None, plate: ExrImage,
                face: tuple[int, int, int, int] | None, spaces: CompColour,
                whole: Callable[[], ExrImage] | None = None) -> FrameGrain:
    """The grain for one frame: the shot's when the frame's check blocks agree with it,
    else the frame's own estimate (None: no room for blocks on this frame).

    ``whole``: ``plate`` is some of the frame's rows (the face's), and this reads the whole
    frame. The check is then made on the blocks beside the face in those rows; the whole
    frame is decoded only when they have no room for it, or for the frame's own estimate,
    which is made on the whole frame as always."""
    if shot is not None:
        rgb = plate.channel_indices(["R", "G", "B"])
        check = blocks(plate.pixels, rgb, plate.data_window, face, CHECK_BLOCKS, spaces)
        if check is None and whole is not None:
            plate, whole = whole(), None
            rgb = plate.channel_indices(["R", "G", "B"])
            check = blocks(plate.pixels, rgb, plate.data_window, face, CHECK_BLOCKS, spaces)
        if check is not None and agrees(grain.estimate(check), shot):
            return FrameGrain(shot)
    if whole is not None:
        plate = whole()
    rgb = plate.channel_indices(["R", "G", "B"])
    own = blocks(plate.pixels, rgb, plate.data_window, face, BLOCKS, spaces)
    return FrameGrain(None) if own is None else FrameGrain(grain.estimate(own), own=True)


def agrees(measured: grain.GrainModel, shot: grain.GrainModel) -> bool:
    """Whether a frame's measured grain std is the shot's, channel by channel, within
    :data:`CHECK_LIMITS` (or :data:`CHECK_FLOOR` of it)."""
    low, high = CHECK_LIMITS
    for m, s in zip(measured.std, shot.std):
        if abs(m - s) > CHECK_FLOOR and not low * s <= m <= high * s:
            return False
    return True
