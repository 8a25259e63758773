"""The per-shot audit log: one hash-chained JSON line per stage run.

``<work_root>/<show>/<shot>/audit.jsonl`` holds ``AuditEntry.1`` lines in canonical JSON
(sorted keys, no spaces). Each entry's ``hash`` is the sha256 of its canonical form without
``hash``; its ``prev`` is the previous entry's ``hash`` ("0" * 64 for the first). An edited
line breaks its own hash, a removed or moved line breaks ``seq``/``prev`` of the next one.
A removed *last* line leaves a valid chain, so ``audit.head.json`` records the seq and hash
of the last entry, and ``verify`` checks the log ends there.

Appends from several processes (farm tasks of one shot) are serialised with ``flock`` on a
sidecar ``.audit.jsonl.lock``; each line is one ``write`` + ``fsync``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import getpass
import hashlib
import os
import re
import socket
from pathlib import Path
from typing import Any, Iterator

from .errors import AuditError
from .io import atomic
from .records import canonical_json, check_schema, hash_file, parse_json

ENTRY_SCHEMA = ("AuditEntry", 1)
HEAD_SCHEMA = ("AuditHead", 1)
GENESIS = "0" * 64
ENTRY_KEYS = {"schema", "seq", "time", "user", "host", "stage", "inputs", "outputs",
              "licence_id", "config_hash", "extra", "prev", "hash"}

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def entry_hash(entry: dict[str, Any]) -> str:
    """sha256 of the canonical entry without its ``hash`` field."""
    content = {k: v for k, v in entry.items() if k != "hash"}
    return hashlib.sha256(canonical_json(content)).hexdigest()


class AuditLog:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.head_path = self.path.with_name(f"{self.path.stem}.head.json")
        self.lock_path = self.path.with_name(f".{self.path.name}.lock")

    def append(self, stage: str, *, inputs: dict[str, str], outputs: dict[str, str],
               licence_id: str | None, config_hash: str | None,
               extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Record one stage run and return the entry written.

        Refuses (AuditError) to extend a log whose last line or head file is damaged, so a
        removed tail cannot be papered over by the next stage run.
        """
        if not isinstance(stage, str) or not stage:
            raise ValueError(f"stage: expected a non-empty string, found {stage!r}")
        for name, hashes in (("inputs", inputs), ("outputs", outputs)):
            bad = [k for k, v in hashes.items() if not isinstance(k, str) or not _is_sha256(v)]
            if bad:
                raise ValueError(f"{name}[{bad[0]!r}]: expected a sha256 hex digest, "
                                 f"found {hashes[bad[0]]!r}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._locked(fcntl.LOCK_EX, create=True):
            last = self._checked_tail()
            entry: dict[str, Any] = {
                "schema": f"{ENTRY_SCHEMA[0]}.{ENTRY_SCHEMA[1]}",
                "seq": 0 if last is None else last["seq"] + 1,
                "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds"),
                "user": _user(),
                "host": socket.gethostname(),
                "stage": stage,
                "inputs": dict(inputs),
                "outputs": dict(outputs),
                "licence_id": licence_id,
                "config_hash": config_hash,
                "extra": dict(extra or {}),
                "prev": GENESIS if last is None else last["hash"],
            }
            entry["hash"] = entry_hash(entry)
            line = canonical_json(entry) + b"\n"
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                # One write: a reader never sees two appenders' bytes interleaved in a line.
                if os.write(fd, line) != len(line):
                    raise OSError(f"short write to {self.path}")
                os.fsync(fd)
            finally:
                os.close(fd)
            atomic.write_json(self.head_path, {"schema": f"{HEAD_SCHEMA[0]}.{HEAD_SCHEMA[1]}",
                                               "seq": entry["seq"], "hash": entry["hash"]})
        return entry

    def verify(self) -> int:
        return verify(self.path)

    @contextlib.contextmanager
    def _locked(self, mode: int, *, create: bool) -> Iterator[None]:
        if not create and not self.lock_path.exists():
            # Nobody has appended yet, and verify must not write anything.
            yield
            return
        flags = (os.O_RDWR | os.O_CREAT) if create else os.O_RDONLY
        fd = os.open(self.lock_path, flags, 0o666)
        try:
            fcntl.flock(fd, mode)
            yield
        finally:
            os.close(fd)

    def _checked_tail(self) -> dict[str, Any] | None:
        """The last entry, after checking it is whole, self-consistent and matches the head."""
        head = _read_head(self.head_path)
        rows = _lines(self.path, self.path.read_bytes() if self.path.exists() else b"")
        last = _parse_entry(rows[-1], f"{self.path}:{len(rows)}") if rows else None
        self._check_head(head, last, len(rows))
        return last

    def _check_head(self, head: dict[str, Any] | None, last: dict[str, Any] | None,
                    count: int) -> None:
        """The head file must name the log's last entry: a removed tail leaves a valid chain."""
        if last is None:
            if head is not None:
                raise _tail_removed(self.path, 1, head, None)
        elif head is None:
            raise AuditError(str(self.head_path),
                             f"a head file recording the last entry (seq {last['seq']})",
                             "no such file", "it was deleted, so a removed tail cannot be ruled "
                             "out; restore it from backup")
        elif (head["seq"], head["hash"]) != (last["seq"], last["hash"]):
            raise _tail_removed(self.path, count + 1, head, last)


def verify(path: Path) -> int:
    """Check every line of an audit log and its head; return the number of entries."""
    log = AuditLog(path)
    with log._locked(fcntl.LOCK_SH, create=False):
        exists = log.path.exists()
        data = log.path.read_bytes() if exists else b""
        head = _read_head(log.head_path)
    if not exists and head is None:
        raise AuditError(str(log.path), "an audit log", "no such file",
                         "no stage has recorded a run for this shot yet")
    prev, entry, number = GENESIS, None, 0
    for number, line in enumerate(_lines(log.path, data), start=1):
        where = f"{log.path}:{number}"
        entry = _parse_entry(line, where)
        if entry["seq"] != number - 1:
            raise AuditError(f"{where} (field seq)", f"seq {number - 1}", f"seq {entry['seq']}",
                             "a line before it was removed or lines were reordered")
        if entry["prev"] != prev:
            raise AuditError(f"{where} (field prev)", f"the hash of line {number - 1}",
                             f"{entry['prev'][:12]}..., not {prev[:12]}...",
                             "the line before it was removed, replaced or reordered")
        prev = entry["hash"]
    log._check_head(head, entry, number)
    return number


def hash_tree(folder: Path) -> str:
    """sha256 hex over every file under ``folder``: relative POSIX paths and contents.

    Independent of where the folder lives and of listing order; empty folders and atomic-
    write leftovers (``.name.tmp-*``) do not count. Symlinked files count as their target.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder}: expected a folder to hash")
    files = sorted((p.relative_to(folder).as_posix(), p) for p in folder.rglob("*")
                   if p.is_file() and not atomic.is_temp_path(p))
    digest = hashlib.sha256()
    for rel, path in files:
        # A NUL cannot occur in a path, so each record is unambiguous.
        digest.update(rel.encode("utf-8") + b"\0" + hash_file(path).encode("ascii") + b"\n")
    return digest.hexdigest()


def _is_sha256(value: Any) -> bool:
    return isinstance(value, str) and bool(_SHA256.match(value))


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        # Containers often run as a uid with no passwd entry and no $USER.
        return str(os.getuid())


def _lines(path: Path, data: bytes) -> list[bytes]:
    """The log's lines without newlines; refuse a last line with no newline (a torn write)."""
    if data and not data.endswith(b"\n"):
        number = data.count(b"\n") + 1
        raise AuditError(f"{path}:{number}", "a line ending in a newline",
                         "an incomplete last line",
                         "a write was interrupted or the file was edited; restore it from backup")
    return data.split(b"\n")[:-1] if data else []


def _parse_entry(line: bytes, where: str) -> dict[str, Any]:
    """Parse one line and check its schema, keys, canonical form and own hash."""
    entry = parse_json(line, where, AuditError, add_line=False)
    if not isinstance(entry, dict):
        raise AuditError(where, "a JSON object", type(entry).__name__)
    check_schema(entry.get("schema"), ENTRY_SCHEMA, where, AuditError)
    if set(entry) != ENTRY_KEYS:
        odd = sorted(set(entry) ^ ENTRY_KEYS)[0]
        raise AuditError(where, f"the keys {', '.join(sorted(ENTRY_KEYS))}", f"{odd!r} differs",
                         "the line was edited")
    if not (isinstance(entry["seq"], int) and _is_sha256(entry["prev"])
            and _is_sha256(entry["hash"])):
        raise AuditError(where, "an integer seq and sha256 prev/hash", "other values",
                         "the line was edited")
    if entry_hash(entry) != entry["hash"]:
        raise AuditError(f"{where} (field hash)",
                         f"hash {entry['hash'][:12]}... of the line's content",
                         f"{entry_hash(entry)[:12]}...", "the line was edited after it was written")
    if canonical_json(entry) != line:
        raise AuditError(where, "the line exactly as written (canonical JSON)", "reformatted text",
                         "the line was edited after it was written")
    return entry


def _read_head(path: Path) -> dict[str, Any] | None:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    head = parse_json(data, str(path), AuditError)
    if not isinstance(head, dict):
        raise AuditError(str(path), "a JSON object", type(head).__name__)
    check_schema(head.get("schema"), HEAD_SCHEMA, str(path), AuditError)
    if not isinstance(head.get("seq"), int) or not _is_sha256(head.get("hash")):
        raise AuditError(str(path), "an integer seq and a sha256 hash", repr(head)[:80])
    return head


def _tail_removed(path: Path, number: int, head: dict[str, Any],
                  last: dict[str, Any] | None) -> AuditError:
    found = ("no entries" if last is None
             else f"the log ends at seq {last['seq']} ({last['hash'][:12]}...)")
    return AuditError(f"{path}:{number}",
                      f"entry seq {head['seq']} ({head['hash'][:12]}...) as the last line, "
                      f"as {path.stem}.head.json records", found,
                      "lines at the end were removed or replaced; restore the log from backup")
