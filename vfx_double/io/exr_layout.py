"""A scanline OpenEXR file's chunks checked against its size before anything decodes it.

OpenEXR's C library prints its own line on stderr when it meets a truncated chunk, above
the one-line error this tool gives (and on a rerun that only checks whether an earlier
frame decodes). A truncated file is the common damage (a copy cut short, a full disk), and
it shows in the layout: the chunk offset table or the last chunk points past the end of
the file. Reading the header and the table here (a few kilobytes) finds it first. Tiled,
multi-part and deep files are left to the library.
"""

from __future__ import annotations

import math
import struct
from pathlib import Path

#: scanlines per chunk by compression (OpenEXR's table)
_LINES = {0: 1, 1: 1, 2: 1, 3: 16, 4: 32, 5: 16, 6: 32, 7: 32, 8: 32, 9: 256}
_MAGIC = 20000630
_MAX_HEADER = 1 << 20


def truncation(path: Path) -> str | None:
    """Why ``path`` is cut short (its layout points past its end), or None when its layout
    fits the file or is not one this checks."""
    try:
        with open(path, "rb") as f:
            size = f.seek(0, 2)
            f.seek(0)
            head = f.read(min(size, _MAX_HEADER))
            try:
                parsed = _header(head)
            except (ValueError, struct.error):
                if size < _MAX_HEADER:
                    return f"{size} bytes, cut short inside its header"
                return None
            if parsed is None:
                return None
            end, compression, (y0, y1) = parsed
            chunks = math.ceil((y1 - y0 + 1) / _LINES[compression])
            table_end = end + 8 * chunks
            if table_end > size:
                return f"{size} bytes, shorter than its chunk offset table ({table_end} bytes)"
            f.seek(end)
            offsets = struct.unpack(f"<{chunks}Q", f.read(8 * chunks))
            last = max(offsets)
            if last + 8 > size or min(offsets) < table_end:
                return f"{size} bytes, with a chunk offset at {last} past its end"
            f.seek(last)
            _, length = struct.unpack("<ii", f.read(8))
            if length < 0 or last + 8 + length > size:
                return f"{size} bytes, its last chunk ending at byte {last + 8 + length}"
    except (OSError, struct.error, KeyError, ValueError):
        return None
    return None


def _header(data: bytes) -> tuple[int, int, tuple[int, int]] | None:
    """(offset of the chunk table, compression, (data window y min, y max)) of a single-part
    scanline file; None for anything else."""
    if len(data) < 8:
        return None
    magic, version = struct.unpack("<ii", data[:8])
    # bit 9: tiled, 11: deep ("non-image"), 12: multi-part (bit 10, long names, is fine)
    if magic != _MAGIC or version & (0x200 | 0x800 | 0x1000):
        return None
    return _attributes(data, 8)


def _attributes(data: bytes, pos: int) -> tuple[int, int, tuple[int, int]] | None:
    compression = window = None
    while True:
        name_end = data.index(b"\0", pos)
        name = data[pos:name_end]
        if not name:
            break
        type_end = data.index(b"\0", name_end + 1)
        (length,) = struct.unpack("<i", data[type_end + 1:type_end + 5])
        value = data[type_end + 5:type_end + 5 + length]
        if name == b"compression":
            compression = value[0]
        elif name == b"dataWindow":
            _, ymin, _, ymax = struct.unpack("<iiii", value)
            window = (ymin, ymax)
        pos = type_end + 5 + length
    if compression is None or window is None or compression not in _LINES:
        return None
    return pos + 1, compression, window
