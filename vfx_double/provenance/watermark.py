"""An invisible, robust watermark in the review movies' frames: the licence id's hash and
the review version (8 bytes), readable back after H.264, a resize and a cut excerpt.

Design (spread spectrum in luma, one fixed pattern per payload):

* The payload is Reed-Solomon coded (8 data + 8 parity bytes = 128 coded bits; up to 4
  wrong bytes are corrected, more when the soft scores say which bytes to erase). RS
  rather than a repetition code because a successful decode is itself a strong check
  (random votes decode about once in 1,000), and because after voting across frames the
  few bits left wrong are what it is good at. Each coded bit is spread over 288 cells of a 256x144
  grid that covers the whole frame, whatever its size or aspect. A cell carries
  ``sign * (+1 for a 0 bit, -1 for a 1 bit)``; the cell-to-bit map and the signs come from
  a fixed seed, so the mark is deterministic and needs no key to read (it is a provenance
  label, not a secret; see the closing notes of issue 14).
* The embedder upsamples that grid once to the frame size (bicubic: smooth bumps about
  7.5 px wide at 1920x1080, mid-frequency, which H.264 at crf 18-23 keeps) and adds it
  to R, G and B alike: a change of luma only, no chroma (yuv420p halves chroma), at an
  RMS of :data:`STRENGTH`. Per frame that is one add and one clip (about 11 ms at
  1920x1080 on one core).
* Every frame carries the whole payload, independent of its index, so any excerpt reads.
* The reader scales each frame to :data:`REFERENCE_SIZE` (area filter), averages each
  2x2 cell, subtracts the mean of its 8 neighbours (the picture is smooth at that scale,
  the mark is not) and correlates with each bit's cells, weighting cells by the inverse
  of the local residual energy (flat areas are reliable, edges are not). Each frame gives
  a z-score per coded bit; frames vote by summing those soft scores; the signs are then
  Reed-Solomon decoded. A payload is reported only when the decode succeeds and the
  decoded codeword's correlation over all bits is far above chance (:data:`MIN_SCORE`),
  so an unmarked movie reads as ``None``.

Frames are display-referred RGB; luma here is BT.709 (Y' = 0.2126 R' + 0.7152 G' +
0.0722 B'), whose weights sum to one, so an equal change to R', G' and B' is that change
of Y' with Cb and Cr untouched.
"""

from __future__ import annotations

import functools
import hashlib
import math
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import cv2
import numpy as np
from reedsolo import ReedSolomonError, RSCodec  # type: ignore[import-untyped]

from ..errors import ConfigError, MediaError

PAYLOAD_BYTES = 8
#: Reed-Solomon parity bytes: corrects up to PARITY_BYTES // 2 wrong bytes
PARITY_BYTES = 8
CODED_BITS = 8 * (PAYLOAD_BYTES + PARITY_BYTES)
#: every frame is scaled to this (width, height) before reading; cells are 2x2 of it
REFERENCE_SIZE = (512, 288)
_CELL = 2
_GRID = (REFERENCE_SIZE[0] // _CELL, REFERENCE_SIZE[1] // _CELL)
#: RMS of the luma change in display-referred 0..1: 1.2 code values of 8 bits, PSNR about
#: 46-47 dB; a single 1920x1080 frame still reads after H.264 crf 23 or a 720p resize
STRENGTH = 1.2 / 255
#: the decoded codeword must correlate with the soft bits at this many standard
#: deviations (summed over all coded bits): a codeword RS finds in random votes scores at
#: most 7.2 in 20,000 trials (it agrees with the votes by construction), one frame of a
#: mark after H.264 crf 23 about 90
MIN_SCORE = 10.0
#: at most this many of the 16 coded bytes are erased on the soft scores' doubt (see _decode)
_MAX_ERASURES = 4
_SEED = int.from_bytes(hashlib.sha256(b"vfx_double review watermark 1").digest()[:8], "big")
_LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)


def payload_for(licence_id: str, version: int) -> bytes:
    """sha256 of the licence id (UTF-8), first 6 bytes, then the version as 2 bytes."""
    if not isinstance(version, int) or not 0 <= version < 1 << 16:
        raise ConfigError("watermark version", "an integer 0..65535", repr(version))
    return hashlib.sha256(licence_id.encode("utf-8")).digest()[:6] + version.to_bytes(2, "big")


def describe(payload: bytes) -> dict:
    """``{"payload": hex16, "licence_hash": hex12, "version": int}`` for a report."""
    _check_payload(payload)
    return {"payload": payload.hex(), "licence_hash": payload[:6].hex(),
            "version": int.from_bytes(payload[6:], "big")}


def _check_payload(payload: bytes) -> None:
    if not isinstance(payload, bytes | bytearray) or len(payload) != PAYLOAD_BYTES:
        raise ConfigError("watermark payload", f"{PAYLOAD_BYTES} bytes (payload_for)",
                          repr(payload)[:60])


@functools.lru_cache(maxsize=1)
def _layout() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The fixed cell layout, (rows, cols) of the grid: each cell's sign (+-1 float32) and
    coded bit (int), and how many cells each bit has. Every bit gets the same number of
    cells, scattered over the frame so a local loss (a flat sky, a clipped black bar)
    costs every bit a little rather than some bits everything."""
    rng = np.random.Generator(np.random.PCG64(_SEED))
    cols, rows = _GRID
    cells = rows * cols
    bit = (np.arange(cells) % CODED_BITS)[rng.permutation(cells)].reshape(rows, cols)
    sign = rng.choice(np.array([-1.0, 1.0], np.float32), size=(rows, cols))
    return sign, bit, np.bincount(bit.ravel(), minlength=CODED_BITS)


def _codeword(payload: bytes) -> np.ndarray:
    """(CODED_BITS,) uint8: the payload and its Reed-Solomon parity, MSB first."""
    coded = bytes(RSCodec(PARITY_BYTES).encode(bytes(payload)))
    return np.unpackbits(np.frombuffer(coded, np.uint8))


def _pattern(payload: bytes, size: tuple[int, int]) -> np.ndarray:
    """(h, w) float32 luma change for frames of ``size`` = (w, h), RMS :data:`STRENGTH`."""
    sign, bit, _ = _layout()
    cells = sign * (1.0 - 2.0 * _codeword(payload)[bit].astype(np.float32))
    up = cv2.resize(cells, size, interpolation=cv2.INTER_CUBIC)
    return (up * (STRENGTH / float(np.sqrt(np.mean(up * up))))).astype(np.float32)


class Embedder:
    """Adds the watermark of ``payload`` to frames of ``size`` = (width, height).

    The pattern is computed once here; :meth:`embed` is one add and one clip per frame.
    """

    def __init__(self, payload: bytes, size: tuple[int, int]) -> None:
        _check_payload(payload)
        w, h = size
        if not (isinstance(w, int) and isinstance(h, int) and w >= _GRID[0] and h >= _GRID[1]):
            raise ConfigError("watermark frame size", f"width >= {_GRID[0]} and height >= "
                              f"{_GRID[1]} (the watermark's cell grid)", f"{size!r}")
        self.payload = bytes(payload)
        self.size = (w, h)
        # the same change on R, G and B, stored per channel (25 MB at 1920x1080) so that
        # embed is one SIMD add: numpy's broadcast add and np.clip take ~45-85 ms a frame
        self._delta = np.repeat(_pattern(self.payload, self.size)[..., None], 3, axis=2)

    def embed(self, frame: np.ndarray) -> np.ndarray:
        """(h, w, 3) float32 display-referred 0..1 -> the same, marked and clipped to 0..1."""
        w, h = self.size
        if frame.shape != (h, w, 3) or frame.dtype != np.float32:
            raise MediaError("watermark embed", f"a {w}x{h} RGB float32 frame",
                             f"{frame.dtype} {frame.shape}")
        out = cv2.add(frame, self._delta)
        cv2.threshold(out, 1.0, 1.0, cv2.THRESH_TRUNC, dst=out)
        cv2.threshold(out, 0.0, 0.0, cv2.THRESH_TOZERO, dst=out)
        return out


@dataclass(frozen=True)
class Reading:
    """What :func:`read_frames` found. ``confidence`` is 2 * (share of coded bits whose
    vote agreed with the decoded codeword) - 1: 1.0 when nothing needed correcting, 0.0
    when nothing decoded. ``raw_bit_accuracy`` is the share of coded bits whose vote (over
    all frames, before error correction) matches ``expected``'s codeword."""

    payload: bytes | None
    frames: int
    confidence: float
    raw_bit_accuracy: float | None


def _luma(frame: np.ndarray) -> np.ndarray:
    """(h, w) float32 Y' of an (h, w, 3) RGB frame, uint8 or float 0..1, scaled to
    REFERENCE_SIZE (the area filter averages away what a resize or the codec changed)."""
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.shape[0] < 2 or frame.shape[1] < 2:
        raise MediaError("watermark read", "(h, w, 3) RGB frames", f"shape {frame.shape}")
    if frame.shape[1::-1] != REFERENCE_SIZE:
        frame = cv2.resize(frame, REFERENCE_SIZE, interpolation=cv2.INTER_AREA)
    scale = 1.0 / 255.0 if frame.dtype == np.uint8 else 1.0
    return (frame.astype(np.float32, copy=False) @ (_LUMA * scale)).astype(np.float32)


def frame_scores(frame: np.ndarray) -> np.ndarray:
    """(CODED_BITS,) float64 z-scores of one frame: positive means bit 0. Each is ~N(0, 1)
    on an unmarked frame (self-normalised by that bit's own residuals)."""
    sign, bit, _ = _layout()
    y = _luma(frame)
    rows, cols = _GRID[1], _GRID[0]
    g = y.reshape(rows, _CELL, cols, _CELL).mean(axis=(1, 3))
    # residual against the mean of the 8 neighbours: the picture is smooth at the cell
    # scale, the mark is white noise
    box = cv2.boxFilter(g, -1, (3, 3), normalize=False, borderType=cv2.BORDER_REFLECT)
    r = g - (box - g) / 8.0
    # weight by inverse local residual energy: edges and texture carry more picture than mark
    energy = cv2.blur(r * r, (5, 5), borderType=cv2.BORDER_REFLECT) + (0.25 / 255) ** 2
    wr = (r / energy).ravel()
    flat = bit.ravel()
    num = np.bincount(flat, weights=wr * sign.ravel(), minlength=CODED_BITS)
    den = np.sqrt(np.bincount(flat, weights=wr * wr, minlength=CODED_BITS)) + 1e-30
    return num / den


def read_frames(frames: Iterable[np.ndarray], *, expected: bytes | None = None) -> Reading:
    """Vote over ``frames`` ((h, w, 3) RGB, uint8 or float 0..1, any size) and decode."""
    if expected is not None:
        _check_payload(expected)
    total = np.zeros(CODED_BITS)
    count = 0
    for frame in frames:
        total += frame_scores(np.asarray(frame))
        count += 1
    if count == 0:
        return Reading(None, 0, 0.0, None)
    votes = (total < 0).astype(np.uint8)  # soft decisions summed, then one sign per bit
    accuracy = None
    if expected is not None:
        accuracy = float(np.mean(votes == _codeword(expected)))
    payload = _decode(votes, total / math.sqrt(count))
    if payload is None:
        return Reading(None, count, 0.0, accuracy)
    agree = float(np.mean(votes == _codeword(payload)))
    return Reading(payload, count, max(0.0, 2.0 * agree - 1.0), accuracy)


def _decode(votes: np.ndarray, z: np.ndarray) -> bytes | None:
    """The payload whose codeword the votes decode to, when its correlation with the soft
    z-scores is far beyond chance; else None.

    Bit errors from noise are scattered, so a few of them spoil more bytes than RS can
    correct (4). The soft scores say which bytes are doubtful: failing a plain decode, the
    least reliable bytes are declared erasures (an erasure costs RS half what an unknown
    error does), up to :data:`_MAX_ERASURES` of the 16 bytes. On single noisy frames that
    reads a few more (60 -> 65 % at 4 % raw bit errors); voting over frames does far more.
    Every candidate still has to pass the correlation test."""
    coded = bytes(np.packbits(votes))
    doubt = np.argsort(np.abs(z).reshape(-1, 8).min(axis=1), kind="stable")
    codec = RSCodec(PARITY_BYTES)
    for erasures in range(0, _MAX_ERASURES + 1, 2):
        try:
            decoded = codec.decode(coded, erase_pos=[int(i) for i in doubt[:erasures]] or None)
        except ReedSolomonError:
            continue
        payload = bytes(decoded[0])
        polar = 1.0 - 2.0 * _codeword(payload).astype(np.float64)
        if float(polar @ z) / math.sqrt(CODED_BITS) >= MIN_SCORE:
            return payload
    return None


def read_movie(path: Path, *, max_frames: int = 300, expected: bytes | None = None) -> Reading:
    """Decode up to ``max_frames`` frames of a movie with ffmpeg (scaled to REFERENCE_SIZE
    by ffmpeg's area filter, piped as rgb24) and :func:`read_frames` them."""
    from ..io.movie import _ffmpeg_exe

    path = Path(path)
    if not path.is_file():
        raise MediaError(str(path), "a movie file", "no such file")
    if max_frames < 1:
        raise ConfigError("watermark read max_frames", "an integer >= 1", repr(max_frames))
    w, h = REFERENCE_SIZE
    cmd = [_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(path),
           "-map", "0:v:0", "-frames:v", str(max_frames), "-vf", f"scale={w}:{h}:flags=area",
           "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    # stderr to a file: a pipe nobody reads while frames stream can fill and deadlock
    with tempfile.TemporaryFile() as log:
        try:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log)
        except OSError as err:
            raise MediaError(str(path), "a runnable ffmpeg", str(err),
                             "reinstall imageio-ffmpeg or set IMAGEIO_FFMPEG_EXE") from err
        assert proc.stdout is not None
        with proc.stdout:
            reading = read_frames(_raw_frames(proc.stdout, w, h), expected=expected)
        rc = proc.wait()
        log.seek(0)
        lines = log.read().decode("utf-8", "replace").strip().splitlines()
    if rc != 0:
        raise MediaError(str(path), "a movie ffmpeg can decode",
                         f"ffmpeg exit status {rc}: {lines[-1] if lines else 'no message'}")
    if reading.frames == 0:
        raise MediaError(str(path), "at least one video frame", "none decoded")
    return reading


def _raw_frames(stream: IO[bytes], w: int, h: int) -> Iterator[np.ndarray]:
    """(h, w, 3) uint8 frames from an rgb24 stream, one at a time (a 300-frame read holds
    one frame, not the movie)."""
    size = w * h * 3
    while len(data := stream.read(size)) == size:
        yield np.frombuffer(data, np.uint8).reshape(h, w, 3)
