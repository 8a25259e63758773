"""Audit log records: the entry (AuditEntry.1) and head as JSON, their parsing and checks,
and how an entry chains to the one before (:mod:`vfx_double.audit` writes and verifies
the log with them)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from .audit_signing import HEAD_SCHEMA
from .errors import AuditError
from .records import canonical_json, check_keys, check_schema, parse_json, read_json

ENTRY_SCHEMA = ("AuditEntry", 1)
GENESIS = "0" * 64
ENTRY_KEYS = {"schema", "seq", "time", "user", "host", "stage", "inputs", "outputs",
              "licence_id", "config_hash", "extra", "prev", "hash"}
CHAIN_KEYS = {"schema", "seq", "prev", "hash"}
SHA256 = re.compile(r"^[0-9a-f]{64}$")


def entry_hash(entry: dict[str, Any]) -> str:
    """sha256 of the canonical entry without its ``hash`` field."""
    content = {k: v for k, v in entry.items() if k != "hash"}
    return hashlib.sha256(canonical_json(content)).hexdigest()


def chained(last: dict[str, Any] | None, content: dict[str, Any]) -> dict[str, Any]:
    entry = {"schema": f"{ENTRY_SCHEMA[0]}.{ENTRY_SCHEMA[1]}",
             "seq": 0 if last is None else last["seq"] + 1, **content,
             "prev": GENESIS if last is None else last["hash"]}
    entry["hash"] = entry_hash(entry)
    return entry


def follows(entry: dict[str, Any], last: dict[str, Any] | None) -> bool:
    return (entry["seq"], entry["prev"]) == ((0, GENESIS) if last is None
                                             else (last["seq"] + 1, last["hash"]))


def head_names(head: dict[str, Any] | None, entry: dict[str, Any] | None) -> bool:
    if head is None or entry is None:
        return head is None and entry is None
    return (head["seq"], head["hash"]) == (entry["seq"], entry["hash"])


def entry_name(entry: dict[str, Any] | None) -> str:
    return "the start" if entry is None else f"entry seq {entry['seq']} ({entry['stage']})"


def is_sha256(value: Any) -> bool:
    return isinstance(value, str) and bool(SHA256.match(value))


def lines_of(data: bytes) -> list[bytes]:
    """The lines of ``data`` (which ends in a newline or is empty), without newlines."""
    return data.split(b"\n")[:-1] if data else []


def parse_entry(line: bytes, where: str) -> dict[str, Any]:
    """Parse one line and check its schema, keys, canonical form and own hash."""
    entry = parse_json(line, where, AuditError, add_line=False)
    if not isinstance(entry, dict):
        raise AuditError(where, "a JSON object", type(entry).__name__)
    check_schema(entry.get("schema"), ENTRY_SCHEMA, where, AuditError)
    if set(entry) != ENTRY_KEYS:
        odd = sorted(set(entry) ^ ENTRY_KEYS)[0]
        raise AuditError(where, f"the keys {', '.join(sorted(ENTRY_KEYS))}", f"{odd!r} differs",
                         "the line was edited")
    if not (isinstance(entry["seq"], int) and is_sha256(entry["prev"])
            and is_sha256(entry["hash"]) and isinstance(entry["stage"], str)):
        raise AuditError(where, "an integer seq, a stage name and sha256 prev/hash",
                         "other values", "the line was edited")
    if entry_hash(entry) != entry["hash"]:
        raise AuditError(f"{where} (field hash)",
                         f"hash {entry['hash'][:12]}... of the line's content",
                         f"{entry_hash(entry)[:12]}...", "the line was edited after it was written")
    if canonical_json(entry) != line:
        raise AuditError(where, "the line exactly as written (canonical JSON)", "reformatted text",
                         "the line was edited after it was written")
    return entry


def read_head(path: Path) -> dict[str, Any] | None:
    """The head (AuditHead.1, unsigned, reads as it is), or None when there is none."""
    where = str(path)
    try:
        head = read_json(path, "record", AuditError, what="an audit head")
    except FileNotFoundError:
        return None
    if not isinstance(head, dict):
        raise AuditError(where, "a JSON object", type(head).__name__)
    version = check_schema(head.get("schema"), HEAD_SCHEMA, where, AuditError)
    check_keys(head, {"schema", "seq", "hash"}, where, AuditError,
               optional={"key_id", "signature"} if version >= 2 else set())
    if not isinstance(head["seq"], int) or not is_sha256(head["hash"]):
        raise AuditError(where, "an integer seq and a sha256 hash", repr(head)[:80])
    if ("signature" in head) != isinstance(head.get("key_id"), str) or not isinstance(
            head.get("signature", ""), str):
        raise AuditError(where, "a key_id and signature together, as strings", "other values",
                         "the head was edited")
    return head


def torn_error(path: Path, number: int, size: int, head: dict[str, Any] | None,
                last: dict[str, Any] | None) -> AuditError:
    return AuditError(f"{path}:{number}", "a line ending in a newline",
                      f"an incomplete last line ({size} bytes) after {entry_name(last)}, "
                      f"and a head that does not name {entry_name(last)}",
                      "the file was edited, not left by an interrupted append; restore it "
                      "from backup")


def tail_removed(path: Path, number: int, head: dict[str, Any],
                  last: dict[str, Any] | None) -> AuditError:
    found = ("no entries" if last is None
             else f"the log ends at seq {last['seq']} ({last['hash'][:12]}...)")
    return AuditError(f"{path}:{number}",
                      f"entry seq {head['seq']} ({head['hash'][:12]}...) as the last line, "
                      f"as {path.stem}.head.json records", found,
                      "lines at the end were removed or replaced; restore the log from backup")
