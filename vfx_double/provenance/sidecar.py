"""Signed sidecar manifests for EXR sequences (``frames.manifest.json``, FrameManifest.1).

C2PA has no EXR binding (c2pa-rs embeds in JPEG, PNG, BMFF video and a few others), and an
EXR's own header attributes are just text anyone can rewrite. So review writes one JSON
manifest beside the movies that lists every comp frame with its sha256, signed with the
same credentials and chain as the movies' C2PA manifests and checked against the same
trust anchors (``c2pa_trust.pem`` in the keyring): one key, one trust list, one answer
(Trusted / Valid / Invalid / Missing) for the movies and the frames they were made from.
A JSON file rather than a C2PA sidecar (.c2pa) because c2pa-rs would still need a
supported asset to bind to, and per-frame hashes are what a comp TD checks a frame by.

Layout::

    {"schema": "FrameManifest.1",
     "record": {"licence_id": "LIC-0001", "created": "2026-12-03T07:10:00+00:00",
                "base": "../..", "algorithm": "sha256",
                "frames": [{"path": "comp/v002/sh010_comp_v002.1001.exr",
                            "sha256": "<hex>"}, ...]},
     "signature": {"alg": "es256", "chain": ["<PEM leaf>", ...], "value": "<base64>"}}

``base`` is the frames' folder relative to the manifest's, so a shot folder can move; the
signature covers the canonical JSON of ``record`` (:func:`vfx_double.records.canonical_json`).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from ..errors import ProvenanceError
from ..io import atomic
from ..records import canonical_json, check_keys, check_schema, hash_file, read_json
from .content_credentials import ManifestState
from .signing import SigningCredentials, anchors_signed, check_signer

SCHEMA = ("FrameManifest", 1)
NAME = "frames.manifest.json"
_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "es256": hashes.SHA256, "es384": hashes.SHA384, "es512": hashes.SHA512,
    "ps256": hashes.SHA256}
#: changed frames a reason names before it says "and N more"
_NAMED = 3


def write_sidecar(out: Path, frames: list[Path], *, credentials: SigningCredentials,
                  licence_id: str, base: Path) -> Path:
    """Hash ``frames`` (all under ``base``), sign the list and write it to ``out``."""
    out, base = Path(out), Path(base)
    entries = []
    for frame in frames:
        try:
            name = Path(frame).resolve().relative_to(base.resolve()).as_posix()
        except ValueError:
            raise ProvenanceError(str(frame), f"a frame under {base}", "a frame elsewhere",
                                  "pass the folder the frames live in as base") from None
        try:
            entries.append({"path": name, "sha256": hash_file(frame)})
        except OSError as err:
            raise ProvenanceError(str(frame), "a readable frame to hash",
                                  err.strerror or str(err)) from err
    if not entries:
        raise ProvenanceError(str(out), "at least one frame to list", "none")
    record = {"licence_id": licence_id,
              "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              "base": Path(os.path.relpath(base.resolve(), out.parent.resolve())).as_posix(),
              "algorithm": "sha256", "frames": entries}
    chain = [cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
             for cert in credentials.certificates()]
    value = _sign(credentials, canonical_json(record))
    atomic.write_json(out, {"schema": f"{SCHEMA[0]}.{SCHEMA[1]}", "record": record,
                            "signature": {"alg": credentials.alg, "chain": chain,
                                          "value": base64.b64encode(value).decode("ascii")}})
    return out


def _sign(credentials: SigningCredentials, data: bytes) -> bytes:
    key = serialization.load_pem_private_key(credentials.key_pem, password=None)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(_HASHES[credentials.alg]()))
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, _pss(), hashes.SHA256())
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    raise ProvenanceError(credentials.where, "an EC, RSA or Ed25519 key", type(key).__name__)


def _pss() -> padding.PSS:
    return padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)


def _verify(leaf: x509.Certificate, alg: str, signature: bytes, data: bytes) -> bool:
    key = leaf.public_key()
    try:
        if isinstance(key, ec.EllipticCurvePublicKey) and alg in ("es256", "es384", "es512"):
            key.verify(signature, data, ec.ECDSA(_HASHES[alg]()))
        elif isinstance(key, rsa.RSAPublicKey) and alg == "ps256":
            key.verify(signature, data, _pss(), hashes.SHA256())
        elif isinstance(key, ed25519.Ed25519PublicKey) and alg == "ed25519":
            key.verify(signature, data)
        else:
            return False
    except (InvalidSignature, ValueError, UnsupportedAlgorithm):
        return False
    return True


def check_sidecar(path: Path, *, anchors: bytes | None,
                  frame: Path | None = None) -> ManifestState:
    """The state of the sidecar at ``path`` and of the frames it lists (only ``frame``
    when given: Missing if the sidecar does not list it). Invalid names the changed or
    missing frames; Valid is intact but signed by a chain outside ``anchors``."""
    path = Path(path)
    try:
        data = read_json(path, "record", ProvenanceError, what="a signed frame manifest")
    except FileNotFoundError:
        return ManifestState("Missing", f"no sidecar manifest at {path}")
    except ProvenanceError as err:
        return ManifestState("Invalid", err.one_line())
    try:
        record, chain = _signed_record(data, str(path))
    except ProvenanceError as err:
        return ManifestState("Invalid", err.one_line(), manifest=data if isinstance(data, dict)
                             else {})
    licence_id = record.get("licence_id")
    base = (path.parent / record["base"]).resolve()
    entries = record["frames"]
    if frame is not None:
        wanted = Path(frame).resolve()
        entries = [e for e in entries if (base / e["path"]).resolve() == wanted]
        if not entries:
            return ManifestState("Missing", f"{path} does not list {frame}", licence_id,
                                 manifest=record)
    bad = []
    for entry in entries:
        target = base / entry["path"]
        try:
            if hash_file(target) != entry["sha256"]:
                bad.append(f"{entry['path']} changed since signing")
        except FileNotFoundError:
            bad.append(f"{entry['path']} missing")
        except OSError as err:
            bad.append(f"{entry['path']} unreadable ({err.strerror})")
    if bad:
        more = f" and {len(bad) - _NAMED} more" if len(bad) > _NAMED else ""
        return ManifestState("Invalid", f"frame {'; frame '.join(bad[:_NAMED])}{more}",
                             licence_id, manifest=record)
    signer = chain[0].subject.rfc4514_string()
    count = f"{len(entries)} frame{'s' if len(entries) != 1 else ''} intact"
    if anchors_signed(chain, anchors):
        return ManifestState("Trusted", f"{count}; signed by {signer}, a signer in the trust "
                             "list", licence_id, manifest=record)
    return ManifestState("Valid", f"{count}; signed by {signer}, but the signer is not in the "
                         "trust list", licence_id, manifest=record)


def _signed_record(data: Any, where: str) -> tuple[dict[str, Any], list[x509.Certificate]]:
    """The record once its shape, signer and signature check out; else ProvenanceError."""
    check_keys(data, {"schema", "record", "signature"}, where, ProvenanceError)
    check_schema(data["schema"], SCHEMA, where, ProvenanceError)
    sig = data["signature"]
    check_keys(sig, {"alg", "chain", "value"}, f"{where} (field signature)", ProvenanceError)
    record = data["record"]
    check_keys(record, {"licence_id", "created", "base", "algorithm", "frames"},
               f"{where} (field record)", ProvenanceError)
    frames = record["frames"]
    if record["algorithm"] != "sha256" or not isinstance(frames, list) or not all(
            isinstance(e, dict) and set(e) == {"path", "sha256"}
            and isinstance(e["path"], str) and isinstance(e["sha256"], str) for e in frames):
        raise ProvenanceError(f"{where} (field record.frames)",
                              "a list of {path, sha256} (algorithm sha256)", "something else")
    if not isinstance(record["base"], str):
        raise ProvenanceError(f"{where} (field record.base)", "a relative folder",
                              repr(record["base"]))
    try:
        chain = [x509.load_pem_x509_certificate(pem.encode("ascii")) for pem in sig["chain"]]
        value = base64.b64decode(sig["value"], validate=True)
        signed_on = dt.datetime.fromisoformat(record["created"])
    except (AttributeError, TypeError, ValueError, binascii.Error) as err:
        raise ProvenanceError(f"{where} (field signature)", "a PEM chain, a base64 value and "
                              "an ISO creation time", "something that does not parse") from err
    # the signer as it was when it signed: a certificate that has since expired still vouches
    # for what it signed while valid
    check_signer(chain, where=f"{where} (field signature.chain)", on=signed_on)
    if not _verify(chain[0], str(sig["alg"]), value, canonical_json(record)):
        raise ProvenanceError(f"{where} (field signature)",
                              f"a valid {sig['alg']} signature by {chain[0].subject.rfc4514_string()}",
                              "a signature that does not match the record",
                              "the manifest was edited after signing")
    return record, chain
