"""The audit log under a full disk, a crash mid-append, a rewrite with the chain rehashed,
and a deletion: all-or-nothing appends, the signed head, versions without a record."""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import pytest

from vfx_double import audit
from vfx_double.audit_entries import chained, entry_hash
from vfx_double.audit_signing import AUDIT_KEY_ENV, pending_record
from vfx_double.cli import main
from vfx_double.errors import AuditError
from vfx_double.io import atomic
from vfx_double.keyring import keygen
from vfx_double.records import canonical_json

H = "ab" * 32
BASELINE = Path(__file__).parent / "baselines" / "audit"


@pytest.fixture(autouse=True)
def no_audit_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(AUDIT_KEY_ENV, raising=False)


def add(log: audit.AuditLog, stage: str = "render", version: str = "v001") -> dict:
    return log.append(stage, inputs={"plate": H}, outputs={stage: H}, licence_id="L-0001",
                      config_hash=H, extra={"version": version})


@pytest.fixture
def log(tmp_path: Path) -> audit.AuditLog:
    log = audit.AuditLog(tmp_path / "work" / "SHOW" / "sh010" / "audit.jsonl")
    for stage in ("track", "train", "render"):
        add(log, stage)
    return log


def snapshot(log: audit.AuditLog) -> tuple[bytes, bytes]:
    return log.path.read_bytes(), log.head_path.read_bytes()


def enospc(*_: object) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def message(info: pytest.ExceptionInfo) -> str:
    return str(info.value)


# --- case 3: a full disk -----------------------------------------------------------------------

def test_enospc_mid_line_truncates_back_and_the_next_append_records_it(
        log: audit.AuditLog, monkeypatch: pytest.MonkeyPatch) -> None:
    before = snapshot(log)
    real_write = os.write

    def half_then_full(fd: int, data: bytes) -> int:
        if os.readlink(f"/proc/self/fd/{fd}") == str(log.path):
            monkeypatch.setattr(os, "write", enospc)
            return real_write(fd, bytes(data[:len(data) // 2]))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(AuditError) as info:
        add(log, "comp", "v004")
    monkeypatch.setattr(os, "write", real_write)
    text = message(info)
    assert "comp outputs were written but not recorded" in text
    assert "rerun the same command: it records them" in text and "No space left" in text
    assert "\n" not in text
    assert snapshot(log) == before, "the log and head must be exactly as before the append"
    # The pending entry is reported, and the next append (any stage) records it first.
    with pytest.raises(AuditError, match="interrupted.*--repair"):
        audit.verify(log.path)
    add(log, "render", "v005")
    stages = [json.loads(line)["stage"] for line in log.path.read_text().splitlines()]
    assert stages == ["track", "train", "render", "comp", "render"]
    assert audit.verify(log.path) == 5
    assert not log.pending_path.exists()


def test_disk_full_for_everything_leaves_the_log_valid(
        log: audit.AuditLog, monkeypatch: pytest.MonkeyPatch) -> None:
    before = snapshot(log)
    monkeypatch.setattr(atomic, "write_bytes", enospc)
    with pytest.raises(AuditError, match="written but not recorded; free disk space"):
        add(log, "comp")
    monkeypatch.undo()
    assert snapshot(log) == before and not log.pending_path.exists()
    assert audit.verify(log.path) == 3
    add(log, "comp")  # the rerun records
    assert audit.verify(log.path) == 4


def test_a_stage_on_a_full_disk_fails_in_one_line_and_its_rerun_records(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.shots import make_shot
    from vfx_double.shot import open_shot

    mini = make_shot(tmp_path)
    shot = open_shot(mini.config, uses=("render", "use"), keyring=mini.keyring)
    shot.audit("track", inputs={}, outputs={}, extra={"track_version": "v001"})
    monkeypatch.setattr(os, "write", enospc)
    monkeypatch.setattr(atomic, "write_bytes", enospc)
    with pytest.raises(AuditError) as info:
        shot.audit("render", inputs={}, outputs={"options": H}, extra={"version": "v001"})
    monkeypatch.undo()
    assert info.value.exit_code == 2 and "\n" not in message(info)
    assert "the render outputs were written but not recorded" in message(info)
    assert audit.verify(shot.area.audit_path) == 1
    shot.audit("render", inputs={}, outputs={"options": H}, extra={"version": "v001"})
    assert audit.verify(shot.area.audit_path) == 2


def test_fsync_failure_of_the_log_rolls_back(log: audit.AuditLog,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    before = snapshot(log)
    real_fsync = os.fsync

    def failing(fd: int) -> None:
        if os.readlink(f"/proc/self/fd/{fd}") == str(log.path):
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", failing)
    with pytest.raises(AuditError, match="Input/output error"):
        add(log, "comp")
    monkeypatch.undo()
    assert snapshot(log) == before
    assert audit.AuditLog(log.path).repair() == [
        "appended entry seq 3 (comp) from audit.pending.json"]
    assert audit.verify(log.path) == 4


def test_head_write_failure_truncates_the_line(log: audit.AuditLog,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    before = snapshot(log)
    real = atomic.write_json

    def full_for_head(target: Path, obj: object, **kw: object) -> None:
        if Path(target) == log.head_path:
            enospc()
        real(target, obj, **kw)

    monkeypatch.setattr(atomic, "write_json", full_for_head)
    with pytest.raises(AuditError, match="not recorded"):
        add(log, "comp")
    monkeypatch.undo()
    assert snapshot(log) == before


# --- case 3: a crash at any point ---------------------------------------------------------

def crashed_append(log: audit.AuditLog, step: str) -> dict:
    """The files as a kill at ``step`` of an append leaves them (no rollback ran)."""
    log_bytes, head_bytes = snapshot(log)
    entry = add(log, "comp", "v009")
    line = log.path.read_bytes()[len(log_bytes):]
    atomic.write_bytes(log.pending_path, canonical_json(pending_record(entry, None)))
    if step in ("torn", "no line"):
        log.path.write_bytes(log_bytes + (line[:37] if step == "torn" else b""))
    if step != "no pending removal":
        log.head_path.write_bytes(head_bytes)
    return entry


@pytest.mark.parametrize("step", ["no line", "torn", "no head", "no pending removal"])
def test_a_kill_at_any_step_is_finished_by_repair(log: audit.AuditLog, step: str) -> None:
    entry = crashed_append(log, step)
    with pytest.raises(AuditError, match="interrupted"):
        audit.verify(log.path)
    assert log.repair()
    assert audit.verify(log.path) == 4
    assert json.loads(log.path.read_text().splitlines()[-1]) == entry
    assert not log.pending_path.exists() and log.repair() == []


def test_a_kill_is_also_finished_by_the_next_stage(log: audit.AuditLog) -> None:
    crashed_append(log, "torn")
    add(log, "review")
    assert audit.verify(log.path) == 5


def test_partial_line_from_an_older_version_is_reported_and_repaired(
        log: audit.AuditLog, capsys: pytest.CaptureFixture[str]) -> None:
    good = log.path.read_bytes()
    log.path.write_bytes(good + b'{"config_hash":"abab')  # head still names the last line
    assert main(["audit", "verify", str(log.path)]) == 2
    err = capsys.readouterr().err
    assert "audit.jsonl:4" in err and "incomplete last line (20 bytes)" in err
    assert "--repair" in err and len(err.strip().splitlines()) == 1
    assert main(["audit", "verify", "--repair", str(log.path)]) == 0
    out = capsys.readouterr().out
    assert "removed 20 bytes of an unfinished line" in out and "3 entries, chain intact" in out
    assert log.path.read_bytes() == good
    # Appending repairs it automatically too.
    log.path.write_bytes(good + b'{"conf')
    add(log, "comp")
    assert audit.verify(log.path) == 4


def test_partial_line_after_a_removed_entry_is_not_repaired(log: audit.AuditLog) -> None:
    log.path.write_bytes(log.path.read_bytes()[:-10])  # the head names the cut line
    for attempt in (log.repair, lambda: add(log, "comp"), lambda: audit.verify(log.path)):
        with pytest.raises(AuditError, match="restore it from backup|edited"):
            attempt()


def test_a_pending_entry_that_does_not_fit_is_refused(log: audit.AuditLog) -> None:
    crashed_append(log, "no line")
    rows = log.path.read_bytes().splitlines(keepends=True)
    log.path.write_bytes(b"".join(rows[:2]))  # and the last committed line removed
    with pytest.raises(AuditError, match="removed"):
        log.repair()
    assert log.pending_path.exists()


# --- case 8: a rewritten log, a deleted one ---------------------------------------------------

@pytest.fixture
def key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    private, _ = keygen(tmp_path / "keys", "studio-audit")
    monkeypatch.setenv(AUDIT_KEY_ENV, str(private))
    return private


def rewrite_and_rehash(log: audit.AuditLog) -> None:
    """Edit entry 1 and recompute the chain and the head, keeping the head's other fields."""
    entries = [json.loads(line) for line in log.path.read_text().splitlines()]
    entries[1]["licence_id"] = "FORGED"
    prev = entries[0]["hash"]
    for entry in entries[1:]:
        entry["prev"] = prev
        entry["hash"] = prev = entry_hash(entry)
    log.path.write_bytes(b"".join(canonical_json(e) + b"\n" for e in entries))
    head = json.loads(log.head_path.read_text())
    head["hash"] = prev
    log.head_path.write_text(json.dumps(head))


def test_rewrite_and_rehash_is_caught_with_the_key(key: Path, log: audit.AuditLog) -> None:
    report = audit.check(log.path)
    assert report.entries == 3 and "signed by audit key 'studio-audit' (signature checked)" \
        in report.signature
    rewrite_and_rehash(log)
    with pytest.raises(AuditError, match=r"signature.*does not match.*rewritten"):
        audit.verify(log.path)
    with pytest.raises(AuditError, match="rewritten"):
        add(log, "comp")  # the next stage must not sign the forgery


def test_signature_removed_is_caught(key: Path, log: audit.AuditLog) -> None:
    rewrite_and_rehash(log)
    head = json.loads(log.head_path.read_text())
    log.head_path.write_text(json.dumps({"schema": "AuditHead.1", "seq": head["seq"],
                                         "hash": head["hash"]}))
    with pytest.raises(AuditError, match="signature by audit key 'studio-audit'.*found none"):
        audit.verify(log.path)


def test_a_forged_unsigned_pending_entry_is_refused(key: Path, log: audit.AuditLog,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(AUDIT_KEY_ENV)
    forged = chained(json.loads(log.path.read_text().splitlines()[-1]), {
        "time": "2026-01-01T00:00:00+00:00", "user": "x", "host": "x", "stage": "train",
        "inputs": {}, "outputs": {}, "licence_id": "FORGED", "config_hash": None, "extra": {}})
    atomic.write_bytes(log.pending_path, canonical_json(pending_record(forged, None)))
    monkeypatch.setenv(AUDIT_KEY_ENV, str(key))
    with pytest.raises(AuditError, match="pending.json.*signature"):
        add(log, "comp")


def test_public_key_verifies_but_does_not_append(key: Path, log: audit.AuditLog,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(AUDIT_KEY_ENV, str(key.with_suffix(".pub")))
    assert "signature checked" in audit.check(log.path).signature
    with pytest.raises(AuditError, match="public key only"):
        add(log, "comp")


def test_another_key_is_named(key: Path, log: audit.AuditLog, tmp_path: Path,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    other, _ = keygen(tmp_path / "other", "other-key")
    monkeypatch.setenv(AUDIT_KEY_ENV, str(other))
    with pytest.raises(AuditError, match="'other-key'.*found one by 'studio-audit'"):
        audit.verify(log.path)


def test_existing_unsigned_log_verifies_without_key_and_is_signed_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copytree(BASELINE, tmp_path / "audit")
    path = tmp_path / "audit" / "AuditEntry.1.jsonl"
    assert main(["audit", "verify", str(path)]) == 0
    out = capsys.readouterr().out
    assert "2 entries, chain intact; unsigned" in out and "cannot be detected" in out
    private, _ = keygen(tmp_path / "keys", "studio-audit")
    monkeypatch.setenv(AUDIT_KEY_ENV, str(private))
    assert main(["audit", "verify", str(path)]) == 2
    assert "--sign" in capsys.readouterr().err
    assert main(["audit", "verify", "--sign", str(path)]) == 0
    assert "signature checked" in capsys.readouterr().out
    assert audit.AuditLog(path).sign() is False
    add(audit.AuditLog(path), "comp")
    assert audit.verify(path) == 3


def test_bad_audit_key_setting(log: audit.AuditLog, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(AUDIT_KEY_ENV, str(tmp_path / "missing.key"))
    with pytest.raises(AuditError, match=r"\$VFX_DOUBLE_AUDIT_KEY.*keygen"):
        audit.verify(log.path)
    monkeypatch.setenv(AUDIT_KEY_ENV, str(tmp_path / "key.txt"))
    with pytest.raises(AuditError, match="<key_id>.key or <key_id>.pub"):
        add(log)


def test_deleted_log_and_head_with_versions_on_disk(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    shot = tmp_path / "SHOW" / "sh010"
    for folder in ("track/v001", "faceset/v001", "train/run-001", "render/v002", "review/v001"):
        (shot / folder).mkdir(parents=True)
    assert main(["audit", "verify", str(shot / "audit.jsonl")]) == 2
    err = capsys.readouterr().err
    assert "no record of track/v001, faceset/v001, train/run-001, render/v002" in err
    assert "review" not in err and "deleted" in err and len(err.strip().splitlines()) == 1
    shutil.rmtree(shot)
    shot.mkdir(parents=True)
    assert main(["audit", "verify", str(shot / "audit.jsonl")]) == 2
    assert "no stage has recorded a run" in capsys.readouterr().err


def test_versions_without_a_record_are_noted(log: audit.AuditLog,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    shot = log.path.parent
    for folder in ("render/v001", "render/v002", "track/v001"):
        (shot / folder).mkdir(parents=True)
    log.append("track", inputs={}, outputs={}, licence_id=None, config_hash=None,
               extra={"track_version": "v001", "faceset_version": "v001"})
    assert main(["audit", "verify", str(log.path)]) == 0
    assert "note: no entry records render/v002 (" in capsys.readouterr().out


def test_baselines_audit_head_2_and_pending_1(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(BASELINE, tmp_path / "audit")
    path = tmp_path / "audit" / "AuditHead.2.jsonl"
    assert "but not checked" in audit.check(path).signature
    monkeypatch.setenv(AUDIT_KEY_ENV, str(tmp_path / "audit" / "audit-baseline.pub"))
    report = audit.check(path)
    assert report.entries == 2 and "'audit-baseline' (signature checked)" in report.signature
    shutil.copy(tmp_path / "audit" / "AuditPending.1.json", audit.AuditLog(path).pending_path)
    with pytest.raises(AuditError, match=r"entry seq 2 \(comp\) .* not yet committed"):
        audit.check(path)
