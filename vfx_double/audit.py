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

import base64
import binascii
import contextlib
import datetime as dt
import fcntl
import getpass
import hashlib
import os
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .errors import AuditError, LicenceError
from .io import atomic
from .keyring import key_id_of, load_private_key, load_public_key
from .records import canonical_json, check_keys, check_schema, hash_file, parse_json, read_bounded
from .workarea import WorkArea

ENTRY_SCHEMA = ("AuditEntry", 1)
HEAD_SCHEMA = ("AuditHead", 2)
PENDING_SCHEMA = ("AuditPending", 1)
GENESIS = "0" * 64
ENTRY_KEYS = {"schema", "seq", "time", "user", "host", "stage", "inputs", "outputs",
              "licence_id", "config_hash", "extra", "prev", "hash"}
CHAIN_KEYS = {"schema", "seq", "prev", "hash"}
AUDIT_KEY_ENV = "VFX_DOUBLE_AUDIT_KEY"
#: stage folders whose versions an entry records (review writes no record)
RECORDED_STAGES = ("track", "faceset", "train", "render", "comp")
REPAIR = "vfx-double audit verify --repair"
SIGN = "vfx-double audit verify --sign"

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_KEY_HINT = ("point it at the <key_id>.key (or, to verify only, the .pub) that "
             "`vfx-double licence keygen` wrote")


class AuditWriteError(AuditError):
    """An append could not be written (a full disk); the log was left as it was."""


@dataclass(frozen=True)
class AuditKey:
    """The studio audit key: the public half always, the private half where stages run."""

    key_id: str
    public: Ed25519PublicKey
    private: Ed25519PrivateKey | None = None


def audit_key() -> AuditKey | None:
    """The key ``$VFX_DOUBLE_AUDIT_KEY`` names, or None when it is not set."""
    value = os.environ.get(AUDIT_KEY_ENV)
    if not value:
        return None
    path = Path(value)
    where = f"${AUDIT_KEY_ENV} ({path})"
    try:
        if path.suffix == ".key":
            private = load_private_key(path)
            return AuditKey(key_id_of(path), private.public_key(), private)
        if path.suffix == ".pub":
            key_id, public = load_public_key(path)
            return AuditKey(key_id, public)
    except LicenceError as err:
        raise AuditError(where, err.expected, err.found, _KEY_HINT) from err
    raise AuditError(where, "a <key_id>.key or <key_id>.pub file", repr(path.name), _KEY_HINT)


def _signing_key() -> AuditKey | None:
    """The audit key for writing: None when none is set; refused when only its .pub is."""
    key = audit_key()
    if key is not None and key.private is None:
        raise AuditError(f"${AUDIT_KEY_ENV}", f"the private key {key.key_id}.key, which signs "
                         "each append", "the public key only",
                         "point it at the .key on machines that run stages")
    return key


def entry_hash(entry: dict[str, Any]) -> str:
    """sha256 of the canonical entry without its ``hash`` field."""
    content = {k: v for k, v in entry.items() if k != "hash"}
    return hashlib.sha256(canonical_json(content)).hexdigest()


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
            bad = [k for k, v in hashes.items() if not isinstance(k, str) or not _is_sha256(v)]
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
        key = _signing_key()
        pending = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._locked(fcntl.LOCK_EX, create=True):
                now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds")
                entry = _chained(self._recover(key)[1], {"time": now, **content})
                atomic.write_bytes(self.pending_path, canonical_json(_pending_record(entry, key)))
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
        key = _signing_key()
        if not (self.path.exists() or self.pending_path.exists()):
            check(self.path)  # says why: no log yet, or a deleted one
        with self._locked(fcntl.LOCK_EX, create=True):
            return self._recover(key)[0]

    def sign(self) -> bool:
        """Sign the head of an intact, unsigned log with the configured private key (once,
        when a studio starts using an audit key); False when it is already signed by it."""
        key = _signing_key()
        if key is None:
            raise AuditError(f"${AUDIT_KEY_ENV}", "the audit private key (<key_id>.key)",
                             "not set", _KEY_HINT)
        if not self.path.exists():
            check(self.path)
        with self._locked(fcntl.LOCK_EX, create=True):
            head = _read_head(self.head_path)
            if head is not None and "signature" in head:
                _examine(self, self._read(), head, self._read_pending(None), key)
                return False
            _examine(self, self._read(), head, self._read_pending(None), None)
            if head is None:
                raise AuditError(str(self.path), "entries to sign", "none",
                                 "the first stage run signs the log")
            atomic.write_json(self.head_path, _head_record(head, key))
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
            record = parse_json(read_bounded(self.pending_path, "record", AuditError), where,
                                AuditError)
        except FileNotFoundError:
            return None
        check_keys(record, {"schema", "entry"}, where, AuditError,
                   optional={"key_id", "signature"})
        check_schema(record["schema"], PENDING_SCHEMA, where, AuditError)
        if not isinstance(record["entry"], dict):
            raise AuditError(f"{where} (field entry)", "an audit entry", "something else")
        entry = _parse_entry(canonical_json(record["entry"]), f"{where} (field entry)")
        if key is not None:
            _check_signature(where, record, _PENDING_DOMAIN + canonical_json(entry), key)
        return entry

    def _recover(self, key: AuditKey | None) -> tuple[list[str], dict[str, Any] | None]:
        """Finish or undo an interrupted append; return what was done and the last entry.

        Raises when the state is not one an append leaves (an edit, a removed tail)."""
        done: list[str] = []
        data = self._read() or b""
        complete = data[:data.rfind(b"\n") + 1]
        rows = _lines(complete)
        last = _parse_entry(rows[-1], f"{self.path}:{len(rows)}") if rows else None
        head = _read_head(self.head_path)
        pending = self._read_pending(key)
        line = canonical_json(pending) + b"\n" if pending else None
        if len(complete) < len(data):
            torn = data[len(complete):]
            ours = line is not None and line.startswith(torn)
            if not ours and not _names(head, last):
                raise _torn_error(self.path, len(rows) + 1, len(torn), head, last)
            self._truncate(len(complete))
            done.append(f"removed {len(torn)} bytes of an unfinished line after "
                        f"{_entry_name(last)}")
        if pending is None:
            self._check_head(head, last, len(rows), key)
            return done, last
        if rows and rows[-1] + b"\n" == line:
            before = (_parse_entry(rows[-2], f"{self.path}:{len(rows) - 1}")
                      if len(rows) > 1 else None)
            if _names(head, pending):
                _check_signature(str(self.head_path), head, _head_bytes(head), key)
                done.append(f"removed {self.pending_path.name}: {_entry_name(pending)} was "
                            "committed")
            else:
                self._check_head(head, before, len(rows) - 1, key)
                atomic.write_json(self.head_path, _head_record(pending, key))
                done.append(f"pointed the head at {_entry_name(pending)}, already in the log")
            entry = pending
        elif _names(head, pending) and _follows(pending, last):
            _check_signature(str(self.head_path), head, _head_bytes(head), key)
            self._commit(pending, key)
            done.append(f"appended {_entry_name(pending)}, which the head already named")
            entry = pending
        else:
            self._check_head(head, last, len(rows), key)
            # Chained anew when a writer without this code moved the log on meanwhile.
            entry = pending if _follows(pending, last) else _chained(
                last, {k: v for k, v in pending.items() if k not in CHAIN_KEYS})
            self._commit(entry, key)
            done.append(f"appended {_entry_name(entry)} from {self.pending_path.name}")
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
                atomic.write_json(self.head_path, _head_record(entry, key))
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
                raise _tail_removed(self.path, 1, head, None)
            return
        if head is None:
            raise AuditError(str(self.head_path),
                             f"a head file recording the last entry (seq {last['seq']})",
                             "no such file", "it was deleted, so a removed tail cannot be ruled "
                             "out; restore it from backup")
        if not _names(head, last):
            raise _tail_removed(self.path, count + 1, head, last)
        _check_signature(str(self.head_path), head, _head_bytes(head), key)


def check(path: Path) -> AuditReport:
    """Check every line of an audit log, its head and the head's signature (with the key
    ``$VFX_DOUBLE_AUDIT_KEY`` names); return what was found. Writes nothing."""
    log = AuditLog(path)
    key = audit_key()
    with log._locked(fcntl.LOCK_SH, create=False):
        data = log._read()
        head = _read_head(log.head_path)
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


# --- checks -----------------------------------------------------------------------------------

_HEAD_DOMAIN = b"vfx_double AuditHead\n"
_PENDING_DOMAIN = b"vfx_double AuditPending\n"


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
    for number, line in enumerate(_lines(complete), start=1):
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
        entries.append(entry)
    if len(complete) < len(data):
        torn = len(data) - len(complete)
        if pending is None and not _names(head, entry):
            raise _torn_error(log.path, number + 1, torn, head, entry)
        raise AuditError(f"{log.path}:{number + 1}", "a line ending in a newline",
                         f"an incomplete last line ({torn} bytes) after {_entry_name(entry)}",
                         "an append was interrupted (a full disk or a crash) before its "
                         f"head was written; `{REPAIR} {log.path}` (or the next stage run) "
                         "removes it" + (" and records the pending entry" if pending else ""))
    if pending is not None:
        raise AuditError(str(log.pending_path), "no unfinished append",
                         f"{_entry_name(pending)} ({pending['time']}) not yet committed",
                         f"an append was interrupted (a full disk or a crash); `{REPAIR} "
                         f"{log.path}` (or the next stage run) records it")
    log._check_head(head, entry, number, key)
    return AuditReport(number, _signature_words(head, key),
                       unrecorded_versions(log.path.parent, entries), entries)


def _signature_words(head: dict[str, Any] | None, key: AuditKey | None) -> str:
    if head is not None and "signature" in head:
        if key is not None:
            return f"head signed by audit key '{head['key_id']}' (signature checked)"
        return (f"head signed by audit key '{head['key_id']}' but not checked: set "
                f"${AUDIT_KEY_ENV} to its .key or .pub to detect a rewritten log")
    if key is not None:
        return "no entries to sign yet"
    return (f"unsigned (no audit key: ${AUDIT_KEY_ENV} is not set), so a rewritten and "
            "rehashed log cannot be detected")


def _check_signature(where: str, record: dict[str, Any], signed: bytes,
                     key: AuditKey | None) -> None:
    """With an audit key, ``record`` must carry that key's valid signature over ``signed``."""
    if key is None:
        return
    if "signature" not in record:
        older = (f", then sign it once with `{SIGN} LOG` if it predates the key"
                 if str(record.get("schema")).startswith(HEAD_SCHEMA[0]) else "")
        raise AuditError(where, f"a signature by audit key '{key.key_id}' "
                         f"(${AUDIT_KEY_ENV} is set)", "none",
                         "it was written without the key, or forged or rewritten with its "
                         f"signature removed; check the log against a backup{older}")
    if record.get("key_id") != key.key_id:
        raise AuditError(where, f"a signature by audit key '{key.key_id}'",
                         f"one by {record.get('key_id')!r}",
                         f"set ${AUDIT_KEY_ENV} to the key this shot's log is signed with")
    try:
        key.public.verify(base64.b64decode(record["signature"], validate=True), signed)
    except (InvalidSignature, binascii.Error, TypeError, ValueError) as err:
        raise AuditError(f"{where} (field signature)",
                         f"a valid signature by audit key '{key.key_id}'",
                         "one that does not match what it signs",
                         "the log or its head was rewritten after it was signed; restore "
                         "both from backup") from err


def _head_bytes(head: dict[str, Any]) -> bytes:
    return _HEAD_DOMAIN + canonical_json({"seq": head["seq"], "hash": head["hash"],
                                          "key_id": head.get("key_id")})


def _sign(key: AuditKey | None, signed_record: dict[str, Any], signed: bytes) -> dict[str, Any]:
    if key is None or key.private is None:
        return signed_record
    signature = base64.b64encode(key.private.sign(signed)).decode("ascii")
    return {**signed_record, "signature": signature}


def _head_record(entry: dict[str, Any], key: AuditKey | None) -> dict[str, Any]:
    head: dict[str, Any] = {"schema": f"{HEAD_SCHEMA[0]}.{HEAD_SCHEMA[1]}",
                            "seq": entry["seq"], "hash": entry["hash"]}
    if key is not None and key.private is not None:
        head["key_id"] = key.key_id
    return _sign(key, head, _head_bytes(head))


def _pending_record(entry: dict[str, Any], key: AuditKey | None) -> dict[str, Any]:
    record: dict[str, Any] = {"schema": f"{PENDING_SCHEMA[0]}.{PENDING_SCHEMA[1]}",
                              "entry": entry}
    if key is not None and key.private is not None:
        record["key_id"] = key.key_id
    return _sign(key, record, _PENDING_DOMAIN + canonical_json(entry))


def _chained(last: dict[str, Any] | None, content: dict[str, Any]) -> dict[str, Any]:
    entry = {"schema": f"{ENTRY_SCHEMA[0]}.{ENTRY_SCHEMA[1]}",
             "seq": 0 if last is None else last["seq"] + 1, **content,
             "prev": GENESIS if last is None else last["hash"]}
    entry["hash"] = entry_hash(entry)
    return entry


def _follows(entry: dict[str, Any], last: dict[str, Any] | None) -> bool:
    return (entry["seq"], entry["prev"]) == ((0, GENESIS) if last is None
                                             else (last["seq"] + 1, last["hash"]))


def _names(head: dict[str, Any] | None, entry: dict[str, Any] | None) -> bool:
    if head is None or entry is None:
        return head is None and entry is None
    return (head["seq"], head["hash"]) == (entry["seq"], entry["hash"])


def _entry_name(entry: dict[str, Any] | None) -> str:
    return "the start" if entry is None else f"entry seq {entry['seq']} ({entry['stage']})"


def _is_sha256(value: Any) -> bool:
    return isinstance(value, str) and bool(_SHA256.match(value))


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        # Containers often run as a uid with no passwd entry and no $USER.
        return str(os.getuid())


def _lines(data: bytes) -> list[bytes]:
    """The lines of ``data`` (which ends in a newline or is empty), without newlines."""
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
            and _is_sha256(entry["hash"]) and isinstance(entry["stage"], str)):
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


def _read_head(path: Path) -> dict[str, Any] | None:
    """The head (AuditHead.1, unsigned, reads as it is), or None when there is none."""
    where = str(path)
    try:
        head = parse_json(read_bounded(path, "record", AuditError, what="an audit head"),
                          where, AuditError)
    except FileNotFoundError:
        return None
    if not isinstance(head, dict):
        raise AuditError(where, "a JSON object", type(head).__name__)
    version = check_schema(head.get("schema"), HEAD_SCHEMA, where, AuditError)
    check_keys(head, {"schema", "seq", "hash"}, where, AuditError,
               optional={"key_id", "signature"} if version >= 2 else set())
    if not isinstance(head["seq"], int) or not _is_sha256(head["hash"]):
        raise AuditError(where, "an integer seq and a sha256 hash", repr(head)[:80])
    if ("signature" in head) != isinstance(head.get("key_id"), str) or not isinstance(
            head.get("signature", ""), str):
        raise AuditError(where, "a key_id and signature together, as strings", "other values",
                         "the head was edited")
    return head


def _torn_error(path: Path, number: int, size: int, head: dict[str, Any] | None,
                last: dict[str, Any] | None) -> AuditError:
    return AuditError(f"{path}:{number}", "a line ending in a newline",
                      f"an incomplete last line ({size} bytes) after {_entry_name(last)}, "
                      f"and a head that does not name {_entry_name(last)}",
                      "the file was edited, not left by an interrupted append; restore it "
                      "from backup")


def _tail_removed(path: Path, number: int, head: dict[str, Any],
                  last: dict[str, Any] | None) -> AuditError:
    found = ("no entries" if last is None
             else f"the log ends at seq {last['seq']} ({last['hash'][:12]}...)")
    return AuditError(f"{path}:{number}",
                      f"entry seq {head['seq']} ({head['hash'][:12]}...) as the last line, "
                      f"as {path.stem}.head.json records", found,
                      "lines at the end were removed or replaced; restore the log from backup")
