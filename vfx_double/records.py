"""Versioned records: every saved object carries ``schema: "Name.N"`` (see DESIGN.md).

Shared by licences, the audit log, configs, checkpoints and weights: the canonical bytes
that are signed or hashed, file hashing, a JSON reader that refuses duplicate keys, and
the schema-version check.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from pathlib import Path
from typing import Any

from .errors import VfxDoubleError
from .io.atomic import is_temp_path

#: size limits of the small records this tool reads: each read stops one byte past its
#: limit, so a file that is (or links to) /dev/zero, or a 2 GB "licence", costs at most
#: that much memory, and the error names the limit
KB, MB = 1 << 10, 1 << 20
LIMITS = {"licence": 256 * KB, "key": 16 * KB, "config": 1 * MB, "options": 4 * MB,
          "checkpoint state": 16 * MB, "record": 64 * MB, "report": 4 * MB}


def read_bounded(path: str | Path, kind: str, error: type[VfxDoubleError], *,
                 what: str = "", hint: str = "") -> bytes:
    """The bytes of a small record file of ``kind`` (a key of :data:`LIMITS`): a regular
    file (a symlink to one is fine) of at most its limit; else ``error`` naming the limit.
    A missing file raises FileNotFoundError for the caller to word."""
    limit = LIMITS[kind]
    where = str(path)
    expected = what or f"a {kind} file"
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise
    except OSError as err:
        raise error(where, expected, f"unreadable ({err.strerror})", hint) from err
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        found = "a folder" if stat.S_ISDIR(mode) else "a device or pipe, not a file"
        raise error(where, f"{expected} (a regular file)", found, hint)
    with os.fdopen(fd, "rb") as f:
        try:
            data = f.read(limit + 1)
        except OSError as err:
            raise error(where, expected, f"unreadable ({err.strerror})", hint) from err
    if len(data) > limit:
        raise error(where, f"{expected} of at most {limit // KB} KB",
                    f"a file over {limit // KB} KB", hint or "point at the right file")
    return data


def canonical_json(obj: Any) -> bytes:
    """The exact bytes that are signed or hashed: sorted keys, no spaces, UTF-8."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def parse_json(data: bytes | str, where: str, error: type[VfxDoubleError], *,
               add_line: bool = True) -> Any:
    """``json.loads`` that refuses duplicate keys (a second value could hide the signed one).

    With ``add_line`` a syntax error's ``where`` gets ``:line``; leave it off when ``where``
    already names the line (one JSONL line).
    """
    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in pairs]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            raise error(where, "each key once", f"duplicate key {dupes[0]!r}")
        return dict(pairs)

    try:
        return json.loads(data, object_pairs_hook=no_duplicates)
    except RecursionError as err:
        raise error(where, "JSON nested a few hundred levels at most",
                    "nesting deeper than can be read", "this is not a file this tool wrote") from err
    except UnicodeDecodeError as err:
        raise error(where, "UTF-8 JSON", f"undecodable bytes ({err.reason})") from err
    except json.JSONDecodeError as err:
        place = f"{where}:{err.lineno}" if add_line else where
        raise error(place, "valid JSON", f"{err.msg} at column {err.colno}") from err


def check_schema(value: Any, schema: tuple[str, int], where: str,
                 error: type[VfxDoubleError],
                 hint: str = "this is not a file this tool wrote") -> int:
    """The version of a ``"Name.N"`` schema tag; refuse another name or a newer version."""
    name, version = schema
    m = re.fullmatch(rf"{name}\.(\d+)", value) if isinstance(value, str) else None
    if m is None:
        raise error(f"{where} (field schema)", f"schema: {name}.{version}",
                    repr(value) if value is not None else "no schema", hint)
    found = int(m.group(1))
    if found > version:
        raise error(f"{where} (field schema)", f"{name}.{version} or older", f"{name}.{found}",
                    "it was written by a newer vfx_double; upgrade vfx_double")
    # Older versions would be upgraded here, one function per version (none exist yet).
    return found


def hash_file(path: str | Path) -> str:
    """sha256 hex of a file's bytes, streamed in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_keys(data: Any, required: set[str], where: str, error: type[VfxDoubleError],
               optional: frozenset[str] | set[str] = frozenset()) -> None:
    """Refuse unless ``data`` is an object with every ``required`` key and no key outside
    ``required | optional``; the error names the first field at fault."""
    if not isinstance(data, dict):
        raise error(where, "a JSON object", type(data).__name__)
    missing = sorted(required - data.keys())
    if missing:
        raise error(f"{where} (field {missing[0]})", f"key {missing[0]!r}", "none")
    unknown = sorted(data.keys() - required - optional)
    if unknown:
        allowed = ", ".join(sorted(required | optional))
        raise error(f"{where} (field {unknown[0]})", f"only {allowed}",
                    f"unknown key {unknown[0]!r}")


def read_json(path: str | Path, kind: str, error: type[VfxDoubleError], *, what: str = "",
              hint: str = "", where: str | None = None) -> Any:
    """A small JSON file of ``kind`` (see :data:`LIMITS`), read bounded and parsed; errors
    name ``where`` (default the path). A missing file raises FileNotFoundError."""
    return parse_json(read_bounded(path, kind, error, what=what, hint=hint),
                      str(path) if where is None else where, error)


def read_record(path: str | Path, schema: tuple[str, int], error: type[VfxDoubleError], *,
                what: str, hint: str, kind: str = "record") -> dict[str, Any]:
    """A saved JSON record of ``schema`` (this version or an older one), read within the
    limit of ``kind``: a missing file is ``error`` naming ``what`` it should be and ``hint``
    (the command that writes it)."""
    where = str(path)
    try:
        data = read_json(path, kind, error, what=what, hint=hint)
    except FileNotFoundError as err:
        raise error(where, what, "no such file", hint) from err
    check_schema(data.get("schema") if isinstance(data, dict) else None, schema, where, error)
    return data


def hash_tree(folder: Path) -> str:
    """sha256 hex over every file under ``folder``: relative POSIX paths and contents.

    Independent of where the folder lives and of listing order; empty folders and atomic-
    write leftovers (``.name.tmp-*``) do not count. Symlinked files count as their target.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder}: expected a folder to hash")
    files = sorted((p.relative_to(folder).as_posix(), p) for p in folder.rglob("*")
                   if p.is_file() and not is_temp_path(p))
    digest = hashlib.sha256()
    for rel, path in files:
        # A NUL cannot occur in a path, so each record is unambiguous.
        digest.update(rel.encode("utf-8") + b"\0" + hash_file(path).encode("ascii") + b"\n")
    return digest.hexdigest()


def last_json_line(path: str | Path, tail: int = 65536) -> dict[str, Any] | None:
    """The last non-empty line of a JSON-lines file (e.g. a run's metrics.jsonl) as an
    object, read from the file's last ``tail`` bytes (a long run's file is large); None when
    the file is missing or empty or that line is not a JSON object."""
    path = Path(path)
    if not path.is_file():
        return None
    with open(path, "rb") as f:
        size = f.seek(0, 2)
        f.seek(max(0, size - tail))
        lines = [line for line in f.read().splitlines() if line.strip()]
    try:
        last = json.loads(lines[-1]) if lines else None
    except ValueError:
        return None
    return last if isinstance(last, dict) else None
