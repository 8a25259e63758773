"""Signed likeness licences: the record, issuing, verifying against the studio keyring
(:mod:`vfx_double.keyring`), scope checks, and the one gate every stage passes (:func:`check`).

A licence file holds ``{"schema": "SignedLicence.1", "licence": {...}, "signature": {...}}``.
The signature covers the canonical JSON of the ``licence`` record (sorted keys, no spaces,
UTF-8), so any edit to the record after signing is refused.

Nothing in a shot config or a licence file can add a trusted key, so editing YAML or JSON
cannot make a licence pass.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature

from .errors import LicenceError
from .io import atomic
from .keyring import Keyring, key_id_of, load_keyring, load_private_key
from .records import canonical_json, check_keys, check_schema, hash_file, parse_json, read_bounded

USES = ("train", "render", "advertising", "film")

#: Licence.2 names the reference media the licensor approved; a Licence.1 names none
LICENCE_SCHEMA = ("Licence", 2)
SIGNED_SCHEMA = ("SignedLicence", 1)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TEXT_FIELDS = ("licence_id", "actor", "licensor", "licensee", "issuer_key_id")


# --- records shared with audit.py -----------------------------------------------------------

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
    #: sha256 of every reference media file (each frame) the licensor approved: the
    #: consent is to a likeness in this footage, not in any footage a TD points at
    media: tuple[str, ...] = ()
    schema: str = f"{LICENCE_SCHEMA[0]}.{LICENCE_SCHEMA[1]}"

    def __post_init__(self) -> None:
        for name in ("shows", "uses"):
            if isinstance(getattr(self, name), str):
                # tuple("SHOW") would silently become ('S', 'H', 'O', 'W').
                raise LicenceError(f"licence {self.licence_id!r} (field {name})",
                                   "a list of strings", repr(getattr(self, name)))
        # Callers often pass lists; tuples keep the frozen record hashable and immutable.
        object.__setattr__(self, "shows", tuple(self.shows))
        object.__setattr__(self, "uses", tuple(self.uses))
        object.__setattr__(self, "media", tuple(sorted(set(self.media))))

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
            **({"media": list(self.media)} if self.schema != "Licence.1" else {}),
        }

    @classmethod
    def from_record(cls, record: Any, where: str = "licence") -> Licence:
        """Build and check a licence from its JSON record; LicenceError names the bad field."""
        check_keys(record, {"schema", *_TEXT_FIELDS, "shows", "uses", "valid_from", "valid_until"},
                   where, LicenceError, optional={"notes", "media"})
        version = check_schema(record["schema"], LICENCE_SCHEMA, where, LicenceError)
        media = record.get("media", [] if version == 1 else None)
        if version == 1 and "media" in record:
            raise LicenceError(f"{where} (field media)", "no media in a Licence.1 record",
                               "a media list", "a Licence.2 names its media")
        if not isinstance(media, list) or not all(
                isinstance(m, str) and re.fullmatch(r"[0-9a-f]{64}", m) for m in media):
            raise LicenceError(f"{where} (field media)",
                               "a list of sha256 digests of the approved reference media",
                               repr(media)[:60], "issue the licence with --media")
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
            media=tuple(media),
            schema=f"{LICENCE_SCHEMA[0]}.{version}",
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
        data = read_bounded(path, "licence", LicenceError, what="a signed licence file")
    except FileNotFoundError as err:
        raise LicenceError(where, "a signed licence file", "no such file",
                           "check actor.licence in the shot config or issue one with "
                           "`vfx-double licence issue`") from err
    signed = parse_json(data, where, LicenceError)
    check_keys(signed, {"schema", "licence", "signature"}, where, LicenceError)
    check_schema(signed["schema"], SIGNED_SCHEMA, where, LicenceError)
    sig = signed["signature"]
    check_keys(sig, {"alg", "key_id", "value"}, f"{where} (field signature)", LicenceError)
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


def media_digests(patterns: Iterable[str | Path]) -> tuple[str, ...]:
    """sha256 of every file the ``patterns`` name (a frame pattern such as ``ref.####.exr``
    or ``ref.%04d.exr``, or a plain file), for a licence's ``media``."""
    from .io.sequences import FrameSequence

    digests = []
    for pattern in patterns:
        path = Path(pattern)
        if path.is_file():
            files = [path]
        else:
            seq = FrameSequence(str(path))
            files = [seq.path(f) for f in seq.existing()]
        if not files:
            raise LicenceError(f"--media {pattern}", "reference footage files",
                               "no file or frames there", "check the pattern")
        digests += [hash_file(f) for f in files]
    return tuple(digests)


def require_media(licence: Licence, files: Iterable[tuple[int, str | Path]],
                  digests: Iterable[str | None] | None = None) -> None:
    """Refuse reference footage the licence does not approve: each ``(frame, file)`` whose
    sha256 (given in ``digests``, else read from the file) is not in ``licence.media``. A
    digest of None is a crop that does not say which frame it came from."""
    files = list(files)
    hashes = list(digests) if digests is not None else [hash_file(path) for _, path in files]
    for (frame, path), digest in zip(files, hashes):
        if digest is None:
            raise LicenceError(f"{path} (frame {frame})", "a crop that records the sha256 of "
                               "the reference frame it came from", "none recorded",
                               "the faceset predates licences that name their media: rerun "
                               "`vfx-double track`")
        if digest not in licence.media:
            found = (f"a frame licence {licence.licence_id} does not list (sha256 "
                     f"{digest[:12]}...)" if licence.media else
                     f"licence {licence.licence_id} approves no media (a {licence.schema} record)")
            raise LicenceError(f"{path} (frame {frame})",
                               f"reference footage licence {licence.licence_id} approves", found,
                               "use the footage the licensor approved, or ask for a licence "
                               "issued with --media naming this footage")


def check(licence_path: Path, show: str, uses: str | tuple[str, ...], on: dt.date | None = None,
          keyring: Path | None = None, *, actor: str | None = None, where: str = "") -> Licence:
    """The licence gate: verify the licence against the studio keyring, then require each
    of ``uses`` on ``show`` today (or ``on``), for ``actor`` when given. Every stage passes
    it through :func:`vfx_double.shot.open_shot`; ``where`` names the licence in errors
    (the shot config's field), else the file.

    The keyring is the ``keyring`` argument or the environment (see
    :func:`vfx_double.keyring.keyring_path`); there is deliberately no way to pass it in
    from a shot config, so editing YAML cannot make an untrusted licence pass.
    """
    lic = verify(Path(licence_path), load_keyring(keyring))
    if actor is not None and lic.actor != actor:
        raise LicenceError(f"{licence_path} (field actor)",
                           f"a licence for actor '{actor}' (the shot's actor.name)",
                           repr(lic.actor), "use the licence issued for this actor")
    for use in (uses,) if isinstance(uses, str) else uses:
        require(lic, show, use, on or dt.date.today(), where=where or str(licence_path))
    return lic
