"""CompMatch.1: what the comp did to one frame, written beside its frames so another
compositing package (the Nuke node) can animate its native nodes from the same numbers.

One file per frame, ``<comp version>/match.####.json`` (farm chunks write disjoint frames,
so no two tasks ever write one file)::

    schema        "CompMatch.1"
    frame         the frame number
    render        the render version the element came from
    colourspaces  {"plate", "working", "output"}
    box           [x, y, w, h] the pixels the comp changed (the final matte's box), or null
                  when the plate passed through
    element_box   [x, y, w, h] the element's data window
    matte         {"erode", "feather", "feather_sigma", "mix"}: plate pixels,
                  sigma = feather / 2.4 (:mod:`vfx_double.face.matte`)
    colour_match  {"method": none|rct|gain|histogram, ...}: the numbers of
                  :func:`.colour_match.parameters` in the space they apply in; ``{"method":
                  "none"}`` also where the shot asks for a match but the frame had no
                  statistics
    grain         :class:`.grain.GrainModel` as a dict (ACEScct), or null: none added
    detail        {"mode": off|auto|on, "spread": the low-pass variance in plate pixels^2, or
                  null where the frame kept the model's pixels only}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..config import Comp
from ..errors import WorkAreaError
from ..face.crop import Box
from ..face.matte import feather_sigma
from ..io import atomic
from ..records import check_schema, read_json
from . import colour_match
from .grain import GrainModel

SCHEMA = ("CompMatch", 1)


def match_path(comp_dir: Path, frame: int, padding: int = 4) -> Path:
    return Path(comp_dir) / f"match.{frame:0{padding}d}.json"


def frame_record(frame: int, *, render: str, colourspaces: dict[str, str], look: Comp,
                 box: Box | None, element_box: Box,
                 stats: colour_match.FrameStats | None, grain_model: GrainModel | None,
                 spread: float | None) -> dict[str, Any]:
    method = look.colour_match if stats is not None else "none"
    match: dict[str, Any] = {"method": method}
    if stats is not None:
        match.update(colour_match.parameters(method, stats))
    return {
        "schema": f"{SCHEMA[0]}.{SCHEMA[1]}", "frame": int(frame), "render": render,
        "colourspaces": dict(colourspaces),
        "box": None if box is None else [int(v) for v in box],
        "element_box": [int(v) for v in element_box],
        "matte": {"erode": float(look.erode), "feather": float(look.feather),
                  "feather_sigma": feather_sigma(look.feather), "mix": float(look.mix)},
        "colour_match": match,
        "grain": None if grain_model is None else grain_model.to_dict(),
        "detail": {"mode": look.detail, "spread": None if spread is None else float(spread)},
    }


def write_frame_record(comp_dir: Path, record: dict[str, Any], padding: int = 4) -> None:
    atomic.write_json(match_path(comp_dir, record["frame"], padding), record)


_KEYS = {"schema", "frame", "render", "colourspaces", "box", "element_box", "matte",
         "colour_match", "grain", "detail"}


def read_frame_record(comp_dir: Path, frame: int, padding: int = 4) -> dict[str, Any]:
    """One frame's record, checked for its schema and keys (:class:`WorkAreaError`)."""
    path = match_path(comp_dir, frame, padding)
    hint = "run `vfx-double comp SHOT.yaml` again: comp versions written before CompMatch.1 " \
           "lack this record, a rerun in a new version writes it"
    try:
        data = read_json(path, "record", WorkAreaError, what="a CompMatch record", hint=hint)
    except FileNotFoundError as err:
        raise WorkAreaError(str(path), "the comp's CompMatch record for this frame",
                            "no such file", hint) from err
    if not isinstance(data, dict):
        raise WorkAreaError(str(path), "a CompMatch object", type(data).__name__)
    check_schema(data.get("schema"), SCHEMA, str(path), WorkAreaError)
    missing = sorted(_KEYS - set(data))
    if missing or data["frame"] != frame:
        raise WorkAreaError(str(path), f"keys {', '.join(sorted(_KEYS))} for frame {frame}",
                            f"missing {missing}" if missing else f"frame {data['frame']!r}",
                            hint)
    if data["grain"] is not None:
        GrainModel.from_dict(data["grain"], f"{path} (grain)")
    return data


def read_comp_match(comp_dir: Path, frames: list[int], padding: int = 4
                    ) -> dict[int, dict[str, Any]]:
    """Frame -> record for ``frames`` of one comp version."""
    return {f: read_frame_record(comp_dir, f, padding) for f in frames}
