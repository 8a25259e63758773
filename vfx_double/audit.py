"""The per-shot audit log: one hash-chained JSON line per stage run, its head signed.

Beside each other in ``<work_root>/<show>/<shot>/``:

``audit.jsonl``
    ``AuditEntry.1`` lines in canonical JSON (sorted keys, no spaces). Each entry's ``hash``
    is the sha256 of its canonical form without ``hash``; its ``prev`` is the previous
    entry's ``hash`` ("0" * 64 for the first). An edited line breaks its own hash, a removed
    or moved line breaks ``seq``/``prev`` of the next one.
``audit.head.json``
    ``AuditHead.2``: seq and hash of the last entry (a removed *last* line leaves a valid
    chain, so ``verify`` checks the log ends there), signed with the studio audit key.
``audit.pending.json``
    ``AuditPending.1``: the entry an append is writing; there only during an append, or
    after one failed (a full disk) or was killed.

**A rewritten log.** The chain alone is unkeyed: whoever edits an entry can recompute every
hash after it and the head. So the head carries an Ed25519 signature by the studio audit
key, from ``$VFX_DOUBLE_AUDIT_KEY`` (never from the shot config, as with the licence
keyring): the ``<key_id>.key`` that ``vfx-double licence keygen`` writes, on the machines
that run stages; its ``.pub`` is enough to verify. The signed head pins the last hash and
the chain pins every line before it, so a rewrite needs the private key. Ed25519 rather
than an HMAC secret: an auditor checks with the public half, which cannot forge, and the
key files are the keyring's. With a key set, a head that is unsigned, signed by another
key or whose signature fails is refused by ``verify`` and by every append, so the next
stage never signs a forgery; a log older than the key is signed once, deliberately, with
``vfx-double audit verify --sign``. Without a key the log is checked as a chain only and
``verify`` says so ("unsigned"): a rewrite and rehash cannot be detected then. Not
detected even with the key: a log rolled back to an older signed copy (its newer versions
show up as having no record) and anything done by a holder of the private key. Deleting
the log and its head is detected while the stage folders hold versions.

**A full disk, a crash.** An append is all-or-nothing, and the head is its commit point:

1. the entry (signed) is written to ``audit.pending.json``, atomically;
2. its line is appended to the log and fsynced;
3. the head is replaced, atomically;
4. the pending file is removed.

A failure in 2 or 3 truncates the log back to its length before the append; 3 either
replaced the head or left it whole. A failure in 1 changes nothing. The stage's error
says its outputs were written but not recorded. A kill at any point leaves one of: no
pending file (nothing written); a pending entry whose line is missing, torn (a prefix of
it) or whole, with the head naming the entry before it or the pending entry itself. Each
is told apart from an edit by the pending entry (signed when a key is set), and the next
append (any stage) or ``vfx-double audit verify --repair`` finishes it: it trims a torn
line, appends the pending entry if its line is missing (chained anew if a writer without
this code moved the log on meanwhile), points the head at it and removes the pending file.
On a full disk step 1 fails too; then nothing is recorded and a rerun of the stage records
its outputs (render and comp continue their version, ``train --resume`` its run; track
makes a new version and the old one shows as having no record). A last line without its
newline and without a pending file (written before this scheme) is trimmed in the same way
when the head names the entry before it: those bytes were never committed, so nothing
recorded is lost; anything else is an edit, and refused.

Appends from several processes (farm tasks of one shot) are serialised with ``flock`` on a
sidecar ``.audit.jsonl.lock``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import getpass
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from .audit_entries import (
    CHAIN_KEYS,
    GENESIS,
    chained,
    entry_name,
    follows,
    head_names,
    is_sha256,
    lines_of,
    parse_entry,
    read_head,
    tail_removed,
    torn_error,
)
from .audit_signing import (
    AUDIT_KEY_ENV,
    KEY_HINT,
    PENDING_DOMAIN,
    PENDING_SCHEMA,
    AuditKey,
    audit_key,
    check_signature,
    head_bytes,
    head_record,
    pending_record,
    signature_words,
    signing_key,
)
from .errors import AuditError
from .io import atomic
from .records import canonical_json, check_keys, check_schema, read_bounded, read_json
from .workarea import WorkArea

#: stage folders whose versions an entry records (review writes no record)
RECORDED_STAGES = ("track", "faceset", "train", "render", "comp")
REPAIR = "vfx-double audit verify --repair"



class AuditWriteError(AuditError):
    """An append could not be written (a full disk); the log was left as it was."""


@dataclass
class AuditReport:
    """What ``verify`` found in an intact log."""

    entries: int
    #: how the head is signed, in words ("unsigned: ...", "signed by audit key ...")
    signature: str
    #: versions in the stage folders that no entry records ("track/v002")
    unrecorded: list[str] = field(default_factory=list)
    #: the entries, in order, once the chain, head and signature have checked out
    records: list[dict[str, Any]] = field(default_factory=list, repr=False)


class AuditLog:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.head_path = self.path.with_name(f"{self.path.stem}.head.json")
        self.pending_path = self.path.with_name(f"{self.path.stem}.pending.json")
        self.lock_path = self.path.with_name(f".{self.path.name}.lock")

    def append(self, stage: str, *, inputs: dict[str, str], outputs: dict[str, str],
               licence_id: str | None, config_hash: str | None,
               extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Record one stage run and return the entry written; all or nothing.

        First finishes an interrupted append (module docstring). Refuses (AuditError) to
        extend a log whose last line, head or head signature is wrong, so a removed tail or a
        rewrite cannot be papered over by the next stage run; AuditWriteError when the entry
        could not be written, with the log and head as they were.
        """
        if not isinstance(stage, str) or not stage:
            raise ValueError(f"stage: expected a non-empty string, found {stage!r}")
        for name, hashes in (("inputs", inputs), ("outputs", outputs)):
            bad = [k for k, v in hashes.items() if not isinstance(k, str) or not is_sha256(v)]
            if bad:
                raise ValueError(f"{name}[{bad[0]!r}]: expected a sha256 hex digest, "
                                 f"found {hashes[bad[0]]!r}")
        content = {"user": _user(), "host": socket.gethostname(), "stage": stage,
                   "inputs": dict(inputs), "outputs": dict(outputs), "licence_id": licence_id,
                   "config_hash": config_hash, "extra": dict(extra or {})}
        try:
            return self._append(content)
        except AuditWriteError:
            raise
        except AuditError as err:
            # The stage has done its work: say so, or it reads as if nothing happened.
            hint = "; ".join(filter(None, [err.hint, f"the {stage} outputs were written but "
                                           "not recorded: rerun the same command once the "
                                           "log is fixed"]))
            raise AuditError(err.where, err.expected, err.found, hint) from err

    def _append(self, content: dict[str, Any]) -> dict[str, Any]:
        key = signing_key()
        pending = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._locked(fcntl.LOCK_EX, create=True):
                now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds")
                entry = chained(self._recover(key)[1], {"time": now, **content})
                atomic.write_bytes(self.pending_path, canonical_json(pending_record(entry, key)))
                pending = True
                self._commit(entry, key)
                with contextlib.suppress(OSError):
                    # Left behind, it names the head's own entry: the next append removes it.
                    self.pending_path.unlink()
        except OSError as err:
            raise self._write_error(content["stage"], err, pending) from err
        return entry

    def _write_error(self, stage: str, err: OSError, pending: bool) -> AuditWriteError:
        return AuditWriteError(
            str(self.path), f"the {stage} run's entry appended",
            f"{err.strerror or err} (the log was left intact)",
            f"the {stage} outputs were written but not recorded; free disk space and rerun "
            "the same command: it records them"
            + (f" (the entry waits in {self.pending_path.name}; the next append or "
               f"`{REPAIR} {self.path}` also records it)" if pending else ""))

    def repair(self) -> list[str]:
        """Finish an interrupted append (see the module docstring); return what was done."""
        key = signing_key()
        if not (self.path.exists() or self.pending_path.exists()):
            check(self.path)  # says why: no log yet, or a deleted one
        with self._locked(fcntl.LOCK_EX, create=True):
            return self._recover(key)[0]

    def sign(self) -> bool:
        """Sign the head of an intact, unsigned log with the configured private key (once,
        when a studio starts using an audit key); False when it is already signed by it."""
        key = signing_key()
        if key is None:
            raise AuditError(f"${AUDIT_KEY_ENV}", "the audit private key (<key_id>.key)",
                             "not set", KEY_HINT)
        if not self.path.exists():
            check(self.path)
        with self._locked(fcntl.LOCK_EX, create=True):
            head = read_head(self.head_path)
            if head is not None and "signature" in head:
                _examine(self, self._read(), head, self._read_pending(None), key)
                return False
            _examine(self, self._read(), head, self._read_pending(None), None)
            if head is None:
                raise AuditError(str(self.path), "entries to sign", "none",
                                 "the first stage run signs the log")
            atomic.write_json(self.head_path, head_record(head, key))
        return True

    def verify(self) -> int:
        return verify(self.path)

    # --- internals ------------------------------------------------------------------------

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

    def _read(self) -> bytes | None:
        try:
            return read_bounded(self.path, "record", AuditError, what="an audit log")
        except FileNotFoundError:
            return None

    def _read_pending(self, key: AuditKey | None) -> dict[str, Any] | None:
        """The pending entry, checked like a line (and its signature when ``key``)."""
        where = str(self.pending_path)
        try:
            record = read_json(self.pending_path, "record", AuditError)
        except FileNotFoundError:
            return None
        check_keys(record, {"schema", "entry"}, where, AuditError,
                   optional={"key_id", "signature"})
        check_schema(record["schema"], PENDING_SCHEMA, where, AuditError)
        if not isinstance(record["entry"], dict):
            raise AuditError(f"{where} (field entry)", "an audit entry", "something else")
        entry = parse_entry(canonical_json(record["entry"]), f"{where} (field entry)")
        if key is not None:
            check_signature(where, record, PENDING_DOMAIN + canonical_json(entry), key)
        return entry

    def _recover(self, key: AuditKey | None) -> tuple[list[str], dict[str, Any] | None]:
        """Finish or undo an interrupted append; return what was done and the last entry.

        Raises when the state is not one an append leaves (an edit, a removed tail)."""
        done: list[str] = []
        data = self._read() or b""
        complete = data[:data.rfind(b"\n") + 1]
        rows = lines_of(complete)
        last = parse_entry(rows[-1], f"{self.path}:{len(rows)}") if rows else None
        head = read_head(self.head_path)
        pending = self._read_pending(key)
        line = canonical_json(pending) + b"\n" if pending else None
        if len(complete) < len(data):
            torn = data[len(complete):]
            ours = line is not None and line.startswith(torn)
            if not ours and not head_names(head, last):
                raise torn_error(self.path, len(rows) + 1, len(torn), head, last)
            self._truncate(len(complete))
            done.append(f"removed {len(torn)} bytes of an unfinished line after "
                        f"{entry_name(last)}")
        if pending is None:
            self._check_head(head, last, len(rows), key)
            return done, last
        if rows and rows[-1] + b"\n" == line:
            before = (parse_entry(rows[-2], f"{self.path}:{len(rows) - 1}")
                      if len(rows) > 1 else None)
            if head_names(head, pending):
                check_signature(str(self.head_path), head, head_bytes(head), key)
                done.append(f"removed {self.pending_path.name}: {entry_name(pending)} was "
                            "committed")
            else:
                self._check_head(head, before, len(rows) - 1, key)
                atomic.write_json(self.head_path, head_record(pending, key))
                done.append(f"pointed the head at {entry_name(pending)}, already in the log")
            entry = pending
        elif head_names(head, pending) and follows(pending, last):
            check_signature(str(self.head_path), head, head_bytes(head), key)
            self._commit(pending, key)
            done.append(f"appended {entry_name(pending)}, which the head already named")
            entry = pending
        else:
            self._check_head(head, last, len(rows), key)
            # Chained anew when a writer without this code moved the log on meanwhile.
            entry = pending if follows(pending, last) else chained(
                last, {k: v for k, v in pending.items() if k not in CHAIN_KEYS})
            self._commit(entry, key)
            done.append(f"appended {entry_name(entry)} from {self.pending_path.name}")
        self.pending_path.unlink()
        atomic.fsync_dir(self.path.parent)
        return done, entry

    def _commit(self, entry: dict[str, Any], key: AuditKey | None) -> None:
        """Append ``entry``'s line and point the head at it; on any failure truncate the log
        back, so it ends where the (unchanged) head says."""
        line = canonical_json(entry) + b"\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            try:
                view = memoryview(line)
                while view:  # a full disk can take part of a write before refusing the rest
                    view = view[os.write(fd, view):]
                os.fsync(fd)
                atomic.write_json(self.head_path, head_record(entry, key))
            except BaseException:
                # If this fails too, the pending entry lets the next append finish the job.
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, size)
                    os.fsync(fd)
                raise
        finally:
            os.close(fd)

    def _truncate(self, size: int) -> None:
        fd = os.open(self.path, os.O_WRONLY)
        try:
            os.ftruncate(fd, size)
            os.fsync(fd)
        finally:
            os.close(fd)

    def _check_head(self, head: dict[str, Any] | None, last: dict[str, Any] | None,
                    count: int, key: AuditKey | None) -> None:
        """The head file must name the log's last entry (a removed tail leaves a valid
        chain) and, with an audit key, carry its valid signature."""
        if last is None:
            if head is not None:
                raise tail_removed(self.path, 1, head, None)
            return
        if head is None:
            raise AuditError(str(self.head_path),
                             f"a head file recording the last entry (seq {last['seq']})",
                             "no such file", "it was deleted, so a removed tail cannot be ruled "
                             "out; restore it from backup")
        if not head_names(head, last):
            raise tail_removed(self.path, count + 1, head, last)
        check_signature(str(self.head_path), head, head_bytes(head), key)


def check(path: Path) -> AuditReport:
    """Check every line of an audit log, its head and the head's signature (with the key
    ``$VFX_DOUBLE_AUDIT_KEY`` names); return what was found. Writes nothing."""
    log = AuditLog(path)
    key = audit_key()
    with log._locked(fcntl.LOCK_SH, create=False):
        data = log._read()
        head = read_head(log.head_path)
        pending = log._read_pending(key)
    return _examine(log, data, head, pending, key)


def verify(path: Path) -> int:
    """:func:`check`, returning the number of entries."""
    return check(path).entries


def unrecorded_versions(shot_dir: Path, entries: list[dict[str, Any]]) -> list[str]:
    """The versions in ``shot_dir``'s stage folders that no entry names, as "stage/vNNN"."""
    named: set[str] = set()
    for entry in entries:
        extra, stage = entry["extra"], entry["stage"]
        for key, folder in (("track_version", "track"), ("faceset_version", "faceset"),
                            ("version", stage), ("run", stage)):
            if isinstance(extra, dict) and isinstance(extra.get(key), str):
                named.add(f"{folder}/{extra[key]}")
    area = WorkArea(shot_dir)
    return [name for stage in RECORDED_STAGES for number in area.versions(stage)
            if (name := f"{stage}/{area.version_name(stage, number)}") not in named]


# --- checks -----------------------------------------------------------------------------------



def _examine(log: AuditLog, data: bytes | None, head: dict[str, Any] | None,
             pending: dict[str, Any] | None, key: AuditKey | None) -> AuditReport:
    if data is None and head is None and pending is None:
        versions = unrecorded_versions(log.path.parent, [])
        if versions:
            shown = ", ".join(versions[:6]) + (f" and {len(versions) - 6} more"
                                               if len(versions) > 6 else "")
            raise AuditError(str(log.path), "an audit log recording the versions in "
                             f"{log.path.parent}", f"no such file, and no record of {shown}",
                             "the log and its head were deleted; restore them from backup")
        raise AuditError(str(log.path), "an audit log", "no such file",
                         "no stage has recorded a run for this shot yet")
    data = data or b""
    complete = data[:data.rfind(b"\n") + 1]
    prev, entry, number, entries = GENESIS, None, 0, []
    for number, line in enumerate(lines_of(complete), start=1):
        where = f"{log.path}:{number}"
        entry = parse_entry(line, where)
        if entry["seq"] != number - 1:
            raise AuditError(f"{where} (field seq)", f"seq {number - 1}", f"seq {entry['seq']}",
                             "a line before it was removed or lines were reordered")
        if entry["prev"] != prev:
            raise AuditError(f"{where} (field prev)", f"the hash of line {number - 1}",
                             f"{entry['prev'][:12]}..., not {prev[:12]}...",
                             "the line before it was removed, replaced or reordered")
        prev = entry["hash"]
        entries.append(entry)
    if len(complete) < len(data):
        torn = len(data) - len(complete)
        if pending is None and not head_names(head, entry):
            raise torn_error(log.path, number + 1, torn, head, entry)
        raise AuditError(f"{log.path}:{number + 1}", "a line ending in a newline",
                         f"an incomplete last line ({torn} bytes) after {entry_name(entry)}",
                         "an append was interrupted (a full disk or a crash) before its "
                         f"head was written; `{REPAIR} {log.path}` (or the next stage run) "
                         "removes it" + (" and records the pending entry" if pending else ""))
    if pending is not None:
        raise AuditError(str(log.pending_path), "no unfinished append",
                         f"{entry_name(pending)} ({pending['time']}) not yet committed",
                         f"an append was interrupted (a full disk or a crash); `{REPAIR} "
                         f"{log.path}` (or the next stage run) records it")
    log._check_head(head, entry, number, key)
    return AuditReport(number, signature_words(head, key),
                       unrecorded_versions(log.path.parent, entries), entries)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        # Containers often run as a uid with no passwd entry and no $USER.
        return str(os.getuid())
