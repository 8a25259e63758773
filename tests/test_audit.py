"""The hash-chained audit log: edits, removals, reorders and concurrent appends."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import multiprocessing.synchronize
from pathlib import Path

import pytest

from vfx_double import audit
from vfx_double.audit_entries import entry_hash
from vfx_double.errors import AuditError
from vfx_double.records import hash_file, hash_tree

H = "ab" * 32


@pytest.fixture
def log(tmp_path: Path) -> audit.AuditLog:
    log = audit.AuditLog(tmp_path / "work" / "SHOW" / "sh010" / "audit.jsonl")
    for stage in ("track", "train", "render"):
        log.append(stage, inputs={"plate": H}, outputs={stage: H}, licence_id="L-0001",
                   config_hash=H, extra={"frames": [1001, 1005]})
    return log


def lines(log: audit.AuditLog) -> list[bytes]:
    return log.path.read_bytes().splitlines(keepends=True)


def write_lines(log: audit.AuditLog, new: list[bytes]) -> None:
    log.path.write_bytes(b"".join(new))


def canonical(entry: dict) -> bytes:
    return json.dumps(entry, sort_keys=True, separators=(",", ":")).encode() + b"\n"


def verify_error(log: audit.AuditLog) -> str:
    """The error message, with the test's folder (named after the test) cut out."""
    with pytest.raises(AuditError) as info:
        audit.verify(log.path)
    return str(info.value).replace(str(log.path.parent), "SHOT")


def test_three_entries_chain_and_verify(log: audit.AuditLog) -> None:
    assert audit.verify(log.path) == 3
    entries = [json.loads(line) for line in lines(log)]
    assert [e["seq"] for e in entries] == [0, 1, 2]
    assert [e["stage"] for e in entries] == ["track", "train", "render"]
    assert entries[0]["prev"] == audit.GENESIS
    assert [e["prev"] for e in entries[1:]] == [e["hash"] for e in entries[:-1]]
    assert all(e["schema"] == "AuditEntry.1" and e["user"] and e["host"] for e in entries)
    assert all(e["hash"] == entry_hash(e) for e in entries)
    head = json.loads(log.head_path.read_text())
    assert (head["seq"], head["hash"]) == (2, entries[2]["hash"])


def test_edited_field_in_line_2(log: audit.AuditLog) -> None:
    rows = lines(log)
    rows[1] = rows[1].replace(b'"stage":"train"', b'"stage":"comp"')
    write_lines(log, rows)
    error = verify_error(log)
    assert "SHOT/audit.jsonl:2" in error and "edited" in error


def test_edited_and_rehashed_line_2_breaks_line_3(log: audit.AuditLog) -> None:
    rows = lines(log)
    entry = json.loads(rows[1])
    entry["licence_id"] = "FORGED"
    entry["hash"] = entry_hash(entry)
    rows[1] = canonical(entry)
    write_lines(log, rows)
    error = verify_error(log)
    assert "SHOT/audit.jsonl:3" in error and "prev" in error


def test_reformatted_line_is_an_edit(log: audit.AuditLog) -> None:
    rows = lines(log)
    rows[1] = json.dumps(json.loads(rows[1]), sort_keys=True).encode() + b"\n"
    write_lines(log, rows)
    assert "SHOT/audit.jsonl:2" in verify_error(log)


def test_removed_line_2(log: audit.AuditLog) -> None:
    rows = lines(log)
    write_lines(log, [rows[0], rows[2]])
    error = verify_error(log)
    assert "SHOT/audit.jsonl:2" in error and "removed" in error


def test_removed_line_relinked_and_head_rewritten_leaves_a_seq_gap(log: audit.AuditLog) -> None:
    rows = lines(log)
    first, last = json.loads(rows[0]), json.loads(rows[2])
    last["prev"] = first["hash"]
    last["hash"] = entry_hash(last)
    write_lines(log, [rows[0], canonical(last)])
    log.head_path.write_text(json.dumps({"schema": "AuditHead.1", "seq": 2, "hash": last["hash"]}))
    error = verify_error(log)
    assert "SHOT/audit.jsonl:2" in error and "seq 1" in error


def test_removed_last_line(log: audit.AuditLog) -> None:
    write_lines(log, lines(log)[:2])
    error = verify_error(log)
    assert "SHOT/audit.jsonl:3" in error and "removed" in error and "seq 2" in error


def test_append_refuses_to_paper_over_a_removed_last_line(log: audit.AuditLog) -> None:
    write_lines(log, lines(log)[:2])
    with pytest.raises(AuditError) as info:
        log.append("comp", inputs={}, outputs={}, licence_id=None, config_hash=None)
    assert "removed" in str(info.value).replace(str(log.path.parent), "SHOT")
    assert len(lines(log)) == 2


def test_all_lines_removed(log: audit.AuditLog) -> None:
    log.path.write_bytes(b"")
    assert "no entries" in verify_error(log)
    log.path.unlink()
    assert "no entries" in verify_error(log)


def test_reordered_lines(log: audit.AuditLog) -> None:
    rows = lines(log)
    write_lines(log, [rows[0], rows[2], rows[1]])
    error = verify_error(log)
    assert "SHOT/audit.jsonl:2" in error and "reordered" in error


def test_malformed_json_line(log: audit.AuditLog) -> None:
    rows = lines(log)
    rows[1] = rows[1][:40] + b"\n"
    write_lines(log, rows)
    error = verify_error(log)
    assert "SHOT/audit.jsonl:2" in error and "valid JSON" in error


def test_incomplete_last_line(log: audit.AuditLog) -> None:
    log.path.write_bytes(log.path.read_bytes()[:-10])
    assert "SHOT/audit.jsonl:3" in verify_error(log)


def test_deleted_head_file(log: audit.AuditLog) -> None:
    log.head_path.unlink()
    assert "audit.head.json" in verify_error(log)


def test_missing_log(tmp_path: Path) -> None:
    with pytest.raises(AuditError, match="no such file"):
        audit.verify(tmp_path / "audit.jsonl")


def test_append_refuses_values_that_are_not_sha256(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="plate"):
        audit.AuditLog(tmp_path / "audit.jsonl").append(
            "track", inputs={"plate": "not-a-hash"}, outputs={}, licence_id=None, config_hash=None)


def _append_many(path: Path, tag: str, count: int,
                 start: multiprocessing.synchronize.Event) -> None:
    log = audit.AuditLog(path)
    start.wait()
    for i in range(count):
        log.append(tag, inputs={}, outputs={f"{tag}-{i}": H}, licence_id=None, config_hash=None)


def test_concurrent_appends_from_two_processes(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    ctx = multiprocessing.get_context("fork")
    start = ctx.Event()
    workers = [ctx.Process(target=_append_many, args=(path, tag, 50, start)) for tag in ("a", "b")]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(timeout=120)
    assert [w.exitcode for w in workers] == [0, 0]
    assert audit.verify(path) == 100
    stages = [json.loads(line)["stage"] for line in path.read_text().splitlines()]
    assert stages.count("a") == stages.count("b") == 50


def test_hash_file_and_tree(tmp_path: Path) -> None:
    for root in (tmp_path / "one", tmp_path / "two"):
        (root / "sub").mkdir(parents=True)
        (root / "a.exr").write_bytes(b"pixels")
        (root / "sub" / "b.json").write_text("{}")
    assert hash_file(tmp_path / "one" / "a.exr") == hashlib.sha256(b"pixels").hexdigest()
    tree = hash_tree(tmp_path / "one")
    assert tree == hash_tree(tmp_path / "two")
    (tmp_path / "two" / ".a.tmp-1-0.exr").write_bytes(b"leftover")
    assert hash_tree(tmp_path / "two") == tree
    (tmp_path / "two" / "sub" / "b.json").rename(tmp_path / "two" / "sub" / "c.json")
    assert hash_tree(tmp_path / "two") != tree
    (tmp_path / "one" / "a.exr").write_bytes(b"pixelz")
    assert hash_tree(tmp_path / "one") != tree
