"""The bad-input matrix (issue 11, "Keep the matrix"): what a hostile or unlucky user does
to a shot, and what the CLI must answer. ``test_matrix.py`` runs every row of :data:`CASES`.

Each row gets a fresh small valid shot (:func:`tests.shots.make_shot`: plate frames
1001-1005 of 64x48, a 3-frame actor reference, a test keyring, a signed licence), changes
it with ``mutate``, runs ``vfx-double ARGS`` and checks:

- the exit code is ``exit`` (2 for bad input; 0 where the input is legitimate);
- on exit 2, stderr is one line ``vfx-double: error: ...`` (no traceback, nothing printed
  by a C library) holding every one of ``words`` (case-insensitive);
- no plate or actor reference file changed.

Adding a case is one line in :data:`CASES` (id, what, args, exit, words, mutate)::

    Case("plate-nan", "a NaN pixel in one plate frame", V, 2, ("plate.1003.exr",), plate_pixels(1003, nan)),

``args`` and ``words`` may name the shot's paths: ``{config}`` ``{keyring}`` ``{licence}``
``{root}`` ``{work}`` (the shot's work area) ``{audit}`` (its audit.jsonl). Optional:

- ``xfail="issue 11 #N: ..."``: not handled yet. The run is strict, so the row fails the
  suite once it is fixed; then delete the ``xfail``.
- ``guarded=True``: run in a child process under a 1.5 GB address-space limit and a 20 s
  timeout (anything that could eat the machine's memory or hang), and check the child's
  peak RSS stays under ``max_rss_mb``.
- ``drop_root=True``: in a child without root's power to write where permissions forbid.
- ``env``: environment variables for the run (placeholders expand there too).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import OpenImageIO as oiio

from vfx_double.audit import AuditLog
from vfx_double.audit_entries import entry_hash
from vfx_double.audit_signing import AUDIT_KEY_ENV
from vfx_double.io.exr import ExrImage, read_exr, write_exr
from vfx_double.keyring import keygen
from vfx_double.records import canonical_json

from ..shots import MiniShot, issue_licence, write_frames

Mutation = Callable[[MiniShot], None]


@dataclass(frozen=True)
class Case:
    id: str
    what: str
    args: tuple[str, ...]
    exit: int
    words: tuple[str, ...] = ()
    mutate: Mutation | None = None
    xfail: str = ""
    guarded: bool = False
    drop_root: bool = False
    max_rss_mb: int = 200
    env: dict[str, str] = field(default_factory=dict)


# --- commands ---------------------------------------------------------------------------------

V = ("validate", "{config}", "--keyring", "{keyring}")
TRACK = ("track", "{config}", "--keyring", "{keyring}")
TRAIN = ("train", "{config}", "--keyring", "{keyring}")
RENDER = ("render", "{config}", "--keyring", "{keyring}")
COMP = ("comp", "{config}", "--keyring", "{keyring}")
AUDIT = ("audit", "verify", "{config}")
LV = ("licence", "verify", "{licence}", "--keyring", "{keyring}")
ISSUE = ("licence", "issue", "--key", "{root}/keys/test-issuer.key", "--licence-id", "L-2",
         "--actor", "A", "--licensor", "B", "--licensee", "C", "--show", "SHOW", "--use", "film",
         "--media", "{root}/ref/ref.####.exr")


def work_area(shot: MiniShot) -> Path:
    return shot.root / "work" / "SHOW" / "sh010"


def plate(frame: int) -> Callable[[MiniShot], Path]:
    return lambda shot: shot.plate_dir / f"plate.{frame}.exr"


def ref(frame: int) -> Callable[[MiniShot], Path]:
    return lambda shot: shot.root / "ref" / f"ref.{frame:04d}.exr"


def licence_file(shot: MiniShot) -> Path:
    return shot.licence


def config_file(shot: MiniShot) -> Path:
    return shot.config


# --- mutations --------------------------------------------------------------------------------

def both(*steps: Mutation) -> Mutation:
    def run(shot: MiniShot) -> None:
        for step in steps:
            step(shot)
    return run


def edit(old: str, new: str) -> Mutation:
    return lambda shot: shot.edit(old, new)


def append(text: str) -> Mutation:
    return lambda shot: shot.config.write_text(shot.config.read_text() + text)


def write_bytes(target: Callable[[MiniShot], Path], data: bytes) -> Mutation:
    return lambda shot: target(shot).write_bytes(data)


def append_bytes(target: Callable[[MiniShot], Path], data: bytes) -> Mutation:
    return lambda shot: target(shot).write_bytes(target(shot).read_bytes() + data)


def truncate(target: Callable[[MiniShot], Path], keep: float = 0.6) -> Mutation:
    def run(shot: MiniShot) -> None:
        data = target(shot).read_bytes()
        target(shot).write_bytes(data[: int(len(data) * keep)])
    return run


def remove(target: Callable[[MiniShot], Path]) -> Mutation:
    return lambda shot: target(shot).unlink()


def folder_instead(target: Callable[[MiniShot], Path]) -> Mutation:
    def run(shot: MiniShot) -> None:
        target(shot).unlink()
        target(shot).mkdir()
    return run


def link_to(target: Callable[[MiniShot], Path], to: str) -> Mutation:
    def run(shot: MiniShot) -> None:
        path = target(shot)
        if path.exists() or path.is_symlink():
            path.unlink()
        path.symlink_to(to)
    return run


def show_defaults(text: str) -> Mutation:
    return lambda shot: (shot.config.parent / "_show.yaml").write_text(text)


def nan(pixels: np.ndarray) -> np.ndarray:
    pixels[10, 20, 1] = np.nan
    return pixels


def inf(pixels: np.ndarray) -> np.ndarray:
    pixels[5, 5, 0] = np.inf
    return pixels


def repixel(where: Callable[[MiniShot], Path],
            change: Callable[[np.ndarray], np.ndarray]) -> Mutation:
    """Rewrite the frame ``where`` names with ``change`` applied to its pixels."""
    def run(shot: MiniShot) -> None:
        path = where(shot)
        image = read_exr(path, dtype=None)
        write_exr(path, image.replace(pixels=change(image.pixels.copy())), overwrite=True)
    return run


def plate_pixels(frame: int, change: Callable[[np.ndarray], np.ndarray]) -> Mutation:
    return repixel(plate(frame), change)


def ref_pixels(frame: int, change: Callable[[np.ndarray], np.ndarray]) -> Mutation:
    return repixel(ref(frame), change)


def darker(pixels: np.ndarray) -> np.ndarray:
    return pixels * np.float16(0.5)


def plate_size(frame: int, size: tuple[int, int]) -> Mutation:
    def run(shot: MiniShot) -> None:
        plate(frame)(shot).unlink(missing_ok=True)
        write_frames(shot.plate_dir, "plate", range(frame, frame + 1), size=size)
    return run


def all_plates(write: Callable[[Path, np.ndarray], None]) -> Mutation:
    """Rewrite every plate frame with ``write(path, rgb_float32)``."""
    def run(shot: MiniShot) -> None:
        for path in sorted(shot.plate_dir.glob("plate.*.exr")):
            pixels = read_exr(path).pixels
            path.unlink()
            write(path, pixels)
    return run


def _oiio_write(path: Path, pixels: np.ndarray, channels: tuple[str, ...], fmt: str, *,
                tile: int = 0, compression: str = "zip") -> None:
    h, w = pixels.shape[:2]
    spec = oiio.ImageSpec(w, h, len(channels), fmt)
    spec.channelnames = channels
    spec.attribute("compression", compression)
    if tile:
        spec.tile_width = spec.tile_height = tile
    out = oiio.ImageOutput.create("openexr")
    assert out.open(str(path), spec), oiio.geterror()
    assert out.write_image(np.ascontiguousarray(pixels)), out.geterror()
    out.close()


def luminance_only(path: Path, rgb: np.ndarray) -> None:
    _oiio_write(path, rgb[..., 1:2].astype(np.float16), ("Y",), "half")


def uint_rgb(path: Path, rgb: np.ndarray) -> None:
    _oiio_write(path, (rgb * 1000).astype(np.uint32), ("R", "G", "B"), "uint")


def tiled(path: Path, rgb: np.ndarray) -> None:
    _oiio_write(path, rgb.astype(np.float16), ("R", "G", "B"), "half", tile=16)


def compressed(name: str) -> Callable[[Path, np.ndarray], None]:
    return lambda path, rgb: _oiio_write(path, rgb.astype(np.float16), ("R", "G", "B"), "half",
                                         compression=name)


def offset_window(path: Path, rgb: np.ndarray) -> None:
    h, w = rgb.shape[:2]
    write_exr(path, ExrImage(pixels=rgb[4:-4, 4:-4].astype(np.float16), channels=("R", "G", "B"),
                             data_window=(4, 4, w - 8, h - 8), display_window=(0, 0, w, h)))


def png_named_exr(target: Callable[[MiniShot], Path]) -> Mutation:
    ok, png = cv2.imencode(".png", np.full((48, 64, 3), 128, np.uint8))
    assert ok
    return write_bytes(target, png.tobytes())


def relicence(**kwargs: object) -> Mutation:
    return lambda shot: issue_licence(shot.key, shot.licence, **kwargs)  # type: ignore[arg-type]


def licence_json(change: Callable[[dict], object]) -> Mutation:
    def run(shot: MiniShot) -> None:
        data = json.loads(shot.licence.read_text())
        change(data)
        shot.licence.write_text(json.dumps(data))
    return run


def rogue_signed(shot: MiniShot) -> None:
    rogue, _ = keygen(shot.root / "rogue", "test-issuer")
    issue_licence(rogue, shot.licence)


def duplicate_licence_key(shot: MiniShot) -> None:
    text = shot.licence.read_text()
    forged = json.dumps({"actor": "Anyone"})
    shot.licence.write_text(text.replace("{", '{"licence": ' + forged + ", ", 1))


def padded_licence(shot: MiniShot) -> None:
    # still a valid, correctly signed licence: 2 MB of trailing whitespace
    shot.licence.write_bytes(shot.licence.read_bytes() + b" " * (2 << 20))


def deep_json(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def alias_bomb() -> str:
    """A ~1 KB YAML of mappings, each level nine aliases of the one before: 9**9 keys
    when walked (the line indexer walks every mapping)."""
    lines = ["bomb0: &b0 {" + ", ".join(f"k{i}: x" for i in range(9)) + "}"]
    for level in range(1, 10):
        lines.append(f"bomb{level}: &b{level} {{"
                     + ", ".join(f"k{i}: *b{level - 1}" for i in range(9)) + "}")
    return "\n".join(lines) + "\n"


def big_comment(size: int) -> str:
    line = "# " + "x" * 98 + "\n"
    return line * (size // len(line) + 1)


def keyring_file(name: str, data: bytes) -> Mutation:
    return lambda shot: (shot.keyring / name).write_bytes(data)


def keyring_empty(shot: MiniShot) -> None:
    for path in shot.keyring.iterdir():
        path.unlink()


def keyring_copy(shot: MiniShot) -> None:
    shutil.copy(shot.keyring / "test-issuer.pub", shot.keyring / "copy.pub")


def keyring_link(name: str, to: str) -> Mutation:
    return lambda shot: (shot.keyring / name).symlink_to(to)


def keyring_folder(name: str) -> Mutation:
    return lambda shot: (shot.keyring / name).mkdir()


# --- work area: audit log, a stand-in render version, read-only ------------------------------

def audit_entries(count: int = 3) -> Mutation:
    def run(shot: MiniShot) -> None:
        log = AuditLog(work_area(shot) / "audit.jsonl")
        for n in range(count):
            log.append(f"stage{n}", inputs={}, outputs={"x": f"{n:064x}"},
                       licence_id="TEST-0001", config_hash=None)
    return run


def signed_audit_entries(shot: MiniShot) -> None:
    """Three entries appended under a studio audit key (``$VFX_DOUBLE_AUDIT_KEY``)."""
    keygen(shot.root / "auditkeys", "studio-audit")
    saved = os.environ.get(AUDIT_KEY_ENV)
    os.environ[AUDIT_KEY_ENV] = str(shot.root / "auditkeys" / "studio-audit.key")
    try:
        audit_entries()(shot)
    finally:
        if saved is None:
            del os.environ[AUDIT_KEY_ENV]
        else:
            os.environ[AUDIT_KEY_ENV] = saved


def audit_path(shot: MiniShot) -> Path:
    return work_area(shot) / "audit.jsonl"


def audit_head(shot: MiniShot) -> Path:
    return work_area(shot) / "audit.head.json"


def audit_lines(change: Callable[[list[bytes]], list[bytes]]) -> Mutation:
    def run(shot: MiniShot) -> None:
        lines = audit_path(shot).read_bytes().split(b"\n")[:-1]
        audit_path(shot).write_bytes(b"".join(line + b"\n" for line in change(lines)))
    return run


def audit_rewritten(shot: MiniShot) -> None:
    """Edit the first entry, then recompute every hash, the chain and the head: what an
    unkeyed chain cannot tell from the real log (issue 11 #8)."""
    entries = [json.loads(line) for line in audit_path(shot).read_bytes().splitlines()]
    entries[0]["licence_id"] = "FORGED-9999"
    prev = "0" * 64
    for entry in entries:
        entry["prev"] = prev
        entry["hash"] = prev = entry_hash(entry)
    audit_path(shot).write_bytes(b"".join(canonical_json(e) + b"\n" for e in entries))
    audit_head(shot).write_text(json.dumps({"schema": "AuditHead.1", "seq": entries[-1]["seq"],
                                            "hash": entries[-1]["hash"]}))


def fake_render(shot: MiniShot) -> None:
    """A render version the comp's prelude accepts (options.json and one file per frame);
    its elements are stand-ins, so only cases that fail before reading them use it."""
    folder = work_area(shot) / "render" / "v001"
    folder.mkdir(parents=True)
    (folder / "options.json").write_text(json.dumps({"schema": "RenderOptions.1"}))
    for frame in range(1001, 1006):
        shutil.copy(plate(frame)(shot), folder / f"face.{frame}.exr")


def read_only_work_area(shot: MiniShot) -> None:
    for folder in (work_area(shot), *work_area(shot).rglob("*")):
        if folder.is_dir():
            folder.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP)


def mkdir(target: Callable[[MiniShot], Path]) -> Mutation:
    return lambda shot: target(shot).mkdir(parents=True, exist_ok=True)


def fake_video(shot: MiniShot) -> None:
    (shot.root / "fake.mp4").write_text("not a video\n")


TODAY = dt.date.today()
DAY = dt.timedelta(days=1)
COMP_NAN = "comp:\n  mix: .nan\n"
BOGUS_COMPRESSION = "comp:\n  compression: zipp\n"
FPS_AT_LINE_9 = "  colourspace: ARRI LogC3 (EI800)\n"


def plate_fps(value: str) -> Mutation:
    return edit(FPS_AT_LINE_9, f"{FPS_AT_LINE_9}  fps: {value}\n")


# --- the matrix -------------------------------------------------------------------------------

CASES: list[Case] = [
    # config: YAML as written
    Case("yaml-syntax", "an unclosed list", V, 2, ("sh010.yaml:", "valid YAML"), edit("[1001, 1005]", "[1001, 1005")),
    Case("yaml-tab-indent", "a tab as indentation", V, 2, ("sh010.yaml:", "valid YAML"), edit("  frames:", "\tframes:")),
    Case("yaml-nul-byte", "a NUL byte in the config", V, 2, ("sh010.yaml",), append_bytes(config_file, b"shot2: a\x00b\n")),
    Case("yaml-not-utf8", "Latin-1 bytes in a comment", V, 2, ("sh010.yaml", "UTF-8"), append_bytes(config_file, b"# caf\xe9\n")),
    Case("yaml-two-documents", "a second YAML document", V, 2, ("sh010.yaml",), append("---\nshow: OTHER\n")),
    Case("yaml-top-level-list", "a list, not a mapping", V, 2, ("sh010.yaml:1", "mapping"), write_bytes(config_file, b"- a\n- b\n")),
    Case("yaml-empty", "an empty config", V, 2, ("sh010.yaml", "schema"), write_bytes(config_file, b"")),
    Case("yaml-python-object-tag", "!!python/object/apply", V, 2, ("sh010.yaml:3", "tag"), edit("shot: sh010", "shot: !!python/object/apply:os.system ['touch pwned']")),
    Case("yaml-python-name-tag", "!!python/name", V, 2, ("sh010.yaml:3", "tag"), edit("shot: sh010", "shot: !!python/name:os.system")),
    Case("yaml-binary-tag", "!!binary where a name belongs", V, 2, ("sh010.yaml:3", "string"), edit("shot: sh010", "shot: !!binary c2gwMTA=")),
    Case("yaml-duplicate-key", "shot written twice", V, 2, ("sh010.yaml:4", "a second time"), edit("shot: sh010", "shot: sh010\nshot: sh020")),
    Case("yaml-duplicate-nested-key", "plate.frames written twice", V, 2, ("sh010.yaml:8", "'frames' a second time"), edit("  frames: [1001, 1005]", "  frames: [1001, 1005]\n  frames: [1001, 1002]")),
    Case("yaml-deep-nesting", "a list nested 20,000 deep", V, 2, ("sh010.yaml",), append("deep: " + "[" * 20000 + "]" * 20000 + "\n"), guarded=True),
    Case("yaml-alias-bomb", "a 1 KB mapping alias bomb (issue 11 #10)", V, 2, ("sh010.yaml",), append(alias_bomb()), guarded=True),
    # config: keys, schema, names
    Case("unknown-top-key", "keyring set from the shot config", V, 2, ("unknown key 'keyring'",), append("keyring: ../../keyring\n")),
    Case("unknown-nested-key", "colorspace for colourspace", V, 2, ("sh010.yaml:14", "unknown key 'colorspace'", "'colourspace'"), edit("  colourspace: ACEScg", "  colorspace: ACEScg")),
    Case("non-string-key", "a number as a key", V, 2, ("unknown key '1001'",), append("1001: x\n")),
    Case("schema-missing", "no schema line", V, 2, ("schema",), edit("schema: ShotConfig.2\n", "")),
    Case("schema-newer", "ShotConfig.9", V, 2, ("ShotConfig.9", "upgrade"), edit("ShotConfig.2", "ShotConfig.9")),
    Case("schema-other-record", "a licence schema in a shot config", V, 2, ("schema", "ShotConfig"), edit("ShotConfig.2", "Licence.1")),
    Case("shot-as-list", "shot: [sh010]", V, 2, ("sh010.yaml:3", "non-empty string"), edit("shot: sh010", "shot: [sh010]")),
    Case("shot-path-traversal", "shot: ../../etc", V, 2, ("sh010.yaml:3", "letters, digits"), edit("shot: sh010", "shot: ../../etc")),
    Case("show-dotdot", "show: '..'", V, 2, ("sh010.yaml:2",), edit("show: SHOW", "show: '..'")),
    Case("use-bogus", "use: tv", V, 2, ("use", "'film'"), append("use: tv\n")),
    Case("use-advertising", "an advertising shot the licence grants", V, 0, (), append("use: advertising\n")),
    # config: frames
    Case("frames-reversed", "[1005, 1001]", V, 2, ("sh010.yaml:7", "reversed"), edit("[1001, 1005]", "[1005, 1001]")),
    Case("frames-one-number", "frames: 1001", V, 2, ("sh010.yaml:7", "[first, last]"), edit("[1001, 1005]", "1001")),
    Case("frames-floats", "[1001.5, 1005]", V, 2, ("sh010.yaml:7",), edit("[1001, 1005]", "[1001.5, 1005]")),
    Case("frames-booleans", "[true, false]", V, 2, ("sh010.yaml:7",), edit("[1001, 1005]", "[true, false]")),
    Case("frames-string", "frames as '1001-1005'", V, 0, (), edit("[1001, 1005]", "'1001-1005'")),
    Case("frames-string-bad", "frames as '1001..1005'", V, 2, ("sh010.yaml:7", "1001-1100"), edit("[1001, 1005]", "'1001..1005'")),
    Case("frames-past-disk", "[1001, 1009] with 1001-1005 on disk", V, 2, ("missing frames 1006-1009",), edit("[1001, 1005]", "[1001, 1009]")),
    Case("frames-huge", "plate.frames: [1, 99999999999] (issue 11 #10)", V, 2, ("sh010.yaml",), edit("[1001, 1005]", "[1, 99999999999]"), guarded=True),
    Case("frames-omitted", "no frames: the frames on disk", V, 0, (), edit("  frames: [1001, 1005]\n", "")),
    # config: paths and colourspaces
    Case("plate-no-token", "plate.1001.exr as the pattern", V, 2, ("frame token",), edit("plate.####.exr", "plate.1001.exr")),
    Case("plate-pattern-matches-nothing", "plates.####.exr", V, 2, ("plates.####.exr", "none in"), edit("plate.####.exr", "plates.####.exr")),
    Case("plate-folder-missing", "a plate folder that is not there", V, 2, ("none in",), edit("../../plates/", "../../nowhere/")),
    Case("colourspace-unknown", "ARRI LogC9", V, 2, ("sh010.yaml:8", "ARRI LogC9"), edit("ARRI LogC3 (EI800)", "ARRI LogC9")),
    Case("colourspace-list", "colourspace: [ACEScg]", V, 2, ("sh010.yaml:14",), edit("colourspace: ACEScg", "colourspace: [ACEScg]")),
    Case("plate-fps-zero", "plate.fps: 0", V, 2, ("sh010.yaml:9", "plate.fps"), plate_fps("0")),
    Case("plate-fps-nan", "plate.fps: .nan (not in issue 11)", V, 2, ("sh010.yaml:9", "fps"), plate_fps(".nan")),
    # config: settings stages read
    Case("comp-mix-nan", "comp.mix: .nan (issue 11, exit-1 list)", V, 2, ("sh010.yaml:16", "mix"), append(COMP_NAN)),
    Case("comp-mix-inf", "comp.mix: .inf", V, 2, ("sh010.yaml:16", "comp.mix"), append("comp:\n  mix: .inf\n")),
    Case("comp-mix-range", "comp.mix: 1.5", V, 2, ("sh010.yaml:16", "comp.mix in [0.0, 1.0]"), append("comp:\n  mix: 1.5\n")),
    Case("comp-mix-string", "comp.mix: half", V, 2, ("comp.mix as a number",), append("comp:\n  mix: half\n")),
    Case("comp-compression-bogus", "comp.compression: zipp (issue 11, exit-1 list)", V, 2, ("sh010.yaml:16", "zipp"), append(BOGUS_COMPRESSION)),
    Case("comp-colour-match-typo", "comp.colour_match: rtc", V, 2, ("colour_match", "'rct'"), append("comp:\n  colour_match: rtc\n")),
    Case("comp-detail-bogus", "comp.detail: maybe", V, 2, ("comp.detail",), append("comp:\n  detail: maybe\n")),
    Case("comp-detail-yes", "comp.detail: yes (YAML 1.1 true, so on)", V, 0, (), append("comp:\n  detail: yes\n")),
    Case("track-smoothing-nan", "track.smoothing: .nan (issue 11, exit-1 list)", V, 2, ("sh010.yaml:16", "smoothing"), append("track:\n  smoothing: .nan\n")),
    Case("review-fps-nan", "review.fps: .nan (issue 11, exit-1 list)", V, 2, ("sh010.yaml:16", "fps"), append("review:\n  fps: .nan\n")),
    Case("track-backend-unknown", "track.backend: dlib", V, 2, ("track.backend", "'mediapipe'"), append("track:\n  backend: dlib\n")),
    Case("train-preset-unknown", "train.preset: gpu-1024", V, 2, ("train.preset",), append("train:\n  preset: gpu-1024\n")),
    Case("train-steps-zero", "train.steps: 0", V, 2, ("train.steps",), append("train:\n  steps: 0\n")),
    Case("train-steps-huge", "train.steps: 1.0e+300", V, 2, ("train.steps",), append("train:\n  steps: 1.0e+300\n")),
    Case("performer-position-unset", "select: position without a position", V, 2, ("performer.position",), append("performer:\n  select: position\n")),
    Case("performer-position-outside", "position [2.0, 0.5]", V, 2, ("normalised",), append("performer:\n  select: position\n  position: [2.0, 0.5]\n")),
    Case("show-defaults-unknown-key", "_show.yaml with comp.mixx", V, 2, ("_show.yaml:3", "unknown key 'mixx'"), show_defaults("schema: ShowDefaults.1\ncomp:\n  mixx: 0.5\n")),
    Case("show-defaults", "_show.yaml setting comp.mix", V, 0, (), show_defaults("schema: ShowDefaults.1\ncomp:\n  mix: 0.5\n")),
    # config: the file itself
    Case("config-missing", "a config that is not there", ("validate", "{root}/shots/SHOW/sh999.yaml", "--keyring", "{keyring}"), 2, ("sh999.yaml", "no such file")),
    Case("config-is-folder", "a folder as the config", ("validate", "{root}/shots/SHOW", "--keyring", "{keyring}"), 2, ("SHOW",)),
    Case("second-config-missing", "one good config, then a missing one", ("validate", "{config}", "{root}/nope.yaml", "--keyring", "{keyring}"), 2, ("nope.yaml",)),
    Case("config-dev-zero", "the config links to /dev/zero (issue 11 #10)", V, 2, ("sh010.yaml",), link_to(config_file, "/dev/zero"), guarded=True),
    Case("config-2mb", "2 MB of comments in the config (issue 11 #10)", V, 2, ("sh010.yaml", "KB"), append(big_comment(2 << 20)), guarded=True),
    # licence
    Case("licence-missing", "no licence file", V, 2, ("test.licence.json", "no such file"), remove(licence_file)),
    Case("licence-edited", "a show added after signing", V, 2, ("test.licence.json", "signature"), licence_json(lambda d: d["licence"]["shows"].append("OTHER"))),
    Case("licence-expired", "expired yesterday", V, 2, ("valid_until",), relicence(valid_from=TODAY - 60 * DAY, valid_until=TODAY - DAY)),
    Case("licence-not-yet-valid", "valid from in three days", V, 2, ("valid_from",), relicence(valid_from=TODAY + 3 * DAY)),
    Case("licence-other-show", "for show OTHER", V, 2, ("shows", "SHOW"), relicence(shows=("OTHER",))),
    Case("licence-without-film", "no film use", V, 2, ("uses", "film"), relicence(uses=("train", "render", "advertising"))),
    Case("actor-name-mismatch", "the shot names another actor", V, 2, ("actor", "Somebody Else"), edit("name: Test Actor (synthetic)", "name: Somebody Else")),
    Case("licence-rogue-signer", "signed by a key with the trusted key's id", V, 2, ("test.licence.json", "signature"), rogue_signed),
    Case("licence-not-json", "text, not JSON", V, 2, ("test.licence.json", "valid JSON"), write_bytes(licence_file, b"licence: yes\n")),
    Case("licence-empty", "an empty licence", V, 2, ("test.licence.json", "valid JSON"), write_bytes(licence_file, b"")),
    Case("licence-duplicate-key", "a second 'licence' key", V, 2, ("test.licence.json", "duplicate key"), duplicate_licence_key),
    Case("licence-list", "a JSON list", V, 2, ("test.licence.json", "JSON object"), write_bytes(licence_file, b"[]")),
    Case("licence-schema-newer", "SignedLicence.7", V, 2, ("SignedLicence.7",), licence_json(lambda d: d.update(schema="SignedLicence.7"))),
    Case("licence-alg", "alg RS256", V, 2, ("Ed25519",), licence_json(lambda d: d["signature"].update(alg="RS256"))),
    Case("licence-signature-not-base64", "signature value '!!!'", V, 2, ("signature",), licence_json(lambda d: d["signature"].update(value="!!!"))),
    Case("licence-not-utf8", "undecodable bytes", V, 2, ("test.licence.json", "UTF-8"), write_bytes(licence_file, b'{"schema": "caf\xe9"}')),
    Case("licence-folder", "a folder named like the licence", V, 2, ("test.licence.json",), folder_instead(licence_file)),
    Case("licence-dev-zero", "the licence links to /dev/zero (issue 11 #10)", V, 2, ("test.licence.json",), link_to(licence_file, "/dev/zero"), guarded=True),
    Case("licence-2mb", "a signed licence padded to 2 MB (issue 11 #10)", V, 2, ("test.licence.json", "KB"), padded_licence, guarded=True),
    Case("licence-deep-json", "a licence nested 200,000 deep (issue 11, exit-1 list)", V, 2, ("test.licence.json",), write_bytes(licence_file, deep_json(200_000)), guarded=True),
    Case("licence-verify", "licence verify on the good licence", LV, 0, ()),
    Case("licence-verify-dev-zero", "licence verify /dev/zero (issue 11 #10)", ("licence", "verify", "/dev/zero", "--keyring", "{keyring}"), 2, ("/dev/zero",), guarded=True),
    Case("licence-verify-bad-use", "licence verify --use tv", (*LV, "--use", "tv"), 2, ("'tv'",)),
    Case("licence-verify-bad-date", "licence verify --date 2026-13-45", (*LV, "--date", "2026-13-45"), 2, ("--date",)),
    Case("validate-date-future", "validate --date 2099-01-01", (*V, "--date", "2099-01-01"), 2, ("valid_until",)),
    Case("licence-issue-overwrite", "licence issue over the existing licence", (*ISSUE, "--out", "{licence}", "--valid-from", "2026-01-01", "--valid-until", "2027-01-01"), 2, ("never overwritten",)),
    Case("licence-issue-bad-date", "licence issue --valid-from 2026-02-30", (*ISSUE, "--out", "{root}/l2.json", "--valid-from", "2026-02-30", "--valid-until", "2027-01-01"), 2, ("--valid-from",)),
    Case("licence-issue-reversed", "valid_until before valid_from", (*ISSUE, "--out", "{root}/l2.json", "--valid-from", "2027-01-01", "--valid-until", "2026-01-01"), 2, ("valid_until",)),
    Case("keygen-bad-id", "licence keygen --key-id ../evil", ("licence", "keygen", "--out", "{root}/k2", "--key-id", "../evil"), 2, ("key id",)),
    Case("keygen-existing", "licence keygen over the existing key", ("licence", "keygen", "--out", "{root}/keys", "--key-id", "test-issuer"), 2, ("never overwritten",)),
    # keyring
    Case("keyring-missing", "--keyring at a missing folder", ("validate", "{config}", "--keyring", "{root}/nokeys"), 2, ("nokeys", "no such folder")),
    Case("keyring-empty", "an empty keyring", V, 2, ("at least one issuer public key",), keyring_empty),
    Case("keyring-is-file", "--keyring at a file", ("validate", "{config}", "--keyring", "{licence}"), 2, ("not a folder",)),
    Case("keyring-garbage-pub", "a .pub that is not a key", V, 2, ("junk.pub",), keyring_file("junk.pub", b"not a key")),
    Case("keyring-duplicate-id", "the same key twice", V, 2, ("each key id once",), keyring_copy),
    Case("keyring-pub-folder", "a folder named x.pub", V, 2, ("dir.pub",), keyring_folder("dir.pub")),
    Case("keyring-pub-dev-zero", "a .pub linking to /dev/zero (issue 11 #10)", V, 2, ("zero.pub",), keyring_link("zero.pub", "/dev/zero"), guarded=True),
    Case("keyring-default-missing", "no --keyring, no $VFX_DOUBLE_KEYRING", ("validate", "{config}"), 2, ("default keyring",), env={"XDG_CONFIG_HOME": "{root}/xdg"}),
    Case("keyring-from-env", "the keyring from $VFX_DOUBLE_KEYRING", ("validate", "{config}"), 0, (), env={"VFX_DOUBLE_KEYRING": "{keyring}"}),
    # plates and reference frames
    Case("plate-nan", "a NaN pixel in one plate frame (issue 11 #2)", V, 2, ("plate.1003.exr",), plate_pixels(1003, nan)),
    Case("plate-inf", "an inf pixel in one plate frame (issue 11 #2)", V, 2, ("plate.1002.exr",), plate_pixels(1002, inf)),
    Case("plate-other-size", "one 32x24 frame in a 64x48 plate (issue 11 #1)", V, 2, ("plate.1003.exr",), plate_size(1003, (32, 24))),
    Case("plate-truncated", "a plate frame cut at 60%", V, 2, ("plate.1004.exr",), truncate(plate(1004))),
    Case("plate-png-as-exr", "a PNG named .exr", V, 2, ("plate.1002.exr", "png"), png_named_exr(plate(1002))),
    Case("plate-empty-file", "a 0-byte plate frame", V, 2, ("plate.1002.exr",), write_bytes(plate(1002), b"")),
    Case("plate-frame-missing", "frame 1003 deleted", V, 2, ("missing frames 1003",), remove(plate(1003))),
    Case("plate-frame-folder", "a folder named plate.1003.exr", V, 2, ("missing frames 1003",), folder_instead(plate(1003))),
    Case("plate-frame-dev-zero", "plate.1003.exr links to /dev/zero", V, 2, ("1003",), link_to(plate(1003), "/dev/zero"), guarded=True),
    Case("plate-luminance-only", "plates with only a Y channel (issue 11 #15)", V, 2, ("plate.1001.exr",), all_plates(luminance_only)),
    Case("plate-uint-rgb", "plates with uint R, G, B (issue 11 #15)", V, 2, ("plate.1001.exr",), all_plates(uint_rgb)),
    Case("plate-data-window-offset", "data windows inside the display window", V, 0, (), all_plates(offset_window)),
    Case("plate-tiled", "tiled plates", V, 0, (), all_plates(tiled)),
    Case("plate-dwaa", "DWAA plates", V, 0, (), all_plates(compressed("dwaa"))),
    Case("plate-piz", "PIZ plates", V, 0, (), all_plates(compressed("piz"))),
    Case("plate-stray-frame", "another size at 1006, outside the range", V, 0, (), plate_size(1006, (32, 24))),
    Case("headers-only-truncated", "--headers-only finds a truncated frame from its chunk table, decoding no pixels", (*V, "--headers-only"), 2, ("plate.1004.exr", "truncated"), truncate(plate(1004))),
    Case("reference-not-licensed", "a reference frame replaced by footage the licence does not list (issue 11 #9)", V, 2, ("ref.0002.exr", "does not list"), ref_pixels(2, darker)),
    Case("reference-not-licensed-track", "the same, for track", ("track", "{config}", "--keyring", "{keyring}"), 2, ("ref.0002.exr", "does not list"), ref_pixels(2, darker)),
    Case("reference-missing", "no actor reference frames", V, 2, ("ref.%04d.exr", "none in"), lambda shot: shutil.rmtree(shot.root / "ref")),
    Case("reference-truncated", "a truncated reference frame", V, 2, ("ref.0002.exr",), truncate(ref(2))),
    # stages: fail in their prelude, before heavy work
    Case("track-frames-garbage", "track --frames abc", (*TRACK, "--frames", "abc"), 2, ("--frames", "'abc'")),
    Case("render-frames-reversed", "render --frames 1005-1001", (*RENDER, "--frames", "1005-1001"), 2, ("--frames", "reversed")),
    Case("comp-frames-outside", "comp --frames 900-950", (*COMP, "--frames", "900-950"), 2, ("--frames", "900-950")),
    Case("comp-frames-huge", "comp --frames 1-99999999999", (*COMP, "--frames", "1-99999999999"), 2, ("--frames",)),
    Case("track-licence-without-train", "track under a licence without train", TRACK, 2, ("uses", "train"), relicence(uses=("render", "film"))),
    Case("render-licence-without-render", "render under a licence without render", RENDER, 2, ("uses", "render"), relicence(uses=("train", "film"))),
    Case("comp-licence-expired", "comp under an expired licence", COMP, 2, ("valid_until",), relicence(valid_from=TODAY - 60 * DAY, valid_until=TODAY - DAY)),
    Case("track-performer-frame-outside", "performer.frame 2000", TRACK, 2, ("sh010.yaml", "2000"), append("performer:\n  select: frame\n  frame: 2000\n")),
    Case("comp-before-render", "comp with no render version", COMP, 2, ("render version", "vfx-double render")),
    Case("render-before-train", "render with no training run", RENDER, 2, ("training run", "vfx-double train")),
    Case("train-before-track", "train with no faceset", TRAIN, 2, ("faceset", "vfx-double track")),
    Case("comp-elements-missing", "a render version without frame 1003", COMP, 2, ("missing frames 1003", "vfx-double render"), both(fake_render, remove(lambda s: work_area(s) / "render" / "v001" / "face.1003.exr"))),
    Case("comp-mix-nan-stage", "comp with comp.mix: .nan (issue 11, exit-1 list)", COMP, 2, ("sh010.yaml", "mix"), both(fake_render, append(COMP_NAN))),
    Case("comp-compression-bogus-stage", "comp with comp.compression: zipp (issue 11, exit-1 list)", COMP, 2, ("sh010.yaml", "zipp"), both(fake_render, append(BOGUS_COMPRESSION))),
    Case("comp-read-only-work-area", "comp into a read-only work area (issue 11, exit-1 list)", COMP, 2, ("sh010",), both(fake_render, read_only_work_area), drop_root=True),
    Case("render-device-bogus", "render --device bogus (issue 11, exit-1 list)", (*RENDER, "--device", "bogus"), 2, ("--device", "bogus")),
    Case("render-device-missing-gpu", "render --device cuda:3 (issue 11, exit-1 list)", (*RENDER, "--device", "cuda:3"), 2, ("cuda:3",)),
    Case("render-batch-zero", "render --batch 0", (*RENDER, "--batch", "0"), 2, ("--batch",)),
    Case("train-steps-option-zero", "train --steps 0", (*TRAIN, "--steps", "0"), 2, ("--steps",)),
    Case("track-luminance-only", "track over Y-only plates (issue 11 #15)", TRACK, 2, ("plate.1001.exr",), all_plates(luminance_only)),
    # audit log
    Case("audit-none", "audit verify before any stage ran", AUDIT, 2, ("audit.jsonl", "no such file")),
    Case("audit-intact", "audit verify on a good log", AUDIT, 0, (), audit_entries()),
    Case("audit-edited", "an entry edited", ("audit", "verify", "{audit}"), 2, ("audit.jsonl:1", "edited"), both(audit_entries(), audit_lines(lambda ls: [ls[0].replace(b"stage0", b"stagX"), *ls[1:]]))),
    Case("audit-torn-line", "half a line at the end (disk full)", AUDIT, 2, ("audit.jsonl:3", "incomplete"), both(audit_entries(), truncate(audit_path, 0.9))),
    Case("audit-tail-removed", "the last line removed", AUDIT, 2, ("audit.jsonl:3", "removed"), both(audit_entries(), audit_lines(lambda ls: ls[:-1]))),
    Case("audit-reordered", "two lines swapped", AUDIT, 2, ("audit.jsonl:1", "seq"), both(audit_entries(), audit_lines(lambda ls: [ls[1], ls[0], ls[2]]))),
    Case("audit-garbage-line", "a line that is not JSON", AUDIT, 2, ("audit.jsonl:2", "valid JSON"), both(audit_entries(), audit_lines(lambda ls: [ls[0], b"{oops", ls[2]]))),
    Case("audit-head-deleted", "audit.head.json deleted", AUDIT, 2, ("audit.head.json",), both(audit_entries(), remove(audit_head))),
    Case("audit-rewritten", "an entry edited and every hash recomputed, the studio audit key set", AUDIT, 2, ("audit.head.json", "signature"), both(signed_audit_entries, audit_rewritten), env={"VFX_DOUBLE_AUDIT_KEY": "{root}/auditkeys/studio-audit.key"}),
    Case("audit-rewritten-no-key", "the same rewrite where no audit key is set: verify passes but says the log is unsigned (the documented limit)", AUDIT, 0, (), both(audit_entries(), audit_rewritten)),
    Case("audit-verify-folder", "audit verify on a folder (issue 11, exit-1 list)", ("audit", "verify", "{work}"), 2, ("sh010",), mkdir(work_area)),
    Case("audit-verify-licence", "audit verify on a licence file", ("audit", "verify", "{licence}"), 2, ("test.licence.json",)),
    Case("audit-dev-zero", "audit.jsonl links to /dev/zero", AUDIT, 2, ("audit.jsonl",), both(mkdir(work_area), link_to(audit_path, "/dev/zero")), guarded=True),
    Case("audit-head-dev-zero", "audit.head.json links to /dev/zero", AUDIT, 2, ("audit.head.json",), both(audit_entries(), link_to(audit_head, "/dev/zero")), guarded=True),
    # import-video
    Case("import-video-missing", "a clip that is not there", ("import-video", "{root}/nope.mp4", "{root}/in/p.####.exr"), 2, ("nope.mp4",)),
    Case("import-video-not-video", "a text file named .mp4", ("import-video", "{root}/fake.mp4", "{root}/in/p.####.exr"), 2, ("fake.mp4",), fake_video),
    Case("import-video-fit-alone", "--fit without --size", ("import-video", "{root}/fake.mp4", "{root}/in/p.####.exr", "--fit", "pad"), 2, ("--fit",), fake_video),
    Case("import-video-size-zero", "--size 0x720", ("import-video", "{root}/fake.mp4", "{root}/in/p.####.exr", "--size", "0x720"), 2, ("--size", "0x720"), fake_video),
    Case("import-video-no-token", "an output pattern without a frame token", ("import-video", "{root}/fake.mp4", "{root}/in/p.exr"), 2, ("frame token",), fake_video),
]
