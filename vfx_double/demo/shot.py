"""``vfx-double demo``: build the demo shot on a fresh machine and run what exists.

Everything comes from installed packages: the face is scikit-image's public-domain
``astronaut`` photo, and performer and actor are the same person (a same-identity demo),
so no real person's face is ever put on another's. Every file it makes says it is a demo.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import textwrap
from dataclasses import dataclass
from pathlib import Path

from .. import licence as licence_mod
from ..color import DEFAULT_CONFIG, ColourConfig
from ..errors import LicenceError
from ..io import atomic
from ..io.sequences import FrameSequence
from ..keyring import keygen, load_keyring
from ..progress import ProgressFn
from ..provenance.signing import TRUST_FILE, make_local_ca
from .plates import build_world, demo_moves, write_demo_sequence

SHOW, SHOT = "DEMO", "sh010"
ACTOR = "Demo Actor (astronaut photo, public domain)"
KEY_ID = "demo-issuer"
PLATE_SPACE = "ARRI LogC3 (EI800)"
FIRST_FRAME = 1001
FRAME_SIZE = (1920, 1080)
LABEL = "DEMO: synthetic plate built from scikit-image 'astronaut' (public domain)"



@dataclass(frozen=True)
class DemoShot:
    root: Path
    config: Path
    keyring: Path
    #: the demo's C2PA signing folder (chain.pem, key.pem), from a demo CA whose root the
    #: demo keyring trusts
    signing: Path
    plate: Path
    reference: Path
    licence: Path
    frames: tuple[int, int]


def layout(root: Path, frames: int) -> DemoShot:
    return DemoShot(
        root=root,
        config=root / "shot_configs" / SHOW / f"{SHOT}.yaml",
        keyring=root / "keyring",
        signing=root / "c2pa" / "signing",
        plate=root / "plates" / SHOT / f"{SHOT}_plate.####.exr",
        reference=root / "actor" / "demo_actor" / "ref.####.exr",
        licence=root / "licences" / "demo_actor.licence.json",
        frames=(FIRST_FRAME, FIRST_FRAME + frames - 1),
    )


def build(root: Path, frames: int = 48, today: dt.date | None = None,
          progress: ProgressFn | None = None, train_steps: int | None = None) -> DemoShot:
    """Write (or complete) the demo shot under ``root``; existing frames and keys are kept.
    ``train_steps`` goes into the shot config as ``train.steps`` (a farm job's training
    task runs to the config's target; None: the preset's)."""
    root = root.absolute()
    shot = layout(root, frames)
    colour = ColourConfig.load(DEFAULT_CONFIG)
    frame_list = list(range(shot.frames[0], shot.frames[1] + 1))
    world = build_world(colour, face_height=FRAME_SIZE[1] / 4.0)
    plate_move, actor_move = demo_moves(world, FRAME_SIZE)
    truth = {}
    for name, pattern, move, seed in (("plate", shot.plate, plate_move, 1),
                                      ("reference", shot.reference, actor_move, 2)):
        seq = FrameSequence(str(pattern), shot.frames)
        todo = seq.missing(frame_list)
        if progress:
            progress(len(frame_list) - len(todo))
        # The matrices depend on the whole range, so they are computed for every frame and
        # only the missing frames are written (a rerun resumes).
        truth[name] = write_demo_sequence(seq, world, move, frame_list, FRAME_SIZE, colour,
                                          PLATE_SPACE, LABEL, seed, progress=progress,
                                          only=set(todo))
    # The licence names the reference footage it approves, so it is issued once that is on disk.
    _write_keys_and_licence(shot, today or dt.date.today())
    atomic.write_json(root / "truth" / "camera.json", {
        "schema": "DemoTruth.1",
        "note": "source->plate 2x3 matrices: astronaut (512x512) pixels to plate pixels",
        "frame_size": list(FRAME_SIZE),
        **{name: {str(k): v for k, v in m.items()} for name, m in truth.items()},
    })
    _write_configs(shot, train_steps)
    return shot


def _write_keys_and_licence(shot: DemoShot, today: dt.date) -> None:
    keys = shot.root / "keys"
    private = keys / f"{KEY_ID}.key"
    if not private.exists():
        keygen(keys, KEY_ID)
    ring_key = shot.keyring / f"{KEY_ID}.pub"
    if not ring_key.exists():
        atomic.write_bytes(ring_key, (keys / f"{KEY_ID}.pub").read_bytes())
    if not shot.signing.exists():
        make_local_ca(shot.signing.parent, name="vfx_double DEMO studio (not a real CA)")
    trusted = shot.keyring / TRUST_FILE
    if not trusted.exists():
        atomic.write_bytes(trusted, (shot.signing.parent / TRUST_FILE).read_bytes())
    if shot.licence.exists():
        try:
            lic = licence_mod.verify(shot.licence, load_keyring(shot.keyring))
            licence_mod.require(lic, SHOW, "train", today)
            licence_mod.require_media(lic, _reference_files(shot))
            return
        except LicenceError:
            # An expired demo licence is replaced, never an earlier file overwritten.
            shot.licence.rename(shot.licence.with_suffix(f".expired-{today:%Y%m%d}.json"))
    lic = licence_mod.Licence(
        licence_id=f"DEMO-{today:%Y%m%d}",
        actor=ACTOR,
        licensor="vfx_double demo (no real likeness is licensed)",
        licensee="vfx_double demo studio",
        shows=(SHOW,),
        uses=licence_mod.USES,
        valid_from=today - dt.timedelta(days=1),
        valid_until=today + dt.timedelta(days=365),
        issuer_key_id=KEY_ID,
        notes="DEMO LICENCE: for the synthetic demo shot only; not valid for production",
        media=licence_mod.media_digests([shot.reference]),
    )
    licence_mod.issue(lic, private, shot.licence)


def _write_configs(shot: DemoShot, train_steps: int | None = None) -> None:
    show_dir = shot.config.parent

    def rel(path: Path) -> str:
        return os.path.relpath(path, show_dir)

    show_yaml = textwrap.dedent(f"""\
        # DEMO show defaults: every shot of show {SHOW} starts from these.
        schema: ShowDefaults.1
        show: {SHOW}
        use: film
        work_root: {rel(shot.root / 'work')}
        colour:
          config: {DEFAULT_CONFIG}
          working: ACEScg
          network: ACEScct
        """)
    shot_yaml = textwrap.dedent(f"""\
        # DEMO shot: synthetic plates of a public-domain photo; performer and actor are the
        # same person (same-identity demo). Paths are relative to this file.
        schema: ShotConfig.2
        shot: {SHOT}
        plate:
          path: {rel(shot.plate)}
          frames: [{shot.frames[0]}, {shot.frames[1]}]
          colourspace: {PLATE_SPACE}
        actor:
          name: {json.dumps(ACTOR)}
          licence: {rel(shot.licence)}
          reference:
            path: {rel(shot.reference)}
            frames: [{shot.frames[0]}, {shot.frames[1]}]
            colourspace: {PLATE_SPACE}
        performer:
          select: largest
        """)
    if train_steps:
        shot_yaml += f"train:\n  steps: {train_steps}  # the demo's short cpu-tiny run\n"
    for path, text in ((show_dir / "_show.yaml", show_yaml), (shot.config, shot_yaml)):
        # A config the user has edited is theirs: it is never replaced.
        if not path.exists():
            atomic.write_text(path, text)
    readme = shot.root / "README.txt"
    if not readme.exists():
        atomic.write_text(readme, textwrap.dedent(f"""\
            vfx_double DEMO shot: everything here is synthetic and labelled as such.
            Plates: scikit-image 'astronaut' (public domain) on a wall, filmed by a virtual
            camera, {PLATE_SPACE}, half-float EXR. Licence and keys are demo-only.

            Try:
              export VFX_DOUBLE_KEYRING={shot.keyring}
              vfx-double validate {shot.config}
            """))


def _reference_files(shot: DemoShot) -> list[tuple[int, Path]]:
    seq = FrameSequence(str(shot.reference), shot.frames)
    return [(f, seq.path(f)) for f in seq.existing()]
