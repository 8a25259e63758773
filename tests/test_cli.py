"""The CLI contract: exit 0 / 2 / 1 and a one-line error for each kind of bad input."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from vfx_double.cli import main

from .shots import MiniShot, issue_licence, make_shot


@pytest.fixture
def shot(tmp_path: Path) -> MiniShot:
    return make_shot(tmp_path)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def fails(capsys: pytest.CaptureFixture[str], shot: MiniShot, *words: str) -> str:
    code, _, err = run(capsys, "validate", shot.config, "--keyring", shot.keyring)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1, err
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def test_valid_shot_passes(capsys: pytest.CaptureFixture[str], shot: MiniShot) -> None:
    code, out, err = run(capsys, "validate", shot.config, "--keyring", shot.keyring)
    assert code == 0, err
    assert "OK (SHOW/sh010)" in out
    assert "5 frames 1001-1005, 64x48" in out and "TEST-0001" in out


def test_validate_writes_nothing(capsys: pytest.CaptureFixture[str], shot: MiniShot) -> None:
    before = sorted(p for p in shot.root.rglob("*"))
    assert run(capsys, "validate", shot.config, "--keyring", shot.keyring)[0] == 0
    assert sorted(p for p in shot.root.rglob("*")) == before


def test_yaml_syntax_error(capsys, shot: MiniShot) -> None:
    shot.edit("frames: [1001, 1005]", "frames: [1001, 1005")
    fails(capsys, shot, f"{shot.config}:", "valid YAML")


def test_unknown_key_with_line_and_nearest(capsys, shot: MiniShot) -> None:
    shot.edit("  colourspace: ACEScg", "  colorspace: ACEScg")
    fails(capsys, shot, f"{shot.config}:14", "unknown key 'colorspace'", "'colourspace'")


def test_wrong_type(capsys, shot: MiniShot) -> None:
    shot.edit("shot: sh010", "shot: [sh010]")
    fails(capsys, shot, f"{shot.config}:3", "shot as a non-empty string")


def test_reversed_frame_range(capsys, shot: MiniShot) -> None:
    shot.edit("[1001, 1005]", "[1005, 1001]")
    fails(capsys, shot, f"{shot.config}:7", "reversed")


def test_plate_pattern_matching_nothing(capsys, shot: MiniShot) -> None:
    shot.edit("plate.####.exr", "plates.####.exr")
    fails(capsys, shot, f"{shot.config}:6", "plates.####.exr", "none in")


def test_missing_frames_listed_compactly(capsys, shot: MiniShot) -> None:
    shot.edit("[1001, 1005]", "[1001, 1009]")
    (shot.plate_dir / "plate.1003.exr").unlink()
    fails(capsys, shot, "missing frames 1003, 1006-1009")


def test_truncated_exr_names_the_frame(capsys, shot: MiniShot) -> None:
    frame = shot.plate_dir / "plate.1004.exr"
    data = frame.read_bytes()
    frame.write_bytes(data[: len(data) * 6 // 10])
    fails(capsys, shot, "plate.1004.exr")


def test_unknown_colourspace_suggests_nearest(capsys, shot: MiniShot) -> None:
    shot.edit("colourspace: ACEScg", "colourspace: ACEScgg")
    fails(capsys, shot, f"{shot.config}:14", "'ACEScgg'", "ACEScg")


def test_unreadable_ocio_config(capsys, shot: MiniShot) -> None:
    bad = shot.root / "broken.ocio"
    bad.write_text("this is: [not an ocio config\n")
    shot.edit("plate:\n", "colour:\n  config: ../../broken.ocio\nplate:\n")
    fails(capsys, shot, "broken.ocio")


def test_licence_missing(capsys, shot: MiniShot) -> None:
    shot.licence.unlink()
    fails(capsys, shot, "test.licence.json")


def test_licence_edited_after_signing(capsys, shot: MiniShot) -> None:
    record = json.loads(shot.licence.read_text())
    record["licence"]["shows"] = ["SHOW", "OTHER"]
    shot.licence.write_text(json.dumps(record))
    fails(capsys, shot, "test.licence.json", "signature")


def test_licence_expired(capsys, shot: MiniShot) -> None:
    today = dt.date.today()
    issue_licence(shot.key, shot.licence, valid_from=today - dt.timedelta(days=60),
                  valid_until=today - dt.timedelta(days=1))
    fails(capsys, shot, "valid_until")


def test_licence_not_yet_valid(capsys, shot: MiniShot) -> None:
    today = dt.date.today()
    issue_licence(shot.key, shot.licence, valid_from=today + dt.timedelta(days=3),
                  valid_until=today + dt.timedelta(days=30))
    fails(capsys, shot, "valid_from")


def test_licence_for_another_show(capsys, shot: MiniShot) -> None:
    issue_licence(shot.key, shot.licence, shows=("OTHER",))
    fails(capsys, shot, "shows", "SHOW")


def test_licence_without_the_needed_use(capsys, shot: MiniShot) -> None:
    issue_licence(shot.key, shot.licence, uses=("train", "render", "advertising"))
    fails(capsys, shot, "uses", "film")


def test_licence_for_another_actor(capsys, shot: MiniShot) -> None:
    issue_licence(shot.key, shot.licence, actor="Somebody Else (synthetic)")
    fails(capsys, shot, "actor", "Somebody Else")


def test_licence_signed_by_unknown_key(capsys, shot: MiniShot, tmp_path: Path) -> None:
    from vfx_double.keyring import keygen

    rogue, _ = keygen(tmp_path / "rogue", "test-issuer")
    issue_licence(rogue, shot.licence)
    fails(capsys, shot, "test.licence.json", "signature")


def test_keyring_cannot_come_from_the_shot_yaml(capsys, shot: MiniShot) -> None:
    shot.edit("plate:\n", "keyring: ../../keyring\nplate:\n")
    fails(capsys, shot, "unknown key 'keyring'")


def test_usage_error_exits_2(capsys) -> None:
    code, _, err = run(capsys, "validate")
    assert code == 2 and "Missing argument" in err


def test_help_everywhere(capsys) -> None:
    for args in ([], ["validate"], ["demo"], ["licence"], ["licence", "issue"], ["audit", "verify"],
                 ["import-video"]):
        code, out, _ = run(capsys, *args, "--help")
        assert code == 0 and "Usage: vfx-double" in out


def test_licence_commands_round_trip(capsys, tmp_path: Path) -> None:
    assert run(capsys, "licence", "keygen", "--out", tmp_path / "k", "--key-id", "legal")[0] == 0
    ring = tmp_path / "ring"
    ring.mkdir()
    (ring / "legal.pub").write_bytes((tmp_path / "k" / "legal.pub").read_bytes())
    out_file = tmp_path / "l.json"
    from .shots import write_frames

    write_frames(tmp_path / "ref", "ref", range(1, 4))
    code, out, err = run(capsys, "licence", "issue", "--key", tmp_path / "k" / "legal.key",
                         "--out", out_file, "--licence-id", "L-1", "--actor", "Synthetic A",
                         "--licensor", "A", "--licensee", "Studio", "--show", "SHOW",
                         "--use", "train", "--valid-from", "2026-01-01", "--valid-until", "2027-01-01",
                         "--media", tmp_path / "ref" / "ref.####.exr")
    assert code == 0 and "for 3 reference media files" in out, err
    code, out, err = run(capsys, "licence", "verify", out_file, "--keyring", ring, "--show", "SHOW",
                         "--use", "train", "--date", "2026-06-01")
    assert code == 0 and "valid signature by legal" in out, err
    code, _, err = run(capsys, "licence", "verify", out_file, "--keyring", ring, "--show", "SHOW",
                       "--use", "render", "--date", "2026-06-01")
    assert code == 2 and "uses" in err


def test_audit_verify_cli(capsys, shot: MiniShot) -> None:
    from vfx_double.audit import AuditLog
    from vfx_double.config import load
    from vfx_double.workarea import WorkArea

    path = WorkArea(load(shot.config).shot_dir).audit_path
    code, _, err = run(capsys, "audit", "verify", shot.config)
    assert code == 2 and "audit.jsonl" in err
    log = AuditLog(path)
    for stage in ("track", "train"):
        log.append(stage, inputs={}, outputs={"x": "0" * 64}, licence_id="TEST-0001", config_hash=None)
    code, out, _ = run(capsys, "audit", "verify", shot.config)
    assert code == 0 and "2 entries, chain intact" in out
    lines = path.read_text().splitlines()
    path.write_text(lines[0].replace("track", "trakk") + "\n" + lines[1] + "\n")
    code, _, err = run(capsys, "audit", "verify", path)
    assert code == 2 and "audit.jsonl:1 (field hash)" in err and "edited" in err


def test_ctrl_c_exits_130_with_one_line(capsys, shot: MiniShot, monkeypatch) -> None:
    import vfx_double.validate

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(vfx_double.validate, "validate", interrupted)
    code, _, err = run(capsys, "validate", str(shot.config), "--keyring", str(shot.keyring))
    assert code == 130 and err.strip().splitlines() == [
        "vfx-double: interrupted; rerun the same command to resume"]


def test_sigterm_exits_143_with_one_line(capsys, shot: MiniShot, monkeypatch) -> None:
    import vfx_double.validate
    from vfx_double import cli

    def terminated(*args, **kwargs):
        cli._on_sigterm(15, None)  # what the handler run() installs does

    monkeypatch.setattr(vfx_double.validate, "validate", terminated)
    code, _, err = run(capsys, "validate", str(shot.config), "--keyring", str(shot.keyring))
    assert code == 143 and err.strip().splitlines() == [
        "vfx-double: terminated (SIGTERM); rerun the same command to resume"]
