"""A small valid shot on disk for CLI and validation tests: tiny synthetic EXR frames,
a test issuer key in its own keyring, a signed licence for a synthetic actor."""

from __future__ import annotations

import datetime as dt
import shutil
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vfx_double import licence
from vfx_double.io.exr import ExrImage, write_exr
from vfx_double.keyring import keygen

ACTOR = "Test Actor (synthetic)"
KEY_ID = "test-issuer"


@dataclass
class MiniShot:
    root: Path
    config: Path
    keyring: Path
    key: Path
    licence: Path
    plate_dir: Path

    def approve(self, *patterns: str | Path) -> None:
        """Re-issue the licence for this reference footage (frame patterns or files)."""
        issue_licence(self.key, self.licence, media=licence.media_digests(patterns))

    def edit(self, old: str, new: str) -> None:
        text = self.config.read_text()
        assert old in text, f"{old!r} not in the test config"
        self.config.write_text(text.replace(old, new, 1))


def write_frames(folder: Path, name: str, frames: range, size: tuple[int, int] = (64, 48)) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    w, h = size
    for frame in frames:
        pixels = (0.3 + 0.3 * rng.random((h, w, 3))).astype(np.float16)
        write_exr(folder / f"{name}.{frame:04d}.exr",
                  ExrImage(pixels=pixels, channels=("R", "G", "B"), data_window=(0, 0, w, h),
                           display_window=(0, 0, w, h), attributes=[], compression="zip"))


def issue_licence(key: Path, out: Path, *, shows=("SHOW",), uses=licence.USES,
                  valid_from: dt.date | None = None, valid_until: dt.date | None = None,
                  actor: str = ACTOR, licence_id: str = "TEST-0001",
                  media: tuple[str, ...] | None = None) -> Path:
    """A licence for the synthetic actor; ``media`` defaults to every reference frame of
    the MiniShot laid out around ``out`` (``<root>/licences/x.json`` -> ``<root>/ref``)."""
    if media is None:
        ref = out.parent.parent / "ref"
        media = licence.media_digests([ref / "ref.####.exr"]) if ref.is_dir() else ()
    today = dt.date.today()
    record = licence.Licence(
        licence_id=licence_id, actor=actor, licensor="synthetic licensor",
        licensee="test studio", shows=tuple(shows), uses=tuple(uses),
        valid_from=valid_from or today - dt.timedelta(days=10),
        valid_until=valid_until or today + dt.timedelta(days=30),
        issuer_key_id=KEY_ID, notes="test licence for a synthetic identity", media=media)
    if out.exists():
        out.unlink()
    return licence.issue(record, key, out)


def make_shot(root: Path) -> MiniShot:
    keys = root / "keys"
    private, public = keygen(keys, KEY_ID)
    keyring = root / "keyring"
    keyring.mkdir()
    shutil.copy(public, keyring / public.name)
    plate_dir = root / "plates"
    write_frames(plate_dir, "plate", range(1001, 1006))
    write_frames(root / "ref", "ref", range(1, 4))
    lic = issue_licence(private, root / "licences" / "test.licence.json")
    config = root / "shots" / "SHOW" / "sh010.yaml"
    config.parent.mkdir(parents=True)
    config.write_text(textwrap.dedent(f"""\
        schema: ShotConfig.2
        show: SHOW
        shot: sh010
        work_root: ../../work
        plate:
          path: ../../plates/plate.####.exr
          frames: [1001, 1005]
          colourspace: ARRI LogC3 (EI800)
        actor:
          name: {ACTOR}
          licence: ../../licences/test.licence.json
          reference:
            path: ../../ref/ref.%04d.exr
            colourspace: ACEScg
        """))
    return MiniShot(root, config, keyring, private, lic, plate_dir)
