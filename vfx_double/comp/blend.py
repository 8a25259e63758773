"""One comp frame: matte, colour match, detail, grain and a premultiplied over, in a box.

Everything happens inside the refined matte's bounding box; every pixel outside it, and
every pixel inside it where the matte is 0, keeps the plate's stored value bit for bit
(when the output colourspace is the plate's). Channels other than R, G, B (and A, which
gets ``matte + A * (1 - matte)``) are never touched.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..color import ColourConfig
from ..config import Comp
from ..face.crop import Box, sub_box
from ..face.element import Element, unpremultiply
from ..face.matte import margin, refine_matte
from ..io.exr import ExrImage, as_float32, as_half, take_channels
from . import colour_match, detail, grain


@dataclass(frozen=True)
class CompColour:
    """The OCIO config and the three colourspaces the comp converts between."""

    colour: ColourConfig
    plate: str
    working: str
    output: str


def grow(box: Box, by: int, window: Box) -> Box | None:
    """``box`` grown by ``by`` pixels on every side, clipped to ``window``."""
    x0, y0 = max(box[0] - by, window[0]), max(box[1] - by, window[1])
    x1 = min(box[0] + box[2] + by, window[0] + window[2])
    y1 = min(box[1] + box[3] + by, window[1] + window[3])
    return (x0, y0, x1 - x0, y1 - y0) if x1 > x0 and y1 > y0 else None


def final_matte(element: Element, look: Comp, window: Box) -> tuple[np.ndarray, Box] | None:
    """The matte the comp uses (raw matte eroded and feathered, kept inside the rendered
    crop's coverage, times mix) over its tight bounding box; None when it is empty."""
    region = grow(element.box, margin(look.erode, look.feather), window)
    if region is None or not element.face or look.mix <= 0.0:
        return None
    raw = place(element.matte, element.box, region)
    cover = place(element.alpha, element.box, region)
    matte = refine_matte(raw, look.erode, look.feather) * np.clip(cover, 0.0, 1.0) * look.mix
    inside = matte > 0.0
    # the rows and columns with any matte: two projections, not every pixel's index
    rows, cols = np.flatnonzero(inside.any(axis=1)), np.flatnonzero(inside.any(axis=0))
    if rows.size == 0:
        return None
    tight = (region[0] + int(cols[0]), region[1] + int(rows[0]),
             int(cols[-1] - cols[0]) + 1, int(rows[-1] - rows[0]) + 1)
    ys, xs = sub_box(region, tight)
    return np.ascontiguousarray(matte[ys, xs]), tight


def place(values: np.ndarray, source: Box, box: Box) -> np.ndarray:
    """(h, w, ...) float32 ``values`` that cover ``source``, over ``box``; 0 where
    ``source`` does not reach."""
    out = np.zeros((box[3], box[2]) + values.shape[2:], np.float32)
    inner = grow(source, 0, box)
    if inner is not None:
        ys, xs = sub_box(box, inner)
        es, ex = sub_box(source, inner)
        out[ys, xs] = values[es, ex]
    return out


def element_colour(element: Element, box: Box) -> np.ndarray:
    """(h, w, 3) unpremultiplied element colour over ``box`` (0 outside the element)."""
    out = np.zeros((box[3], box[2], 3), np.float32)
    inner = grow(element.box, 0, box)
    if inner is not None:
        # only the part inside ``box`` is unpremultiplied, straight into place
        ys, xs = sub_box(box, inner)
        es, ex = sub_box(element.box, inner)
        out[ys, xs] = unpremultiply(element.rgb[es, ex], element.alpha[es, ex])
    return out


def comp_frame(plate: ExrImage, element: Element, look: Comp, spaces: CompColour,
               stats: colour_match.FrameStats | None, grain_model: grain.GrainModel | None,
               seed: int, *, in_place: bool = False) -> tuple[np.ndarray, Box | None]:
    """The comped pixels (same shape, dtype and channels as ``plate.pixels``) and the box
    that changed (None: the plate passes through). ``in_place``: write them into
    ``plate.pixels`` (the stage, which has no further use for the plate, saves a copy of
    the whole frame)."""
    rgb_idx = plate.channel_indices(["R", "G", "B"])
    pixels = plate.pixels if in_place else plate.pixels.copy()
    found = final_matte(element, look, plate.data_window)
    if found is not None:
        matte, box = found
        t = detail.frame_spread(look.detail, element.model_pixel,
                                f"face element, frame {element.frame}")
        # Detail's low-pass reads plate and face around the box too, so the box's edge
        # pixels get the same result as its middle.
        work = box if t is None else grow(box, detail.margin(t), plate.data_window)
        wy, wx = sub_box(plate.data_window, work)
        # the box's plate in the working space, before any output conversion of the frame
        stored = take_channels(plate.pixels[wy, wx], rgb_idx)
        plate_lin = spaces.colour.convert(as_float32(stored), spaces.plate, spaces.working)
    if spaces.output != spaces.plate:
        converted = spaces.colour.convert(as_float32(take_channels(pixels, rgb_idx)),
                                          spaces.plate, spaces.output)
        pixels[..., rgb_idx] = _stored(converted, pixels.dtype)
    if found is None:
        return pixels, None
    face = element_colour(element, work)
    if t is not None or grain_model is not None:
        # detail and grain work in ACEScct: the colour match hands its result over in
        # ACEScct, not decoded to linear only to be encoded again
        code = (colour_match.encode(face) if stats is None
                else colour_match.apply_encoded(look.colour_match, face, stats))
    elif stats is not None:
        face = colour_match.apply(look.colour_match, face, stats)
    if t is not None:
        inner = sub_box(work, box)
        cover = place(element.alpha, element.box, work)
        separated = detail.recover(code, colour_match.encode(plate_lin), cover, t)
        face, gate = separated.face[inner], separated.gate[inner]
        if grain_model is not None:
            canvas = grain.synthesise(grain_model, detail.fft_shape(face.shape[:2]), seed)
            noise = canvas[:box[3], :box[2]]
            band = detail.grain_band(canvas, t)[:box[3], :box[2]]
            face += band + (1.0 - gate)[:, :, None] * (noise - band)
        face = colour_match.decode(face)
        plate_lin = plate_lin[inner]
    elif grain_model is not None:
        noise = grain.synthesise(grain_model, face.shape[:2], seed)
        face = colour_match.decode(code + noise)
    ys, xs = sub_box(plate.data_window, box)
    m = matte[:, :, None]
    # face * m + plate * (1 - m), the same float32 operations with one temporary fewer
    out = face * m
    out += plate_lin * (1.0 - m)
    out = _stored(spaces.colour.convert(np.ascontiguousarray(out, np.float32), spaces.working,
                                        spaces.output), pixels.dtype)
    region = pixels[ys, xs]  # a view: writing it writes the frame
    put = matte > 0.0  # where the matte is 0 the plate keeps its stored value
    target = take_channels(region, rgb_idx)
    if np.may_share_memory(target, region):  # a view: written where the matte is above 0
        np.copyto(target, out, where=put[:, :, None])
    else:
        region[..., rgb_idx] = np.where(put[:, :, None], out, target)
    if plate.has_channel("A"):
        a = plate.channel_indices(["A"])[0]
        alpha = as_float32(region[..., a:a + 1])[..., 0]
        np.copyto(region[..., a], _stored(matte + alpha * (1.0 - matte), pixels.dtype),
                  where=put)
    return pixels, box


def _stored(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """float32 ``values`` as the plate stores them (half through OpenCV, as NumPy would
    round, 20x faster)."""
    return as_half(values) if dtype == np.float16 else values.astype(dtype)
