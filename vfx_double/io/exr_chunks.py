"""A frame written back from its plate with only the changed rows encoded again.

An OpenEXR scanline file is a header, a table of chunk offsets and the chunks: each chunk
holds a fixed number of whole rows (16 for zip, 32 for piz, 1 for zips), compressed on
their own (the OpenEXR file layout, "Scan Line Based Images"). A comp changes only the rows
of the face's box. :func:`splice` writes the output from a small file holding just those
rows, written by OpenImageIO with the output's header (its compression, attributes and
channels), and the plate's own compressed chunks, copied byte for byte, for every other
row: those pixels are the plate's stored values exactly, as the comp promises, and are
neither decoded nor compressed again. That is most of a frame's cost (encoding a 2K half
RGBA frame as zip takes more CPU than the whole comp of the face).

Only a file laid out the way this module reads it is spliced: single part, scanlines in
increasing y, a compression whose rows per chunk are known, and the band's channels,
compression and width the plate's. :func:`layout` says why any other is not
(:class:`NotSpliceable`); the caller then writes the frame whole, as before.
"""

from __future__ import annotations

import contextlib
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Sequence

from .atomic import temp_path_for
from .exr import (
    ExrImage,
    _exists_error,
    _spec,
    atomic_frame,
    check_compression,
    read_exr,
    write_exr,
    write_spec,
)

MAGIC = 20000630
#: version-field flags: tiled, long names, deep data, multi-part
_TILED, _DEEP, _MULTIPART = 0x200, 0x800, 0x1000
#: rows per chunk by compression id (OpenEXR: NONE, RLE, ZIPS, ZIP, PIZ, PXR24, B44, B44A,
#: DWAA, DWAB)
LINES_PER_CHUNK = {0: 1, 1: 1, 2: 1, 3: 16, 4: 32, 5: 16, 6: 32, 7: 32, 8: 32, 9: 256}
#: the same by the names OpenImageIO gives them
LINES_BY_NAME = dict(zip(("none", "rle", "zips", "zip", "piz", "pxr24", "b44", "b44a", "dwaa",
                          "dwab"), LINES_PER_CHUNK.values()))


def lines_per_chunk(compression: str) -> int | None:
    """Rows per scanline chunk of a compression named as OpenImageIO names it
    (``zip``, ``dwaa:45``); None when not known."""
    return LINES_BY_NAME.get(compression.partition(":")[0])


class NotSpliceable(Exception):
    """This file, or this pair of files, cannot be spliced; the reason is the message."""


@dataclass(frozen=True)
class Layout:
    """What splicing needs from one scanline file's header and chunk table."""

    path: Path
    version: int
    #: the header's bytes after the magic and version field, up to its closing null
    attributes: list[tuple[str, str, bytes]]
    channels: bytes
    compression: int
    #: xmin, ymin, xmax, ymax (inclusive, as stored)
    data_window: tuple[int, int, int, int]
    #: per chunk: its offset in the file and its whole length (y, size and data)
    chunks: list[tuple[int, int]]

    @property
    def lines(self) -> int:
        return LINES_PER_CHUNK[self.compression]

    @property
    def first_row(self) -> int:
        return self.data_window[1]

    def chunk_rows(self, index: int) -> tuple[int, int]:
        """Rows ``y0 <= y < y1`` of chunk ``index``."""
        top = self.first_row + index * self.lines
        return top, min(top + self.lines, self.data_window[3] + 1)


class _Short(Exception):
    """The header runs past the bytes read so far."""


def _cstring(data: bytes, at: int, limit: int) -> tuple[str, int]:
    end = data.find(b"\0", at, at + limit + 1)
    if end < 0:
        if at + limit + 1 > len(data):
            raise _Short
        raise NotSpliceable("a header name longer than OpenEXR allows")
    return data[at:end].decode("latin-1"), end + 1


def _attributes(head: bytes, limit: int) -> tuple[list[tuple[str, str, bytes]], int]:
    """The header's attributes (name, type, value) and where the header ends."""
    at, attributes = 8, []
    while True:
        name, at = _cstring(head, at, limit)
        if not name:
            return attributes, at
        kind, at = _cstring(head, at, limit)
        if at + 4 > len(head):
            raise _Short
        (length,) = struct.unpack_from("<i", head, at)
        at += 4
        if length < 0:
            raise NotSpliceable(f"attribute {name} has a negative size")
        if at + length > len(head):
            raise _Short
        attributes.append((name, kind, head[at:at + length]))
        at += length


def layout(path: str | os.PathLike[str]) -> Layout:
    """The header and chunk table of the scanline EXR at ``path``; every chunk's place is
    checked against the file's size and its stored row, so a damaged table is found here
    rather than copied."""
    path = Path(path)
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        head = f.read(1 << 16)  # a header is a few KiB; more is read only when it is not
        magic, version = struct.unpack_from("<ii", head, 0) if len(head) >= 8 else (0, 0)
        if magic != MAGIC:
            raise NotSpliceable("not an OpenEXR file")
        if version & (_TILED | _DEEP | _MULTIPART) or version & 0xFF != 2:
            raise NotSpliceable("tiled, deep, multi-part or a version other than 2")
        limit = 255 if version & 0x400 else 31
        try:
            attributes, at = _attributes(head, limit)
        except _Short:
            head += f.read((1 << 20) - len(head))
            try:
                attributes, at = _attributes(head, limit)
            except _Short:
                raise NotSpliceable("a header cut short or longer than 1 MiB") from None
        found = {name: value for name, _, value in attributes}
        for name in ("channels", "compression", "dataWindow", "lineOrder"):
            if name not in found:
                raise NotSpliceable(f"no {name} attribute")
        if found["lineOrder"] != b"\0":
            raise NotSpliceable("scanlines not stored in increasing y")
        compression = found["compression"][0]
        if compression not in LINES_PER_CHUNK:
            raise NotSpliceable(f"compression {compression}, whose rows per chunk are unknown")
        window = struct.unpack("<4i", found["dataWindow"])
        height = window[3] - window[1] + 1
        count = -(-height // LINES_PER_CHUNK[compression])
        f.seek(at)
        table = f.read(8 * count)
        if len(table) != 8 * count:
            raise NotSpliceable("the chunk table is cut short")
        offsets = struct.unpack(f"<{count}Q", table)
        lay = Layout(path, version, attributes, found["channels"], compression, window, [])
        first_data = at + 8 * count
        for index, offset in enumerate(offsets):
            f.seek(offset)
            pair = f.read(8)
            if offset < first_data or len(pair) != 8:
                raise NotSpliceable(f"chunk {index} lies outside the file")
            y, length = struct.unpack("<ii", pair)
            if y != lay.chunk_rows(index)[0] or length <= 0 or offset + 8 + length > size:
                raise NotSpliceable(f"chunk {index} is not the rows its place says")
            lay.chunks.append((offset, 8 + length))
    return lay


def splice(plate: str | os.PathLike[str], band: str | os.PathLike[str],
           out: str | os.PathLike[str]) -> None:
    """Write ``out``: ``band``'s header with the plate's data window, ``band``'s chunks for
    the rows it holds and the plate's for every other row. ``out`` is written in place
    (the caller makes it atomic). Raises :class:`NotSpliceable` before writing anything
    when the two do not fit together."""
    whole, part = layout(plate), layout(band)
    if part.channels != whole.channels:
        raise NotSpliceable("the band's channels or their types differ from the plate's")
    if part.compression != whole.compression:
        raise NotSpliceable("the band's compression differs from the plate's")
    bx0, by0, bx1, by1 = part.data_window
    px0, py0, px1, py1 = whole.data_window
    if (bx0, bx1) != (px0, px1) or by0 < py0 or by1 > py1:
        raise NotSpliceable("the band is not whole rows of the plate")
    if (by0 - py0) % whole.lines or (by1 + 1 != py1 + 1 and (by1 + 1 - py0) % whole.lines):
        raise NotSpliceable("the band does not start and end on the plate's chunks")
    first = (by0 - py0) // whole.lines
    header = bytearray(struct.pack("<ii", MAGIC, part.version))
    for name, kind, value in part.attributes:
        if name == "dataWindow":
            value = struct.pack("<4i", *whole.data_window)
        elif name == "chunkCount":  # written by some writers for single-part files too
            value = struct.pack("<i", len(whole.chunks))
        header += name.encode("latin-1") + b"\0" + kind.encode("latin-1") + b"\0"
        header += struct.pack("<i", len(value)) + value
    header += b"\0"
    sources = [(part, i - first) if first <= i < first + len(part.chunks) else (whole, i)
               for i in range(len(whole.chunks))]
    offsets, at = [], len(header) + 8 * len(sources)
    for lay, i in sources:
        offsets.append(at)
        at += lay.chunks[i][1]
    with open(whole.path, "rb") as fp, open(part.path, "rb") as fb, open(out, "wb") as fo:
        fo.write(header)
        fo.write(struct.pack(f"<{len(offsets)}Q", *offsets))
        fo.flush()
        for lay, i in sources:
            _copy(fb if lay is part else fp, fo, *lay.chunks[i])


def _copy(src: BinaryIO, dst: BinaryIO, offset: int, length: int) -> None:
    """``length`` bytes of ``src`` from ``offset`` appended to ``dst``, inside the kernel
    (``sendfile``: no buffer in this process for a frame's worth of chunks); read and
    written where the system cannot."""
    done = 0
    try:
        while done < length:
            sent = os.sendfile(dst.fileno(), src.fileno(), offset + done, length - done)
            if sent == 0:
                raise OSError("sendfile sent nothing")
            done += sent
    except OSError:
        dst.seek(0, os.SEEK_END)
        dst.write(os.pread(src.fileno(), length - done, offset + done))


def write_band(path: str | os.PathLike[str], image: ExrImage, plate: str | os.PathLike[str],
               *, compression: str, pixel_type: Sequence[str] | None = None,
               overwrite: bool = False) -> bool:
    """Write the frame at ``path`` (atomically, as :func:`.exr.write_exr` does) from
    ``image``, whole rows of the frame at ``plate`` (its data window says which), and
    the plate's chunks for every other row. True when spliced; False when the files do
    not fit together (e.g. the band's rows do not start on a chunk), in which case the
    plate is decoded whole, the band pasted in and the frame written whole.

    The band goes to a temporary file beside ``path`` (not synced: it is read back at
    once, and a crash leaves it as a temp file that later runs sweep up)."""
    path = Path(path)
    where = str(path)
    if not overwrite and path.exists():  # refused before the band is written
        raise _exists_error(path)
    scratch = temp_path_for(path.with_name(path.name + ".band"))
    try:
        write_spec(scratch, _spec(image, check_compression(compression, where), pixel_type,
                                   where), image.pixels, where)
        with atomic_frame(path, overwrite=overwrite) as tmp:
            splice(plate, scratch, tmp)
        return True
    except NotSpliceable:
        pass
    finally:
        with contextlib.suppress(FileNotFoundError):
            scratch.unlink()
    whole = read_exr(plate, list(image.channels), dtype=None)
    top = image.data_window[1] - whole.data_window[1]
    pixels = whole.pixels.astype(image.pixels.dtype, copy=False)
    pixels[top:top + image.pixels.shape[0]] = image.pixels
    write_exr(path, image.replace(pixels=pixels, data_window=whole.data_window),
              compression=compression, pixel_type=pixel_type, overwrite=overwrite)
    return False

