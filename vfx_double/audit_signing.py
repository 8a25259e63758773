"""The studio audit key and the signatures it makes on the audit log's head and pending
entry (:mod:`vfx_double.audit` says why and what they detect).

The key comes from ``$VFX_DOUBLE_AUDIT_KEY``, never from a shot config: a ``<key_id>.key``
written by ``vfx-double licence keygen`` where stages run, or its ``.pub`` to verify only.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .errors import AuditError, LicenceError
from .keyring import key_id_of, load_private_key, load_public_key
from .records import canonical_json

AUDIT_KEY_ENV = "VFX_DOUBLE_AUDIT_KEY"
HEAD_SCHEMA = ("AuditHead", 2)
PENDING_SCHEMA = ("AuditPending", 1)
SIGN = "vfx-double audit verify --sign"
KEY_HINT = ("point it at the <key_id>.key (or, to verify only, the .pub) that "
             "`vfx-double licence keygen` wrote")
HEAD_DOMAIN = b"vfx_double AuditHead\n"
PENDING_DOMAIN = b"vfx_double AuditPending\n"


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
        raise AuditError(where, err.expected, err.found, KEY_HINT) from err
    raise AuditError(where, "a <key_id>.key or <key_id>.pub file", repr(path.name), KEY_HINT)


def signing_key() -> AuditKey | None:
    """The audit key for writing: None when none is set; refused when only its .pub is."""
    key = audit_key()
    if key is not None and key.private is None:
        raise AuditError(f"${AUDIT_KEY_ENV}", f"the private key {key.key_id}.key, which signs "
                         "each append", "the public key only",
                         "point it at the .key on machines that run stages")
    return key


def signature_words(head: dict[str, Any] | None, key: AuditKey | None) -> str:
    if head is not None and "signature" in head:
        if key is not None:
            return f"head signed by audit key '{head['key_id']}' (signature checked)"
        return (f"head signed by audit key '{head['key_id']}' but not checked: set "
                f"${AUDIT_KEY_ENV} to its .key or .pub to detect a rewritten log")
    if key is not None:
        return "no entries to sign yet"
    return (f"unsigned (no audit key: ${AUDIT_KEY_ENV} is not set), so a rewritten and "
            "rehashed log cannot be detected")


def check_signature(where: str, record: dict[str, Any], signed: bytes,
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


def head_bytes(head: dict[str, Any]) -> bytes:
    return HEAD_DOMAIN + canonical_json({"seq": head["seq"], "hash": head["hash"],
                                          "key_id": head.get("key_id")})


def sign_record(key: AuditKey | None, signed_record: dict[str, Any], signed: bytes) -> dict[str, Any]:
    if key is None or key.private is None:
        return signed_record
    signature = base64.b64encode(key.private.sign(signed)).decode("ascii")
    return {**signed_record, "signature": signature}


def head_record(entry: dict[str, Any], key: AuditKey | None) -> dict[str, Any]:
    head: dict[str, Any] = {"schema": f"{HEAD_SCHEMA[0]}.{HEAD_SCHEMA[1]}",
                            "seq": entry["seq"], "hash": entry["hash"]}
    if key is not None and key.private is not None:
        head["key_id"] = key.key_id
    return sign_record(key, head, head_bytes(head))


def pending_record(entry: dict[str, Any], key: AuditKey | None) -> dict[str, Any]:
    record: dict[str, Any] = {"schema": f"{PENDING_SCHEMA[0]}.{PENDING_SCHEMA[1]}",
                              "entry": entry}
    if key is not None and key.private is not None:
        record["key_id"] = key.key_id
    return sign_record(key, record, PENDING_DOMAIN + canonical_json(entry))
