"""ShotConfig: the strict, versioned per-shot YAML that drives every stage.

A shot file ``shot_configs/<show>/<shot>.yaml`` is merged over the show's defaults in
``_show.yaml`` beside it. Paths are relative to the file that wrote them. Unknown keys,
wrong types, bad choices and out-of-range numbers are errors naming the file and line.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional

from .errors import ConfigError, VfxDoubleError
from .io.sequences import split_frame_range
from .records import check_schema
from .yamlspec import Origins, build, load_yaml, merge

SCHEMA = "ShotConfig"
VERSION = 2
SHOW_SCHEMA = "ShowDefaults"
SHOW_VERSION = 1
SHOW_DEFAULTS_NAME = "_show.yaml"

#: the longest frame range a config may name: every range is listed frame by frame
MAX_FRAMES = 1_000_000


def parse_frames(value: Any) -> tuple[int, int]:
    """``[1001, 1048]``, or a string in the CLI's grammar (``"1001-1048"``, ``"1001"``:
    :func:`.io.sequences.split_frame_range`) -> ``(1001, 1048)``; first must not pass last."""
    if isinstance(value, str):
        try:
            first, last = split_frame_range(value)
        except ValueError as err:
            raise ValueError(f"{err}, or as [first, last]") from None
    elif (not isinstance(value, (list, tuple)) or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
        raise ValueError("write it as [first, last] with two integers")
    else:
        first, last = value
    if first > last:
        raise ValueError(f"the range is reversed: write [{last}, {first}]")
    if last - first >= MAX_FRAMES:
        raise ValueError(f"at most {MAX_FRAMES} frames (hours of footage at 24 fps)")
    return (first, last)


FRAMES = {"parse": parse_frames, "expected": "[first, last] with first <= last"}


@dataclass(frozen=True)
class Sequence:
    """An image sequence: a frame pattern (####, %04d, $F4, @), its range, its colourspace."""

    path: Path
    colourspace: str
    frames: Optional[tuple[int, int]] = field(default=None, metadata=FRAMES)
    # the footage's frame rate: track's smoothing is in seconds, so it reads this
    fps: float = field(default=24.0, metadata={"min": 1.0, "max": 240.0})


@dataclass(frozen=True)
class Colour:
    config: Optional[str] = None  # ocio:// URI or a file; None means $OCIO or the pinned built-in
    working: str = "ACEScg"
    network: str = "ACEScct"
    output: Optional[str] = None  # None means the plate's colourspace


@dataclass(frozen=True)
class Actor:
    name: str
    licence: Path
    reference: Sequence


@dataclass(frozen=True)
class Performer:
    select: Literal["largest", "position", "frame"] = "largest"
    position: Optional[tuple[float, float]] = None  # normalised (x, y) in the frame, 0-1
    frame: Optional[int] = None

    def __post_init__(self) -> None:
        if self.select == "position" and self.position is None:
            raise ValueError("performer.select is 'position' but performer.position is not set")
        if self.position is not None and not all(0.0 <= v <= 1.0 for v in self.position):
            raise ValueError("performer.position must be normalised, each value in [0, 1]")
        if self.select == "frame" and self.frame is None:
            raise ValueError("performer.select is 'frame' but performer.frame is not set")


@dataclass(frozen=True)
class Track:
    backend: Literal["mediapipe", "fan"] = "mediapipe"
    weights: Optional[Path] = None  # local weights folder for backends that need one (fan)
    max_gap: int = field(default=8, metadata={"min": 0, "max": 1000})
    smoothing: float = field(default=0.5, metadata={"min": 0.0, "max": 1.0})
    coverage: float = field(default=0.6, metadata={"min": 0.1, "max": 1.0})
    crop_size: int = field(default=256, metadata={"min": 64, "max": 2048})
    min_confidence: float = field(default=0.5, metadata={"min": 0.0, "max": 1.0})
    # a crop is skipped as blurred below this fraction of the shot's median sharpness
    min_sharpness: float = field(default=0.35, metadata={"min": 0.0, "max": 1.0})
    redetect_every: int = field(default=12, metadata={"min": 1, "max": 10000})


@dataclass(frozen=True)
class Train:
    """A preset plus optional overrides; None keeps the preset's value."""

    preset: Literal["cpu-tiny", "gpu-256", "gpu-512"] = "cpu-tiny"
    steps: Optional[int] = field(default=None, metadata={"min": 1, "max": 100_000_000})
    resolution: Optional[int] = field(default=None, metadata={"min": 64, "max": 1024})
    encoder_dims: Optional[int] = field(default=None, metadata={"min": 4, "max": 1024})
    inter_dims: Optional[int] = field(default=None, metadata={"min": 8, "max": 4096})
    decoder_dims: Optional[int] = field(default=None, metadata={"min": 4, "max": 1024})
    disc_dims: Optional[int] = field(default=None, metadata={"min": 0, "max": 1024})
    batch_size: Optional[int] = field(default=None, metadata={"min": 1, "max": 4096})
    checkpoint_every: Optional[int] = field(default=None, metadata={"min": 1, "max": 10_000_000})
    preview_every: Optional[int] = field(default=None, metadata={"min": 1, "max": 10_000_000})


def _on_off(value: Any) -> Any:
    """A switch that also has ``auto``: YAML 1.1 reads a bare on / off (and true / false,
    yes / no) as a boolean, so booleans mean on / off; anything else is checked as written."""
    if isinstance(value, bool):
        return "on" if value else "off"
    return value


def _compression(value: Any) -> str:
    """An OpenEXR compression name the writer knows; OpenImageIO would write zip for any
    other, after the comp had made its version folder."""
    from .io.exr import COMPRESSIONS, check_compression

    if not isinstance(value, str):
        raise ValueError("a compression name")
    try:
        return check_compression(value, "comp.compression")
    except VfxDoubleError:
        raise ValueError(f"one of {', '.join(COMPRESSIONS)}") from None


#: the comp's colour-match modes and detail modes: the one list of each (the comp checks
#: against these, the config loader parses with them)
ColourMatch = Literal["none", "rct", "histogram", "gain"]
DetailMode = Literal["auto", "on", "off"]


@dataclass(frozen=True)
class Comp:
    mix: float = field(default=1.0, metadata={"min": 0.0, "max": 1.0})
    erode: float = field(default=0.0, metadata={"min": -200.0, "max": 200.0})
    feather: float = field(default=8.0, metadata={"min": 0.0, "max": 500.0})
    colour_match: ColourMatch = "rct"
    grain: bool = True
    # the plate's own detail above the model's resolution (vfx_double.comp.detail); auto:
    # on for frames where a model pixel spans more than one plate pixel
    detail: DetailMode = field(default="auto", metadata={"parse": _on_off})
    # None keeps the plate's compression
    compression: Optional[str] = field(default=None, metadata={
        "parse": _compression, "expected": "an OpenEXR compression (zip, piz, dwaa:45, ...)"})


@dataclass(frozen=True)
class Review:
    watermark: bool = True
    # playback rate of dailies; None plays at the plate's rate (``ShotConfig.review_fps``)
    fps: Optional[float] = field(default=None, metadata={"min": 1.0, "max": 240.0})
    # the OCIO display and view the review movies are made through (names of the shot's
    # OCIO config; checked when review opens the config)
    display: str = "sRGB - Display"
    view: str = "ACES 1.0 - SDR Video"
    # the plate with the comp in the movies: none, side-by-side (half size each) or wipe
    # (plate left of the centre line)
    compare: Literal["none", "side-by-side", "wipe"] = "none"


@dataclass(frozen=True)
class Farm:
    backend: Literal["local", "slurm", "deadline", "opencue"] = "local"
    chunk_size: int = field(default=10, metadata={"min": 1, "max": 100_000})
    #: GPUs a training task uses on a GPU preset (more than 1: ``train --nproc``, torchrun)
    gpus: int = field(default=1, metadata={"min": 1, "max": 64})


@dataclass(frozen=True)
class ShotConfig:
    """One shot. ``source`` and ``origins`` say where each value was written."""

    schema: str
    show: str
    shot: str
    work_root: Path
    plate: Sequence
    actor: Actor
    use: Literal["film", "advertising"] = "film"
    colour: Colour = field(default_factory=Colour)
    performer: Performer = field(default_factory=Performer)
    track: Track = field(default_factory=Track)
    train: Train = field(default_factory=Train)
    comp: Comp = field(default_factory=Comp)
    review: Review = field(default_factory=Review)
    farm: Farm = field(default_factory=Farm)
    source: Path = field(default=Path(), init=False, compare=False)
    origins: Origins = field(default_factory=Origins, init=False, compare=False, repr=False)
    raw: dict[str, Any] = field(default_factory=dict, init=False, compare=False, repr=False)

    def where(self, *key: str) -> str:
        """``file:line`` where ``key`` (e.g. ``"plate", "colourspace"``) was written."""
        return self.origins.where(tuple(key))

    @property
    def shot_dir(self) -> Path:
        """``<work_root>/<show>/<shot>``: the shot's work area."""
        return self.work_root / self.show / self.shot

    @property
    def review_fps(self) -> float:
        """Dailies' playback rate: ``review.fps``, else the plate's."""
        return self.review.fps if self.review.fps is not None else self.plate.fps

    @property
    def output_colourspace(self) -> str:
        return self.colour.output or self.plate.colourspace

    def config_hash(self) -> str:
        """sha256 of the merged settings (paths as written), for provenance."""
        return settings_hash(self.raw)


def settings_hash(settings: Any) -> str:
    """sha256 of settings as written (sorted keys; dates and paths as text)."""
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _check_schema(data: dict[str, Any], origins: Origins, path: Path, name: str,
                  version: int) -> int:
    where = origins.where(("schema",)) if "schema" in data else f"{path}:1"
    return check_schema(data.get("schema"), (name, version), where, ConfigError,
                        hint=f"add 'schema: {name}.{version}' as the first line")


def upgrade_1(data: dict[str, Any]) -> dict[str, Any]:
    """ShotConfig.1 -> 2. Version 1 had no footage frame rate, and track smoothed with
    ``review.fps`` (24 unless set): that rate becomes the plate's and the actor
    reference's, so a version 1 shot tracks exactly as it did. A copy; ``data`` is kept."""
    out = copy.deepcopy(data)
    fps = (out.get("review") or {}).get("fps")
    if fps is not None:
        targets = [out.get("plate"), (out.get("actor") or {}).get("reference")]
        for seq in targets:
            if isinstance(seq, dict):
                seq.setdefault("fps", fps)
    return out


def load_show_defaults(shot_path: Path) -> tuple[dict[str, Any], Origins]:
    show_path = shot_path.parent / SHOW_DEFAULTS_NAME
    if not show_path.is_file() or shot_path.name == SHOW_DEFAULTS_NAME:
        return {}, Origins()
    data, origins = load_yaml(show_path)
    _check_schema(data, origins, show_path, SHOW_SCHEMA, SHOW_VERSION)
    data = {k: v for k, v in data.items() if k != "schema"}
    return data, origins


def load(path: str | Path) -> ShotConfig:
    """Load a shot config merged over its show defaults; raise ConfigError on anything odd."""
    path = Path(path).absolute()
    shot_data, shot_origins = load_yaml(path)
    version = _check_schema(shot_data, shot_origins, path, SCHEMA, VERSION)
    show_data, show_origins = load_show_defaults(path)
    data = merge(show_data, shot_data)
    origins = Origins(places={**show_origins.places, **shot_origins.places}, default_file=path)
    # ``raw`` (and so the config hash) stays as written; the upgrade only feeds the build
    cfg = build(ShotConfig, upgrade_1(data) if version == 1 else data, origins)
    for key in ("show", "shot"):
        value = getattr(cfg, key)
        if not _NAME.match(value):
            raise ConfigError(origins.where((key,)),
                              f"{key} as a name of letters, digits, '_', '-' or '.'",
                              repr(value), "it becomes a folder name in the work area")
    object.__setattr__(cfg, "source", path)
    object.__setattr__(cfg, "origins", origins)
    object.__setattr__(cfg, "raw", data)
    return cfg



#: set by a farm job for every task: the settings' hash when the job was submitted
SUBMITTED_ENV = "VFX_DOUBLE_CONFIG_SHA256"
#: the job's folder, whose config.json holds the settings as submitted
JOB_ENV = "VFX_DOUBLE_JOB"


def check_submitted(cfg: ShotConfig, environ: dict[str, str] | None = None) -> None:
    """Inside a farm task, refuse a shot config that changed after the job was submitted
    (its chunks would mix two configs in one version); the error names what changed."""
    import os

    env = os.environ if environ is None else environ
    wanted = env.get(SUBMITTED_ENV, "")
    if not wanted or wanted == cfg.config_hash():
        return
    changed = "the settings' hash"
    job = env.get(JOB_ENV, "")
    snapshot = Path(job) / "config.json" if job else None
    if snapshot is not None and snapshot.is_file():
        try:
            changed = changes_since(snapshot, cfg) or changed
        except ConfigError:
            pass
    raise ConfigError(str(cfg.source), f"the config the job was submitted with (sha256 "
                      f"{wanted[:12]})", f"changed since: {changed}",
                      "restore it, or submit the job again (vfx-double run)")


def changes_since(snapshot: Path, cfg: ShotConfig) -> str:
    """The first changes (``a.b: old -> new``) between the settings a job froze in
    ``snapshot`` (its ``config.json``) and ``cfg``'s; "" when none show; ConfigError when
    the snapshot cannot be read."""
    from .records import read_json

    before = read_json(snapshot, "config", ConfigError).get("settings", {})
    return ", ".join(settings_diff(before, cfg.raw)[:4])


def settings_diff(before: Any, after: Any, key: str = "") -> list[str]:
    """``a.b: old -> new`` for every leaf that differs between two settings trees."""
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[str] = []
        for name in sorted(set(before) | set(after), key=str):
            sub = f"{key}.{name}" if key else str(name)
            out += settings_diff(before.get(name, "<unset>"), after.get(name, "<unset>"), sub)
        return out
    if json.dumps(before, default=str, sort_keys=True) == json.dumps(after, default=str,
                                                                       sort_keys=True):
        return []
    return [f"{key}: {json.dumps(before, default=str)} -> {json.dumps(after, default=str)}"]
