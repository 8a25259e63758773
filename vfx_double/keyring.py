"""Issuer keys and the studio keyring: Ed25519 key pairs (``<key_id>.key`` private,
``<key_id>.pub`` public, IssuerKey.1) and the folder of trusted public keys.

The trusted issuer keys come only from the keyring folder: the ``keyring`` argument (the
CLI's ``--keyring``), else ``$VFX_DOUBLE_KEYRING``, else ``$XDG_CONFIG_HOME/vfx_double/keyring``
(``~/.config/...``). Nothing in a shot config or a licence file can add a trusted key.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .errors import LicenceError
from .io import atomic
from .records import check_keys, check_schema, parse_json, read_bounded

KEY_SCHEMA = ("IssuerKey", 1)
KEYRING_ENV = "VFX_DOUBLE_KEYRING"
KEYGEN_HINT = ("create an issuer key with `vfx-double licence keygen --out KEYS --key-id ID` "
               "and copy KEYS/ID.pub into the keyring")
_KEY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


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
            "public_key": base64.b64encode(raw_public(key.public_key())).decode("ascii"),
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        }, overwrite=False)
    except FileExistsError as err:
        raise LicenceError(str(err.filename or out_dir), "no existing key file",
                           "a file made meanwhile",
                           "keys are never overwritten; run keygen again") from err
    return private_path, public_path


def raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def load_public_key(path: Path) -> tuple[str, Ed25519PublicKey]:
    """``(key_id, key)`` from an ``IssuerKey.1`` ``.pub`` file."""
    where = str(path)
    try:
        raw_file = read_bounded(path, "key", LicenceError, what="an issuer public key")
    except OSError as err:
        raise LicenceError(where, "a readable issuer public key", err.strerror or str(err)) from err
    data = parse_json(raw_file, where, LicenceError)
    check_keys(data, {"schema", "key_id", "public_key"}, where, LicenceError,
               optional={"created"})
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
        data = read_bounded(path, "key", LicenceError, what="an issuer private key")
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
        if key_id != path.stem or raw_public(public) != raw_public(private_public):
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


def studio_folder(path: Path | None, *, option: str, env: str, name: str,
                  what: str) -> tuple[Path, str]:
    """A folder the studio controls (keyring, signing keys) and where it was chosen: the
    command line's ``option``, then ``$env``, then ``~/.config/vfx_double/<name>`` (under
    ``$XDG_CONFIG_HOME`` when set), which the message calls ``what``."""
    if path is not None:
        return Path(path), option
    chosen = os.environ.get(env)
    if chosen:
        return Path(chosen), f"${env}"
    config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config_home) / "vfx_double" / name, what


def keyring_path(path: Path | None = None) -> tuple[Path, str]:
    """The keyring folder and where it was chosen: argument, then environment, then default."""
    return studio_folder(path, option="--keyring", env=KEYRING_ENV, name="keyring",
                         what="the default keyring")


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
