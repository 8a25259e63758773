"""FaceElement.2: the face element, one EXR per frame, that render writes and comp (and the
Nuke node) read. The format lives here once: :func:`element_image` makes one for render
to write, :func:`read_element` reads and checks one for the comp.

- Channels ``R, G, B`` (ACEScg, premultiplied by ``A``), ``A`` (the rendered crop's
  coverage) and ``matte.A`` (the face matte), half float.
- Version 1 named the matte ``matte``, without a layer; still read. Why the layer: Nuke's
  EXR reader (``ExrChannelNameToNuke`` in Foundry's NDK examples) makes a layer of all
  but the last dot-separated part and turns ``A`` into ``alpha``, so ``matte.A`` is
  ``matte.alpha`` in Nuke, a layer of its own that a Shuffle or Copy offers by name; a
  bare ``matte`` has no layer there and lands wherever the host puts unlayered channels.
- Data window: the crop's box on the plate; display window: the plate's.
- Header attributes, each under :data:`PREFIX`: ``schema``, ``licenceId``, ``modelHash``,
  ``configHash``, ``synthetic`` (1), ``colourspace``, ``source``, ``frame``, ``face``
  (0 / 1), and on a frame with a face ``matrix`` (plate -> crop, 6 floats), ``cropSize``
  and ``resolution`` (the model's).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import MediaError
from ..io.exr import Attribute, ExrImage, as_float32, read_exr, take_channels
from ..records import check_schema

#: every attribute this tool writes into an EXR header starts with this
PREFIX = "vfx_double/"
SCHEMA = ("FaceElement", 2)
#: the schema as written in the header
SCHEMA_TAG = f"{SCHEMA[0]}.{SCHEMA[1]}"
CHANNELS = ("R", "G", "B", "A", "matte.A")
#: the channels of each version of the format (the matte's name changed in version 2)
VERSION_CHANNELS = {1: ("R", "G", "B", "A", "matte"), 2: CHANNELS}


def element_channels(channels: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The element channel names, in :data:`CHANNELS` order, of a file whose header lists
    ``channels``: version 2's, or version 1's where the file has that version's matte."""
    legacy = VERSION_CHANNELS[1]
    return legacy if legacy[-1] in channels and CHANNELS[-1] not in channels else CHANNELS


def element_image(frame: int, pixels: np.ndarray, box: tuple[int, int, int, int],
                  display_window: tuple[int, int, int, int], common: list[Attribute], *,
                  matrix: np.ndarray | None = None, crop_size: int = 0,
                  resolution: int = 0) -> ExrImage:
    """One frame's element, half float, over ``box``: ``pixels`` (h, w, 5) in
    :data:`CHANNELS` order, ``common`` the render's provenance
    (:meth:`vfx_double.shot.Shot.provenance`). With ``matrix`` (the
    plate -> crop matrix at ``crop_size``) the frame has a face; without, it is empty."""
    face = matrix is not None
    attributes = [Attribute(PREFIX + "schema", "string", SCHEMA_TAG), *common,
                  Attribute(PREFIX + "frame", "int", int(frame)),
                  Attribute(PREFIX + "face", "int", int(face))]
    if face:
        attributes += [Attribute(PREFIX + "matrix", "float[6]",
                                 tuple(np.asarray(matrix).ravel().tolist())),
                       Attribute(PREFIX + "cropSize", "int", int(crop_size)),
                       Attribute(PREFIX + "resolution", "int", int(resolution))]
    return ExrImage(pixels=pixels.astype(np.float16), channels=CHANNELS, data_window=tuple(box),
                    display_window=display_window, attributes=attributes, compression="zip")


def model_pixel(matrix: np.ndarray, crop_size: int, resolution: int) -> float:
    """``s``: plate pixels per model pixel, from the element's plate->crop ``matrix``
    (2 x 3 similarity), the crop's size and the model's resolution."""
    (a, b, _), (c, d, _) = np.asarray(matrix, np.float64)
    # The 2x2 determinant written out: np.linalg.det's LU puts 16 at 15.999999999999996,
    # and a face exactly at the model's resolution would read as s > 1.
    scale = math.sqrt(abs(a * d - b * c))
    return (crop_size / resolution) / scale


@dataclass
class Element:
    """One frame's face element over its ``box`` (x, y, w, h) in plate pixels.

    ``rgb`` is premultiplied by ``alpha`` (the rendered crop's coverage); ``matte`` is the
    raw face matte. An element with ``face`` False holds no face: the plate passes through.
    ``model_pixel`` is how many plate pixels one pixel of the model spans
    (:func:`model_pixel`), None when the header does not say (no face).
    """

    frame: int
    box: tuple[int, int, int, int]
    rgb: np.ndarray  # (h, w, 3) float32, ACEScg, premultiplied
    alpha: np.ndarray  # (h, w) float32
    matte: np.ndarray  # (h, w) float32
    face: bool
    model_hash: str
    licence_id: str
    model_pixel: float | None = None

    def colour(self) -> np.ndarray:
        """(h, w, 3) unpremultiplied colour; 0 where the element has no coverage."""
        return unpremultiply(self.rgb, self.alpha)


def unpremultiply(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """(h, w, 3) float32 ``rgb / alpha`` where alpha > 0, else 0 (in float32)."""
    # One float32 division into a fresh array and the uncovered pixels zeroed: the same
    # quotients as a np.where of both branches, in 60% of its time (the comp unpremultiplies
    # the face box twice a frame).
    covered = alpha > 0.0
    out = np.divide(rgb, np.where(covered, alpha, np.float32(1.0))[:, :, None],
                    dtype=np.float32)
    out[~covered] = 0.0
    return out


def read_element(path: Path, frame: int, expect: dict[str, str] | None = None) -> Element:
    """Read and check one element; a NaN or infinite pixel is refused naming the frame.

    The header must say it is this ``frame``'s element, and with ``expect`` (attribute
    name -> value, e.g. ``modelHash`` and ``licenceId`` from the render's options, the
    ``render`` version) it must carry those values: an element copied over another frame,
    made by another model or with an edited licence id is refused, not comped under a
    false provenance header."""
    where = f"{path} (frame {frame})"
    # decoded as stored (half) and widened by OpenCV: NumPy's or OpenImageIO's float16 ->
    # float32 took longer than the decode itself (element read 25 -> 15 ms on the bench)
    image = read_exr(path, frame=frame, dtype=None)
    version = check_schema(image.attribute(PREFIX + "schema"), SCHEMA, where, MediaError)
    names = VERSION_CHANNELS[version] if version in VERSION_CHANNELS else CHANNELS
    wanted = {"frame": frame, **(expect or {})}
    for name, value in wanted.items():
        found = image.attribute(PREFIX + name)
        if name == "render" and found is None:
            continue  # elements written before render recorded its version
        if found != value:
            raise MediaError(f"{where} ({PREFIX}{name})", f"{value!r} (the render's own)",
                             repr(found), "this element is not the render's output for "
                             "this frame: re-render it, never copy or edit elements")
    missing = [c for c in names if c not in image.channels]
    if missing:
        raise MediaError(where, f"element channels {', '.join(names)}",
                         f"missing {', '.join(missing)}", "re-render this frame")
    pixels = as_float32(take_channels(image.pixels, image.channel_indices(list(names))))
    bad = ~np.isfinite(pixels)
    if bad.any():
        y, x = np.argwhere(bad.any(axis=2))[0]
        dx, dy = image.data_window[:2]
        raise MediaError(where, "finite element pixels",
                         f"{int(bad.any(axis=2).sum())} pixels with NaN or inf, first at "
                         f"x={dx + int(x)} y={dy + int(y)}",
                         "re-render this frame (`vfx-double render SHOT.yaml --frames "
                         f"{frame}-{frame}`) or check the checkpoint")
    return Element(frame=frame, box=tuple(image.data_window), rgb=pixels[..., :3],
                   alpha=pixels[..., 3], matte=pixels[..., 4],
                   face=bool(image.attribute(PREFIX + "face", 0)),
                   model_hash=str(image.attribute(PREFIX + "modelHash", "")),
                   licence_id=str(image.attribute(PREFIX + "licenceId", "")),
                   model_pixel=_model_pixel(image, where))


def _model_pixel(image: ExrImage, where: str) -> float | None:
    """Plate pixels per model pixel from the header's plate->crop matrix, crop size and
    model resolution; None when they are not all there."""
    values = [image.attribute(PREFIX + name) for name in ("matrix", "cropSize", "resolution")]
    if any(v is None for v in values):
        return None
    matrix, size, resolution = values
    expected = ("vfx_double/matrix as a plate->crop similarity (6 numbers, scale > 0), "
                "cropSize and resolution as integers > 0")
    try:
        s = model_pixel(np.reshape(np.asarray(matrix, np.float64), (2, 3)), int(size),
                        int(resolution))
    except (TypeError, ValueError, ZeroDivisionError) as err:
        raise MediaError(where, expected, f"{matrix!r}, {size!r}, {resolution!r}",
                         "re-render this frame") from err
    if not math.isfinite(s) or s <= 0:
        raise MediaError(where, expected, f"{matrix!r}, {size!r}, {resolution!r}",
                         "re-render this frame")
    return s
