"""One saved file per schema version: today's loaders must still read each of them."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from vfx_double import audit, config, licence

BASELINES = Path(__file__).parent / "baselines"


def test_shot_config_1() -> None:
    cfg = config.load(BASELINES / "shots" / "BASE" / "ShotConfig.1.yaml")
    assert (cfg.show, cfg.shot, cfg.plate.frames, cfg.track.smoothing) == ("BASE", "sh010", (1001, 1010), 0.4)
    assert cfg.actor.licence == BASELINES / "SignedLicence.1.json"
    # version 1 smoothed tracks at review.fps: upgraded, that is the footage's rate
    assert (cfg.plate.fps, cfg.actor.reference.fps, cfg.review_fps) == (25.0, 25.0, 25.0)
    assert cfg.raw["schema"] == "ShotConfig.1" and "fps" not in cfg.raw["plate"]


def test_shot_config_2() -> None:
    cfg = config.load(BASELINES / "shots" / "BASE" / "ShotConfig.2.yaml")
    assert (cfg.shot, cfg.plate.fps, cfg.actor.reference.fps) == ("sh020", 23.976, 30.0)
    assert cfg.review.fps is None and cfg.review_fps == 23.976


def test_signed_licence_1() -> None:
    lic = licence.verify(BASELINES / "SignedLicence.1.json", licence.load_keyring(BASELINES / "keyring"))
    assert lic.licence_id == "BASELINE-0001" and lic.uses == ("train", "render")
    licence.require(lic, "BASE", "train", dt.date(2026, 6, 1))


def test_audit_entry_1(tmp_path: Path) -> None:
    shutil.copytree(BASELINES / "audit", tmp_path / "audit")
    assert audit.verify(tmp_path / "audit" / "AuditEntry.1.jsonl") == 2
