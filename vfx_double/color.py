"""OpenColorIO processors between named colourspaces of the shot's config.

Conversions go through PyOpenColorIO, not OpenImageIO: the OpenImageIO 3.0.x that pip
resolves beside mediapipe (numpy<2) bundles an OCIO that does not know the v4.0.0
built-in configs, PyOpenColorIO 2.6 does (see DESIGN.md, Colour).

Pixels are ``(H, W, 3)``, ``(H, W, 4)``, ``(N, 3)`` or ``(N, 4)`` floating-point arrays;
results are always float32 and alpha (channel 4) comes back bit-identical to the input.
"""

from __future__ import annotations

import difflib
import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import numpy as np
import PyOpenColorIO as ocio

from .errors import ColourError

DEFAULT_CONFIG = "ocio://studio-config-v2.2.0_aces-v1.3_ocio-v2.4"
DEFAULT_DISPLAY = "sRGB - Display"
DEFAULT_VIEW = "ACES 1.0 - SDR Video"

_FLAGS = ocio.OptimizationFlags
#: What ``Processor.getDefaultCPUProcessor()`` uses (its cache id says ``oFlags 263995331``);
#: it includes OPTIMIZATION_FAST_LOG_EXP_POW, a polynomial pow/log/exp (measured: 1.3e-6 on a
#: LogC3 round trip, 5e-6 relative on ACEScg). ``$OCIO_OPTIMIZATION_FLAGS`` overrides both.
FAST_FLAGS = _FLAGS.OPTIMIZATION_DEFAULT
#: OCIO's named lossless level: DEFAULT without FAST_LOG_EXP_POW and LUT_INV_FAST (and the
#: integer-only COMP_SEPARABLE_PREFIX / COMP_LUT1D), so round trips hold to float precision.
PRECISE_FLAGS = _FLAGS.OPTIMIZATION_LOSSLESS

_CONFIGS: dict[str, "ColourConfig"] = {}
_CONFIGS_LOCK = threading.Lock()
_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def resolve_config_uri(configured: str | None, base_dir: Path | None = None) -> str:
    """The shot's config if given, else ``$OCIO``, else :data:`DEFAULT_CONFIG`.

    Args:
        configured: an ``ocio://`` URI (kept as is) or a config file path.
        base_dir: folder a relative ``configured`` path is relative to (the shot file's).
    """
    if configured:
        if configured.startswith("ocio://"):
            return configured
        path = Path(configured).expanduser()
        if not path.is_absolute() and base_dir is not None:
            path = Path(base_dir) / path
        return str(path)
    return os.environ.get("OCIO") or DEFAULT_CONFIG


def _builtin_names() -> list[str]:
    return [f"ocio://{name}" for name in ocio.BuiltinConfigRegistry()]


def _key(text: str) -> str:
    """Lower-case letters and digits only, so 'arri logc3' meets 'ARRI LogC3 (EI800)'."""
    return re.sub(r"[^0-9a-z]", "", text.lower())


def nearest(query: str, candidates: dict[str, str], count: int = 3) -> list[str]:
    """The ``count`` canonical names whose spelling (or an alias of it) is closest to ``query``.

    Args:
        candidates: every accepted spelling -> the canonical name it stands for.
    """
    wanted = _key(query)
    best: dict[str, tuple[bool, float]] = {}
    for spelling, canonical in candidates.items():
        key = _key(spelling)
        # A name that contains the query ("LogC3" in "ARRI LogC3 (EI800)") beats any
        # near-miss spelling, which difflib's ratio alone would rank low on long names.
        score = (bool(wanted) and wanted in key,
                 difflib.SequenceMatcher(None, wanted, key).ratio())
        best[canonical] = max(best.get(canonical, score), score)
    ranked = sorted(best, key=lambda name: best[name], reverse=True)
    return ranked[:count]


def _quoted(names: list[str]) -> str:
    return ", ".join(repr(n) for n in names)


class ColourConfig:
    """One loaded OCIO config and its cached CPU processors; build with :meth:`load`."""

    def __init__(self, uri: str, config: ocio.Config) -> None:
        self.uri = uri
        self.config = config
        self._processors: dict[tuple[tuple[str, ...], bool], ocio.CPUProcessor] = {}
        self._lock = threading.Lock()
        self._spellings: dict[str, str] | None = None

    @classmethod
    def load(cls, uri_or_path: str) -> "ColourConfig":
        """The config at an ``ocio://`` URI or file path, loaded once per process."""
        uri = str(uri_or_path)
        if uri.startswith("ocio://"):
            # "ocio://default" and "...-latest" move with the OCIO release; pin the name.
            uri = ocio.ResolveConfigPath(uri)
        else:
            uri = str(Path(uri).expanduser().absolute())
        with _CONFIGS_LOCK:
            if uri not in _CONFIGS:
                _CONFIGS[uri] = cls(uri, _read_config(uri))
            return _CONFIGS[uri]

    def colourspace_names(self) -> list[str]:
        """Every colourspace, inactive ones included (OCIO still converts them by name)."""
        return list(self.config.getColorSpaceNames(ocio.SEARCH_REFERENCE_SPACE_ALL,
                                                   ocio.COLORSPACE_ALL))

    def _all_spellings(self) -> dict[str, str]:
        if self._spellings is None:
            spellings: dict[str, str] = {}
            for space in self.config.getColorSpaces(ocio.SEARCH_REFERENCE_SPACE_ALL,
                                                    ocio.COLORSPACE_ALL):
                spellings[space.getName()] = space.getName()
                for alias in space.getAliases():
                    spellings[alias] = space.getName()
            for role, name in self.config.getRoles():
                spellings[role] = name
            self._spellings = spellings
        return self._spellings

    def resolve(self, name: str, where: str = "") -> str:
        """The canonical name of a colourspace given by name, alias or role (any case).

        Raises:
            ColourError: unknown name; the hint lists the three nearest colourspaces.
        """
        space = self.config.getColorSpace(name) if isinstance(name, str) and name else None
        if space is None:
            raise ColourError(where or "colourspace", expected=f"a colourspace of {self.uri}",
                              found=repr(name),
                              hint=f"nearest: {_quoted(nearest(str(name), self._all_spellings()))}")
        return space.getName()

    def processor(self, src: str, dst: str, *, precise: bool = False,
                  where: str = "") -> ocio.CPUProcessor:
        """The cached float32 CPU processor from ``src`` to ``dst`` (names, aliases or roles)."""
        src, dst = self.resolve(src, where), self.resolve(dst, where)
        return self._cached((src, dst), precise, lambda: self.config.getProcessor(src, dst),
                            where)

    def display_view_processor(self, src: str, display: str = DEFAULT_DISPLAY,
                               view: str = DEFAULT_VIEW, *, precise: bool = False,
                               where: str = "") -> ocio.CPUProcessor:
        """The cached processor from scene colourspace ``src`` to a display and view."""
        src = self.resolve(src, where)
        displays = list(self.config.getDisplays())
        if display not in displays:
            close = nearest(display, {d: d for d in displays})
            raise ColourError(where or "display", expected=f"a display of {self.uri}",
                              found=repr(display), hint=f"nearest: {_quoted(close)}")
        views = list(self.config.getViews(display, src))
        if view not in views:
            raise ColourError(where or "view", expected=f"a view of {display!r} in {self.uri}",
                              found=repr(view), hint=f"one of: {_quoted(views)}")
        return self._cached(
            (src, display, view), precise,
            lambda: self.config.getProcessor(src, display, view, ocio.TRANSFORM_DIR_FORWARD),
            where)

    def _cached(self, names: tuple[str, ...], precise: bool,
                build: Callable[[], ocio.Processor], where: str) -> ocio.CPUProcessor:
        key = (names, precise)
        with self._lock:
            cpu = self._processors.get(key)
            if cpu is None:
                try:
                    cpu = build().getOptimizedCPUProcessor(
                        PRECISE_FLAGS if precise else FAST_FLAGS)
                # e.g. a LUT file the config names is missing
                except (ocio.Exception, ocio.ExceptionMissingFile) as err:
                    raise ColourError(where or self.uri,
                                      expected=f"a processor for {' -> '.join(map(repr, names))}",
                                      found=str(err), hint=f"check the config {self.uri}") from err
                self._processors[key] = cpu
            return cpu

    def convert(self, pixels: np.ndarray, src: str, dst: str, *, precise: bool = False,
                out: np.ndarray | None = None, threads: int = 1,
                where: str = "") -> np.ndarray:
        """``pixels`` from colourspace ``src`` to ``dst`` as a new float32 array (or ``out``).

        Args:
            pixels: ``(..., 3)`` or ``(..., 4)`` float16/32/64; never modified unless it is
                ``out``.
            precise: skip OCIO's fast pow/log/exp approximation (about 1.5x slower).
            out: float32 C-contiguous array of the same shape to write into; may be
                ``pixels`` itself for an in-place conversion.
            threads: split rows over this many threads (OCIO releases the GIL).
        """
        src, dst = self.resolve(src, where), self.resolve(dst, where)
        cpu = None if src == dst else self.processor(src, dst, precise=precise, where=where)
        return apply(cpu, pixels, out=out, threads=threads, where=where)

    def to_display(self, pixels: np.ndarray, src: str, display: str = DEFAULT_DISPLAY,
                   view: str = DEFAULT_VIEW, *, precise: bool = False,
                   out: np.ndarray | None = None, threads: int = 1,
                   where: str = "") -> np.ndarray:
        """Display-referred pixels (e.g. tonemapped sRGB for a viewer or a face detector)."""
        cpu = self.display_view_processor(src, display, view, precise=precise, where=where)
        return apply(cpu, pixels, out=out, threads=threads, where=where)


def _read_config(uri: str) -> ocio.Config:
    try:
        config = ocio.Config.CreateFromFile(uri)
        config.validate()
    except (ocio.Exception, ocio.ExceptionMissingFile) as err:
        if uri.startswith("ocio://"):
            close = difflib.get_close_matches(uri, _builtin_names(), n=1, cutoff=0.0)
            hint = f"nearest built-in: {close[0]}; built-ins: {', '.join(_builtin_names())}"
        else:
            hint = ("fix the file, or set colour.config (or $OCIO) to a config file or a "
                    f"built-in such as {DEFAULT_CONFIG}")
        raise ColourError(uri, expected="a readable OCIO config", found=str(err),
                          hint=hint) from err
    return config


def _pool() -> ThreadPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=os.cpu_count() or 1,
                                       thread_name_prefix="vfx_double.color")
        return _POOL


def apply(cpu: ocio.CPUProcessor | None, pixels: np.ndarray, *, out: np.ndarray | None = None,
          threads: int = 1, where: str = "") -> np.ndarray:
    """Run ``cpu`` (None: identity) over ``pixels`` (see :meth:`ColourConfig.convert`)."""
    pixels = np.asarray(pixels)
    where = where or "pixels"
    if pixels.ndim < 2 or pixels.shape[-1] not in (3, 4):
        raise ColourError(where, expected="pixels shaped (H, W, 3|4) or (N, 3|4)",
                          found=f"shape {pixels.shape}")
    if not np.issubdtype(pixels.dtype, np.floating):
        raise ColourError(where, expected="float16, float32 or float64 pixels",
                          found=f"dtype {pixels.dtype}", hint="normalise integer code values first")
    channels = pixels.shape[-1]
    src = np.ascontiguousarray(pixels, dtype=np.float32)
    if out is None:
        out = np.empty(pixels.shape, np.float32)
    elif out.shape != pixels.shape or out.dtype != np.float32 or not out.flags.c_contiguous:
        raise ColourError(where, expected=f"out as C-contiguous float32 {pixels.shape}",
                          found=f"{'C' if out.flags.c_contiguous else 'strided'} "
                                f"{out.dtype} {out.shape}")
    same = out is src
    if not same and np.may_share_memory(out, src):
        raise ColourError(where, expected="out to be the pixels array itself or separate",
                          found="out overlapping pixels")
    if out.size == 0 or cpu is None or cpu.isNoOp():
        if not same:
            np.copyto(out, src)
        return out
    width = out.shape[-2] if out.ndim > 2 else out.shape[0]
    src_rows, out_rows = src.reshape(-1, width, channels), out.reshape(-1, width, channels)
    # As RGBA, OCIO's 4x4 matrices turn a NaN or inf alpha into NaN in R, G and B (and -0.0
    # into +0.0, and nudge huge alphas), so such frames go RGB-only, stepping over alpha.
    # That is ~25% slower than RGBA, hence the check (a sum of finite alphas can still
    # overflow to inf: that frame just takes the slower path).
    with np.errstate(invalid="ignore", over="ignore"):
        rgba = channels == 4 and bool(np.isfinite(src[..., 3].sum()))
    alpha = None if channels == 3 else src[..., 3].reshape(-1, width)
    if rgba and same:
        alpha = alpha.copy()

    def desc(part: np.ndarray) -> ocio.PackedImageDesc:
        if rgba or channels == 3:
            return ocio.PackedImageDesc(part, width, part.shape[0], channels)
        return ocio.PackedImageDesc(part[..., :3], width, part.shape[0],
                                    ocio.CHANNEL_ORDERING_RGB, ocio.BIT_DEPTH_F32,
                                    4, 16, 16 * width)

    def run(first: int, last: int) -> None:
        part = out_rows[first:last]
        if same:
            cpu.apply(desc(part))
        else:
            cpu.apply(desc(src_rows[first:last]), desc(part))
        if alpha is not None and (rgba or not same):
            part[..., 3] = alpha[first:last]

    count = max(1, min(int(threads), out_rows.shape[0]))
    bounds = np.linspace(0, out_rows.shape[0], count + 1).astype(int).tolist()
    if count == 1:
        run(0, out_rows.shape[0])
    else:
        for future in [_pool().submit(run, a, b) for a, b in zip(bounds, bounds[1:])]:
            future.result()
    return out


def convert(pixels: np.ndarray, src: str, dst: str, *, config: str | None = None,
            precise: bool = False) -> np.ndarray:
    """``pixels`` from ``src`` to ``dst`` in ``config`` (default: ``$OCIO`` or the built-in)."""
    return ColourConfig.load(resolve_config_uri(config)).convert(pixels, src, dst,
                                                                  precise=precise)
