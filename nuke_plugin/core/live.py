"""The live path as data: the plate through the actor model inside Nuke (Inference), giving
what a render version's Read gives, so the DigitalDouble group can switch between the
farm-rendered elements and live inference.

::

    source (plate, its own colourspace) -> LiveToNetwork (OCIOColorSpace -> ACEScct)
    -> LiveAlign (Transform, the track's plate -> crop matrix per frame) -> LiveCrop (Crop
    0 0 S S, reformat: the S x S aligned crop) -> LiveInference (the .cat: rgb + matte in
    alpha) -> LiveMatte (Copy alpha -> the group's matte channel) -> LiveCover (alpha = 1)
    -> LiveUncrop (Reformat back to the plate's box, bottom-left) -> LiveUnalign (the same
    Transform, inverted) -> LiveToWorking (ACEScct -> ACEScg) -> LivePremult (rgb by the
    cover)

The result has the face element's layout (:mod:`vfx_double.face.element`, read by the
group as ``ReadFace``): rgb premultiplied in ACEScg, alpha the crop's cover on the plate,
the model's matte in the channel the group reads the element's matte from. Like render,
the plate is encoded before it is warped. Unlike render, the model's crop is resampled
twice (crop size -> model resolution inside the module, and back), and the matte is not
limited to the landmark hull (Nuke has no landmarks): a look-dev path, the farm elements
stay the reference.

Why a Transform: the track's matrices are similarities (``align_matrix``: rotation, one
scale, translation), which Transform's translate / rotate / scale / center knobs hold
exactly, animated per frame, readable by a compositor; CornerPin2D would hold them too
(four corners per frame) but says less, and nothing in the track needs a projective warp.
:func:`similarity_knobs` refuses a matrix that is not a similarity.

Coordinates: vfx_double puts pixel centres on integers with y down (OpenCV); Nuke puts the
origin at the bottom-left corner of the format, y up, pixel centres at +0.5. A point
``(x, y)`` of an image of height ``h`` is Nuke's ``(x + 0.5, h - 0.5 - y)``; the plate's
flip uses the plate's height, the crop's the crop size, so the crop lands on Nuke's
``[0, S] x [0, S]``. Transform maps ``p -> T(translate + center) R(rotate) S(scale)
T(-center) p`` (rotate in degrees, counter-clockwise in y-up space) and moves the image by
it, as ``cv2.warpAffine`` moves the plate by the track matrix.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from vfx_double.face.track import TrackResult

from .graph import USER_KNOB_TYPES, Curve, Node, UserKnob

#: how far a track matrix may be from a similarity (relative to its scale)
SIMILARITY_TOLERANCE = 1e-6


def flip(height: float) -> np.ndarray:
    """3x3: vfx_double pixel coordinates of an image ``height`` pixels high -> Nuke's."""
    return np.array([[1.0, 0.0, 0.5], [0.0, -1.0, height - 0.5], [0.0, 0.0, 1.0]])


def nuke_matrix(matrix: np.ndarray, plate_height: int, crop_size: int) -> np.ndarray:
    """3x3 plate -> crop in Nuke's coordinates from the track's 2x3 plate -> crop matrix."""
    m = np.vstack([np.asarray(matrix, np.float64), [0.0, 0.0, 1.0]])
    return flip(crop_size) @ m @ np.linalg.inv(flip(plate_height))


def transform_matrix(translate: tuple[float, float], rotate: float, scale: float,
                     center: tuple[float, float]) -> np.ndarray:
    """3x3 of a Nuke Transform with these knob values (no skew): what it does to points."""
    a = math.radians(rotate)
    linear = scale * np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    c = np.asarray(center, np.float64)
    out = np.eye(3)
    out[:2, :2] = linear
    out[:2, 2] = np.asarray(translate, np.float64) + c - linear @ c
    return out


def similarity_knobs(matrix: np.ndarray, center: tuple[float, float]
                     ) -> tuple[tuple[float, float], float, float]:
    """(translate, rotate in degrees, scale) of a Transform about ``center`` that does the
    3x3 Nuke-space similarity ``matrix``; ValueError for any other affine."""
    a, b, c, d = matrix[0, 0], matrix[0, 1], matrix[1, 0], matrix[1, 1]
    scale = math.hypot(a, c)
    if (scale == 0.0 or abs(a - d) > SIMILARITY_TOLERANCE * scale
            or abs(b + c) > SIMILARITY_TOLERANCE * scale):
        raise ValueError(f"expected a similarity (rotation, one scale, translation), got "
                         f"linear part {[[a, b], [c, d]]}")
    linear = matrix[:2, :2]
    centre = np.asarray(center, np.float64)
    translate = matrix[:2, 2] - centre + linear @ centre
    return (float(translate[0]), float(translate[1])), math.degrees(math.atan2(c, a)), scale


def align_knobs(track: TrackResult, crop_size: int) -> dict[str, Any]:
    """Transform knobs (curves over the tracked frames) for plate -> crop, about the
    plate's centre; frames without a face hold their neighbours' keys."""
    width, height = track.frame_size
    center = (width / 2.0, height / 2.0)
    tx: dict[int, float] = {}
    ty: dict[int, float] = {}
    rot: dict[int, float] = {}
    scale: dict[int, float] = {}
    for frame, matrix, ok in zip(track.frames, track.matrices, track.valid):
        if not ok or not np.isfinite(matrix).all():
            continue
        (tx[frame], ty[frame]), rot[frame], scale[frame] = similarity_knobs(
            nuke_matrix(matrix, height, crop_size), center)
    if not tx:
        raise ValueError(f"{track.sequence}: no tracked face on any frame")
    s = Curve.of(scale)
    return {"translate": (Curve.of(tx), Curve.of(ty)), "rotate": Curve.of(rot),
            "scale": (s, s), "center": center}


def catfilecreator_node(sidecar: dict[str, Any], folder: Path,
                        name: str = "LiveCatFileCreator") -> Node:
    """CatFileCreator filled in from a NukeModel.1 sidecar (paths made absolute against
    ``folder``, where the export wrote them), with the module's knobs as user knobs."""
    cat = dict(sidecar["catfilecreator"])
    cat["torchScriptFile"] = str(Path(folder) / cat["torchScriptFile"])
    cat["catFile"] = str(Path(folder) / cat["catFile"])
    user = [UserKnob(USER_KNOB_TYPES[k["class"]], k["name"], k["name"].replace("_", " "))
            for k in sidecar["user_knobs"]]
    knobs = {**cat, **{k["name"]: k["default"] for k in sidecar["user_knobs"]},
             "label": f"licence {sidecar['licence_id']}\nSYNTHETIC"}
    return Node("CatFileCreator", name, knobs, [], [], user)


def live_nodes(track: TrackResult, sidecar: dict[str, Any], folder: Path, *,
               plate_colourspace: str, working: str, matte_channel: str,
               source: str = "Input1", prefix: str = "Live") -> list[Node]:
    """The live branch, from ``source`` (a node giving the plate in its own colourspace)
    to ``<prefix>Premult`` (the element's layout, the matte in ``matte_channel``: the
    Nuke channel the group reads the element's matte from), and the pre-filled
    CatFileCreator (no inputs) last. ``folder`` holds the export's .pt and where its .cat
    goes."""
    size = int(track.settings.get("crop_size", 256))
    width, height = track.frame_size
    network = sidecar["input"]["colourspace"]
    align = align_knobs(track, size)
    cat = Path(folder) / sidecar["catfilecreator"]["catFile"]
    p = prefix
    return [
        Node("OCIOColorSpace", f"{p}ToNetwork", {"in_colorspace": plate_colourspace,
                                                 "out_colorspace": network}, [source]),
        Node("Transform", f"{p}Align", {**align, "filter": "Cubic", "black_outside": True},
             [f"{p}ToNetwork"]),
        Node("Crop", f"{p}Crop", {"box": (0, 0, size, size), "reformat": True, "crop": True},
             [f"{p}Align"]),
        Node("Inference", f"{p}Inference", {"modelFile": str(cat),
                                            "useGPUIfAvailable": True,
                                            "label": f"licence {sidecar['licence_id']}"
                                                     "\nSYNTHETIC"},
             [f"{p}Crop"]),
        Node("Copy", f"{p}Matte", {"from0": "rgba.alpha", "to0": matte_channel},
             [f"{p}Inference", f"{p}Inference"]),
        Node("Expression", f"{p}Cover", {"channel3": "alpha", "expr3": "1"}, [f"{p}Matte"]),
        Node("Reformat", f"{p}Uncrop", {"type": "to box", "box_width": width,
                                        "box_height": height, "box_fixed": True,
                                        "resize": "none", "center": False,
                                        "black_outside": True}, [f"{p}Cover"]),
        Node("Transform", f"{p}Unalign", {**align, "invert_matrix": True, "filter": "Cubic",
                                          "black_outside": True}, [f"{p}Uncrop"]),
        Node("OCIOColorSpace", f"{p}ToWorking", {"in_colorspace": network,
                                                 "out_colorspace": working},
             [f"{p}Unalign"]),
        Node("Premult", f"{p}Premult", {"channels": "rgb"}, [f"{p}ToWorking"]),
        catfilecreator_node(sidecar, folder, f"{p}CatFileCreator"),
    ]
