"""Plates checked whole, frame by frame, by whatever reads them (validate, track, render,
comp): single part, one level, no luminance/chroma, every frame the size of the
sequence's first, with R, G and B stored as half or float, and finite RGB pixels. A wrong
frame is refused naming it, before a face lands beside the real one (a 1280x720 frame in
a 1920x1080 shot) or a NaN spreads through a filter. Track decodes only the rows around
the face between detections, and the comp only the face's rows (it copies the others'
compressed bytes); each checks the pixels of every row it decodes. Validate checks every
pixel."""

from __future__ import annotations

import numpy as np

from ..errors import MediaError
from .exr import ExrHeader, ExrImage, read_header, take_channels
from .sequences import FrameSequence

RGB = ("R", "G", "B")


class PlateCheck:
    """One sequence's frames against its first frame read (the display window and the
    RGB channels every stage works on)."""

    def __init__(self, seq: FrameSequence, anchor: int | None = None) -> None:
        """``anchor``: the frame whose size the others must have (the sequence's first, so
        a farm chunk or a rerun compares with the same frame); else the first checked."""
        self.seq, self.anchor = seq, anchor
        self.first: tuple[int, tuple[int, int, int, int]] | None = None

    def where(self, frame: int) -> str:
        return f"{self.seq.path(frame)} (frame {frame})"

    def headers(self, frames: list[int]) -> dict[int, ExrHeader]:
        """Every frame's header read and checked before a stage decodes any of them (a
        read-ahead thread would otherwise meet a plate it cannot decode first)."""
        found = {}
        for frame in frames:
            found[frame] = read_header(self.seq.path(frame))
            self.header(frame, found[frame])
        return found

    def header(self, frame: int, header: ExrHeader) -> None:
        """Layout, size and channels, from the header alone. A plate whose other parts,
        levels or luminance/chroma encoding the comp could not write back is refused here,
        before any stage runs, rather than silently flattened by the comp."""
        refuse = None
        if header.parts > 1:
            refuse = (f"a multi-part file ({header.parts} parts)",
                      "split the parts into their own sequences (oiiotool --subimage 0)")
        elif header.mip_levels > 1:
            refuse = (f"a mip-mapped file ({header.mip_levels} levels)",
                      "write the plate without mip levels (one-level tiles or scanlines)")
        elif header.attribute("openexr:luminancechroma"):
            refuse = ("luminance/chroma channels (Y, RY, BY)",
                      "convert the plate to R, G, B upstream; the comp would write RGB")
        if refuse:
            raise MediaError(self.where(frame), "a single-part, single-level RGB plate",
                             *refuse)
        formats = dict(zip(header.channels, header.channel_formats))
        self._channels(frame, header.channels)
        odd = [f"{c} {formats[c]}" for c in RGB if formats[c] not in ("half", "float")]
        if odd:
            raise MediaError(self.where(frame), "R, G, B as half or float",
                             ", ".join(odd), "convert the plate to half or float RGB upstream")
        self._size(frame, tuple(header.display_window))

    def image(self, frame: int, image: ExrImage) -> None:
        """Size, channels and finite RGB pixels of a decoded frame (or of some of its rows:
        a stage that decodes only some rows checks those)."""
        self._channels(frame, image.channels)
        self._size(frame, tuple(image.display_window))
        self.finite(frame, image.pixels, image.channels, image.data_window)

    def finite(self, frame: int, pixels: np.ndarray, channels: tuple[str, ...],
               data_window: tuple[int, int, int, int]) -> None:
        """Finite R, G and B among ``pixels`` ``(H, W, C)``, which cover ``data_window``."""
        if _exponents_finite(pixels):
            return
        # A view when R, G, B lead (plates do): copying and reducing per pixel cost
        # 12 ms a 1920x1080 frame, one flat reduction 3 ms; the per-pixel map is only
        # made to name the first bad pixel.
        rgb = take_channels(pixels, [channels.index(c) for c in RGB])
        if np.isfinite(rgb).all():
            return
        finite = np.isfinite(rgb).all(axis=-1)
        if not finite.all():
            y, x = np.argwhere(~finite)[0]
            dx, dy = data_window[:2]
            raise MediaError(self.where(frame), "finite pixel values",
                             f"{int((~finite).sum())} pixels with NaN or Inf, first at "
                             f"x={dx + int(x)} y={dy + int(y)}",
                             "fix or re-render that plate frame, or leave it out with --frames")

    def _channels(self, frame: int, channels: tuple[str, ...]) -> None:
        missing = [c for c in RGB if c not in channels]
        if missing:
            raise MediaError(self.where(frame), "R, G and B channels",
                             f"channels {', '.join(channels) or 'none'}",
                             "this tool reads RGB plates: convert luminance/chroma, "
                             "single-channel or stereo-view plates to RGB upstream")

    def _size(self, frame: int, window: tuple[int, int, int, int]) -> None:
        if self.first is None:
            if self.anchor is None or self.anchor == frame:
                self.first = (frame, window)
                return
            self.first = (self.anchor,
                          tuple(read_header(self.seq.path(self.anchor)).display_window))
        if self.first[0] == frame:
            return
        first, expected = self.first
        if window != expected:
            raise MediaError(self.where(frame),
                             f"the size of frame {first}: display window "
                             f"{expected[2]}x{expected[3]} at {expected[0]},{expected[1]}",
                             f"{window[2]}x{window[3]} at {window[0]},{window[1]}",
                             "re-export that frame at the plate's size")


#: the exponent bits of IEEE half and single floats: all set means inf or NaN
_EXPONENT = {np.dtype(np.float16): (np.uint16, 0x7C00), np.dtype(np.float32): (np.uint32, 0x7F800000)}


def _exponents_finite(pixels: np.ndarray) -> bool:
    """True when no value of any channel is inf or NaN, from the bits alone: one pass over
    the frame's integers costs about a seventh of ``np.isfinite`` on half floats (2.8 vs
    19 ms at 2048x1152x4). False means "look closer", not "refuse": the non-finite value
    may sit in a channel the check does not cover (an ID or depth channel)."""
    bits = _EXPONENT.get(pixels.dtype)
    if bits is None or not pixels.flags.c_contiguous:
        return False
    uint, mask = bits
    return bool(np.bitwise_and(pixels.view(uint), uint(mask)).max(initial=0) != mask)


def written_back(header: ExrHeader, chosen: str | None = None) -> tuple[str, str]:
    """(compression, why) for a frame written back from this plate (the comp): ``chosen``
    (comp.compression) when set; else the plate's own, unless that is lossy: re-encoding
    every untouched pixel with DWA or B44 would change nearly all of them, so the comp
    writes zip (lossless) and keeps them bit-identical."""
    if chosen:
        return chosen, "comp.compression"
    if header.lossy:
        return "zip", f"the plate's {header.compression} is lossy; zip keeps untouched pixels"
    return header.compression, "the plate's own"
