"""Signed likeness licences: Ed25519 issuer keys, a keyring the studio controls, scope checks.

A licence file holds ``{"schema": "SignedLicence.1", "licence": {...}, "signature": {...}}``.
The signature covers the canonical JSON of the ``licence`` record (sorted keys, no spaces,
UTF-8), so any edit to the record after signing is refused.

The trusted issuer keys come only from the keyring folder: the ``keyring`` argument (the
CLI's ``--keyring``), else ``$VFX_DOUBLE_KEYRING``, else ``$XDG_CONFIG_HOME/vfx_double/keyring``
(``~/.config/...``). Nothing in a shot config or a licence file can add a trusted key, so
editing YAML or JSON cannot make a licence pass.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .errors import LicenceError
from .io import atomic
from .records import canonical_json, check_schema, parse_json

USES = ("train", "render", "advertising", "film")

LICENCE_SCHEMA = ("Licence", 1)
SIGNED_SCHEMA = ("SignedLicence", 1)
KEY_SCHEMA = ("IssuerKey", 1)
KEYRING_ENV = "VFX_DOUBLE_KEYRING"
KEYGEN_HINT = ("create an issuer key with `vfx-double licence keygen --out KEYS --key-id ID` "
               "and copy KEYS/ID.pub into the keyring")

_KEY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TEXT_FIELDS = ("licence_id", "actor", "licensor", "licensee", "issuer_key_id")


# --- records shared with audit.py -----------------------------------------------------------

def _check_keys(data: Any, required: set[str], where: str,
                optional: frozenset[str] | set[str] = frozenset()) -> None:
    if not isinstance(data, dict):
        raise LicenceError(where, "a JSON object", type(data).__name__)
    missing = sorted(required - data.keys())
    if missing:
        raise LicenceError(f"{where} (field {missing[0]})", f"key {missing[0]!r}", "none")
    unknown = sorted(data.keys() - required - optional)
    if unknown:
        allowed = ", ".join(sorted(required | optional))
        raise LicenceError(f"{where} (field {unknown[0]})", f"only {allowed}",
                           f"unknown key {unknown[0]!r}")


# --- the licence record ---------------------------------------------------------------------

@dataclass(frozen=True)
class Licence:
    licence_id: str
    actor: str
    licensor: str
    licensee: str
    shows: tuple[str, ...]
    uses: tuple[str, ...]
    valid_from: dt.date
    #: inclusive: the licence is valid through this whole day
    valid_until: dt.date
    issuer_key_id: str
    notes: str = ""
    schema: str = "Licence.1"

    def __post_init__(self) -> None:
        for name in ("shows", "uses"):
            if isinstance(getattr(self, name), str):
                # tuple("SHOW") would silently become ('S', 'H', 'O', 'W').
                raise LicenceError(f"licence {self.licence_id!r} (field {name})",
                                   "a list of strings", repr(getattr(self, name)))
        # Callers often pass lists; tuples keep the frozen record hashable and immutable.
        object.__setattr__(self, "shows", tuple(self.shows))
        object.__setattr__(self, "uses", tuple(self.uses))

    def to_record(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "licence_id": self.licence_id,
            "actor": self.actor,
            "licensor": self.licensor,
            "licensee": self.licensee,
            "shows": list(self.shows),
            "uses": list(self.uses),
            "valid_from": self.valid_from.isoformat(),
            "valid_until": self.valid_until.isoformat(),
            "issuer_key_id": self.issuer_key_id,
            "notes": self.notes,
        }

    @classmethod
    def from_record(cls, record: Any, where: str = "licence") -> Licence:
        """Build and check a licence from its JSON record; LicenceError names the bad field."""
        _check_keys(record, {"schema", *_TEXT_FIELDS, "shows", "uses", "valid_from", "valid_until"},
                    where, optional={"notes"})
        check_schema(record["schema"], LICENCE_SCHEMA, where, LicenceError)
        for name in _TEXT_FIELDS:
            _text(record[name], where, name)
        notes = record.get("notes", "")
        if not isinstance(notes, str):
            raise LicenceError(f"{where} (field notes)", "a string", repr(notes))
        lic = cls(
            **{name: record[name] for name in _TEXT_FIELDS},
            shows=_names(record["shows"], where, "shows"),
            uses=_names(record["uses"], where, "uses"),
            valid_from=_date(record["valid_from"], where, "valid_from"),
            valid_until=_date(record["valid_until"], where, "valid_until"),
            notes=notes,
            schema=f"{LICENCE_SCHEMA[0]}.{LICENCE_SCHEMA[1]}",
        )
        unknown = [u for u in lic.uses if u not in USES]
        if unknown:
            raise LicenceError(f"{where} (field uses)", f"uses from {', '.join(USES)}",
                               repr(unknown[0]))
        if lic.valid_until < lic.valid_from:
            raise LicenceError(f"{where} (field valid_until)",
                               f"a date on or after valid_from {lic.valid_from}",
                               lic.valid_until.isoformat())
        return lic


def _text(value: Any, where: str, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise LicenceError(f"{where} (field {name})", "a non-empty string", repr(value))
    return value


def _names(value: Any, where: str, name: str) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or not value:
        raise LicenceError(f"{where} (field {name})", "a non-empty list of strings", repr(value))
    items = tuple(_text(v, where, name) for v in value)
    if len(set(items)) != len(items):
        raise LicenceError(f"{where} (field {name})", "each entry once", repr(list(items)))
    return items


def _date(value: Any, where: str, name: str) -> dt.date:
    if isinstance(value, str) and _ISO_DATE.match(value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise LicenceError(f"{where} (field {name})", "a date YYYY-MM-DD", repr(value))


# --- issuer keys ----------------------------------------------------------------------------

def keygen(out_dir: Path, key_id: str) -> tuple[Path, Path]:
    """Write ``<key_id>.key`` (private, mode 0600) and ``<key_id>.pub``; never overwrite."""
    if not isinstance(key_id, str) or not _KEY_ID.match(key_id):
        raise LicenceError("key id", "letters, digits, '_', '.', '-' (it names the key files)",
                           repr(key_id))
    out_dir = Path(out_dir)
    private_path, public_path = out_dir / f"{key_id}.key", out_dir / f"{key_id}.pub"
    for path in (private_path, public_path):
        if path.exists():
            raise LicenceError(str(path), "no existing key file", "a file already there",
                               "keys are never overwritten; choose another key id or folder")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    try:
        with atomic.atomic_path(private_path, overwrite=False) as tmp:
            # Created 0600 before any secret byte is written, so it is never readable by others.
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.fchmod(fd, 0o600)
                os.write(fd, pem)
            finally:
                os.close(fd)
        atomic.write_json(public_path, {
            "schema": f"{KEY_SCHEMA[0]}.{KEY_SCHEMA[1]}",
            "key_id": key_id,
            "public_key": base64.b64encode(_raw_public(key.public_key())).decode("ascii"),
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        }, overwrite=False)
    except FileExistsError as err:
        raise LicenceError(str(err.filename or out_dir), "no existing key file",
                           "a file made meanwhile",
                           "keys are never overwritten; run keygen again") from err
    return private_path, public_path


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def load_public_key(path: Path) -> tuple[str, Ed25519PublicKey]:
    """``(key_id, key)`` from an ``IssuerKey.1`` ``.pub`` file."""
    where = str(path)
    try:
        data = parse_json(Path(path).read_bytes(), where, LicenceError)
    except OSError as err:
        raise LicenceError(where, "a readable issuer public key", err.strerror or str(err)) from err
    _check_keys(data, {"schema", "key_id", "public_key"}, where, optional={"created"})
    check_schema(data["schema"], KEY_SCHEMA, where, LicenceError)
    key_id = data["key_id"]
    if not isinstance(key_id, str) or not _KEY_ID.match(key_id):
        raise LicenceError(f"{where} (field key_id)", "a key id", repr(key_id))
    try:
        raw = base64.b64decode(data["public_key"], validate=True)
        return key_id, Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, TypeError, ValueError) as err:
        raise LicenceError(f"{where} (field public_key)", "base64 of a 32-byte Ed25519 public key",
                           repr(data["public_key"])[:60]) from err


def load_private_key(path: Path) -> Ed25519PrivateKey:
    where = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise LicenceError(where, "an issuer private key", err.strerror or str(err)) from err
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as err:
        raise LicenceError(where, "an unencrypted PKCS8 PEM Ed25519 private key", "something else",
                           "use the .key file `vfx-double licence keygen` wrote") from err
    if not isinstance(key, Ed25519PrivateKey):
        raise LicenceError(where, "an Ed25519 private key", type(key).__name__)
    return key


def key_id_of(private_key_path: Path) -> str:
    """The key id of ``<key_id>.key``; checked against ``<key_id>.pub`` beside it when present."""
    path = Path(private_key_path)
    if path.suffix != ".key" or not _KEY_ID.match(path.stem):
        raise LicenceError(str(path), "a private key file named <key_id>.key", repr(path.name))
    public_path = path.with_suffix(".pub")
    if public_path.exists():
        key_id, public = load_public_key(public_path)
        private_public = load_private_key(path).public_key()
        if key_id != path.stem or _raw_public(public) != _raw_public(private_public):
            raise LicenceError(str(path), f"the private half of {public_path} (key id '{key_id}')",
                               "a different key",
                               "keep each key pair together under its own key id")
    return path.stem


# --- the keyring ----------------------------------------------------------------------------

class Keyring(Mapping[str, Ed25519PublicKey]):
    """Trusted issuer public keys by key id, with the folder and file each came from."""

    def __init__(self, path: Path, keys: Mapping[str, Ed25519PublicKey],
                 files: Mapping[str, Path]) -> None:
        self.path = path
        self._keys = dict(keys)
        self.files = dict(files)

    def __getitem__(self, key_id: str) -> Ed25519PublicKey:
        return self._keys[key_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


def keyring_path(path: Path | None = None) -> tuple[Path, str]:
    """The keyring folder and where it was chosen: argument, then environment, then default."""
    if path is not None:
        return Path(path), "--keyring"
    env = os.environ.get(KEYRING_ENV)
    if env:
        return Path(env), f"${KEYRING_ENV}"
    config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config_home) / "vfx_double" / "keyring", "the default keyring"


def load_keyring(path: Path | None = None) -> Keyring:
    folder, source = keyring_path(path)
    where = f"keyring {folder} (from {source})"
    if not folder.is_dir():
        found = "a file, not a folder" if folder.exists() else "no such folder"
        raise LicenceError(where, "a folder of trusted issuer public keys (*.pub)", found,
                           f"{KEYGEN_HINT}, or pass --keyring / set ${KEYRING_ENV}")
    keys: dict[str, Ed25519PublicKey] = {}
    files: dict[str, Path] = {}
    # Hidden names are atomic-write leftovers or editor files, never keys.
    for file in sorted(p for p in folder.glob("*.pub") if not p.name.startswith(".")):
        key_id, key = load_public_key(file)
        if key_id in keys:
            raise LicenceError(str(file), "each key id once in the keyring",
                               f"key id '{key_id}' also in {files[key_id]}",
                               "remove one of the two files")
        keys[key_id], files[key_id] = key, file
    if not keys:
        raise LicenceError(where, "at least one issuer public key (*.pub)", "none", KEYGEN_HINT)
    return Keyring(folder, keys, files)


# --- issue, verify, require -----------------------------------------------------------------

def issue(licence: Licence, private_key_path: Path, out_path: Path) -> Path:
    """Sign ``licence`` with the issuer key and write it to ``out_path`` (never overwritten)."""
    where = f"licence {licence.licence_id!r}"
    record = Licence.from_record(licence.to_record(), where).to_record()
    key_id = key_id_of(private_key_path)
    if record["issuer_key_id"] != key_id:
        raise LicenceError(f"{where} (field issuer_key_id)",
                           f"'{key_id}', the id of {private_key_path}",
                           repr(record["issuer_key_id"]),
                           "sign with the issuer key the record names")
    signature = load_private_key(private_key_path).sign(canonical_json(record))
    signed = {
        "schema": f"{SIGNED_SCHEMA[0]}.{SIGNED_SCHEMA[1]}",
        "licence": record,
        "signature": {"alg": "Ed25519", "key_id": key_id,
                      "value": base64.b64encode(signature).decode("ascii")},
    }
    out_path = Path(out_path)
    try:
        atomic.write_json(out_path, signed, overwrite=False)
    except FileExistsError as err:
        raise LicenceError(str(out_path), "a new licence file", "an existing file",
                           "issued licences are never overwritten; choose another --out") from err
    return out_path


def verify(licence_path: Path, keyring: Keyring) -> Licence:
    """The licence in ``licence_path`` once its signature checks out against ``keyring``."""
    path = Path(licence_path)
    where = str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as err:
        raise LicenceError(where, "a signed licence file", "no such file",
                           "check actor.licence in the shot config or issue one with "
                           "`vfx-double licence issue`") from err
    except OSError as err:
        raise LicenceError(where, "a readable licence file", err.strerror or str(err)) from err
    signed = parse_json(data, where, LicenceError)
    _check_keys(signed, {"schema", "licence", "signature"}, where)
    check_schema(signed["schema"], SIGNED_SCHEMA, where, LicenceError)
    sig = signed["signature"]
    _check_keys(sig, {"alg", "key_id", "value"}, f"{where} (field signature)")
    if sig["alg"] != "Ed25519":
        raise LicenceError(f"{where} (field signature.alg)", "'Ed25519'", repr(sig["alg"]))
    key_id = sig["key_id"]
    if not isinstance(key_id, str) or key_id not in keyring:
        known = ", ".join(sorted(keyring)) or "none"
        raise LicenceError(f"{where} (field signature.key_id)",
                           f"an issuer key in keyring {keyring.path} ({known})", repr(key_id),
                           "if the studio trusts this issuer, add its .pub to the keyring")
    try:
        value = base64.b64decode(sig["value"], validate=True)
        keyring[key_id].verify(value, canonical_json(signed["licence"]))
    except (InvalidSignature, binascii.Error, TypeError, ValueError) as err:
        raise LicenceError(f"{where} (field signature)", f"a valid Ed25519 signature by '{key_id}'",
                           "a signature that does not match the record",
                           "the licence was edited after signing or signed with another key; "
                           "ask the issuer for a fresh copy") from err
    # Only a record whose signature checked out is parsed, so every field below is the issuer's.
    lic = Licence.from_record(signed["licence"], where)
    if lic.issuer_key_id != key_id:
        raise LicenceError(f"{where} (field issuer_key_id)", f"'{key_id}' (the signing key)",
                           repr(lic.issuer_key_id), "ask the issuer to re-issue the licence")
    return lic


def require(licence: Licence, show: str, use: str, on: dt.date, where: str = "") -> None:
    """Refuse unless ``licence`` grants ``use`` on ``show`` on day ``on``; name the bad field."""
    where = where or f"licence {licence.licence_id}"
    if isinstance(on, dt.datetime):
        on = on.date()
    if use not in USES:
        raise LicenceError(where, f"a use from {', '.join(USES)}", repr(use))
    if show not in licence.shows:
        raise LicenceError(f"{where} (field shows)", f"show '{show}'",
                           f"{list(licence.shows)} in licence {licence.licence_id}",
                           "ask the licensor for a licence that covers this show")
    if use not in licence.uses:
        raise LicenceError(f"{where} (field uses)", f"'{use}' granted",
                           f"{list(licence.uses)} in licence {licence.licence_id}",
                           "ask the licensor for a licence that grants this use")
    if on < licence.valid_from:
        raise LicenceError(f"{where} (field valid_from)", f"valid on {on}",
                           f"not valid until {licence.valid_from}",
                           "wait for the licence period to start")
    if on > licence.valid_until:
        raise LicenceError(f"{where} (field valid_until)", f"valid on {on}",
                           f"expired after {licence.valid_until}",
                           "ask the licensor to renew the licence")


def check(licence_path: Path, show: str, use: str, on: dt.date | None = None,
          keyring: Path | None = None, *, actor: str | None = None) -> Licence:
    """Verify the licence against the studio keyring and require ``use`` on ``show``.

    The one call a stage makes before it trains or renders anything.

    The keyring is the ``keyring`` argument or the environment (see :func:`keyring_path`);
    there is deliberately no way to pass it in from a shot config.
    """
    lic = verify(Path(licence_path), load_keyring(keyring))
    if actor is not None and lic.actor != actor:
        raise LicenceError(f"{licence_path} (field actor)", f"a licence for actor '{actor}'",
                           repr(lic.actor), "use the licence issued for this actor")
    require(lic, show, use, on or dt.date.today(), where=str(licence_path))
    return lic
