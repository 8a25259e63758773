"""C2PA signing credentials and trust anchors: where they come from, what a signer must
be, and a small local CA for tests and the demo.

- The signing folder holds ``chain.pem`` (the leaf certificate first, then any
  intermediates; the root may follow) and ``key.pem`` (the leaf's private key, PKCS8,
  unencrypted). It is the ``--signing`` argument, else ``$VFX_DOUBLE_SIGNING``, else
  ``$XDG_CONFIG_HOME/vfx_double/signing``.
- Trust anchors (root certificates, PEM) are ``c2pa_trust.pem`` in the studio keyring
  folder (:func:`vfx_double.keyring.keyring_path`). Like the licence issuer keys, nothing
  in a shot config can add one, so editing YAML cannot make a movie read as Trusted.

C2PA (and c2pa-rs, which c2pa-python wraps) refuses a self-signed signer and wants an end
entity certificate with the digitalSignature key usage and an extended key usage from
:data:`SIGNER_EKUS`. :func:`load_signing` checks that up front, because c2pa-rs only says
"the certificate is invalid" at the first signature.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ..errors import ProvenanceError
from ..io import atomic
from ..keyring import keyring_path, studio_folder
from ..records import read_bounded

SIGNING_ENV = "VFX_DOUBLE_SIGNING"
TRUST_FILE = "c2pa_trust.pem"
CHAIN_FILE, KEY_FILE = "chain.pem", "key.pem"
#: extended key usages of a claim signer that c2pa-rs signs with. Measured with c2pa-python
#: 0.38.1 (c2pa-rs 0.91.3) and its default trust config: emailProtection passes, while
#: documentSigning (1.3.6.1.5.5.7.3.36) and C2PA's own claim-signing OID
#: (1.3.6.1.4.1.62558.2.1) are refused after signing ("certificate missing required EKU"),
#: so only emailProtection is offered here, and checked before any movie is touched.
SIGNER_EKUS = {ExtendedKeyUsageOID.EMAIL_PROTECTION: "emailProtection"}
_CA_HINT = ("use a leaf certificate issued by the studio's CA (or, for tests and the demo, "
            "`vfx_double.provenance.signing.make_local_ca`)")


@dataclass(frozen=True)
class SigningCredentials:
    """What c2pa-python's signer needs: the PEM chain (leaf first), the leaf's key, the
    C2PA algorithm name (``es256``, ``es384``, ``es512``, ``ps256``, ``ed25519``), and
    where they were read from (for messages)."""

    chain_pem: bytes
    key_pem: bytes
    alg: str
    where: str

    def certificates(self) -> list[x509.Certificate]:
        return x509.load_pem_x509_certificates(self.chain_pem)


def signing_path(path: Path | None = None) -> tuple[Path, str]:
    """The signing folder and where it was chosen: argument, then environment, then default."""
    return studio_folder(path, option="--signing", env=SIGNING_ENV, name="signing",
                         what="the default signing folder")


def load_signing(path: Path | None = None) -> SigningCredentials:
    """The signing credentials in the signing folder, checked as C2PA would check them."""
    folder, source = signing_path(path)
    where = f"signing folder {folder} (from {source})"
    if not folder.is_dir():
        found = "a file, not a folder" if folder.exists() else "no such folder"
        raise ProvenanceError(where, f"a folder with {CHAIN_FILE} and {KEY_FILE}", found,
                              f"pass --signing or set ${SIGNING_ENV}; {_CA_HINT}")
    chain_pem = _read(folder / CHAIN_FILE, "the signer's certificate chain (PEM, leaf first)")
    key_pem = _read(folder / KEY_FILE, "the signer's private key (PKCS8 PEM)")
    try:
        chain = x509.load_pem_x509_certificates(chain_pem)
    except ValueError as err:
        raise ProvenanceError(str(folder / CHAIN_FILE), "PEM certificates, leaf first",
                              "no certificate that parses") from err
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as err:
        raise ProvenanceError(str(folder / KEY_FILE), "an unencrypted PKCS8 PEM private key",
                              "something else") from err
    alg = _alg(key, str(folder / KEY_FILE))
    check_signer(chain, where=str(folder / CHAIN_FILE))
    if _public_der(key.public_key()) != _public_der(chain[0].public_key()):
        raise ProvenanceError(str(folder / KEY_FILE), f"the private key of the first "
                              f"certificate in {CHAIN_FILE}", "a different key",
                              "keep the leaf and its key together, leaf first in the chain")
    return SigningCredentials(chain_pem, key_pem, alg, where)


def _read(path: Path, what: str) -> bytes:
    try:
        return read_bounded(path, "key", ProvenanceError, what=what)
    except FileNotFoundError as err:
        raise ProvenanceError(str(path), what, "no such file", _CA_HINT) from err


def _public_der(key: object) -> bytes:
    return key.public_bytes(serialization.Encoding.DER,  # type: ignore[attr-defined]
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def _alg(key: object, where: str) -> str:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        algs = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}
        if key.curve.name in algs:
            return algs[key.curve.name]
    elif isinstance(key, rsa.RSAPrivateKey):
        return "ps256"
    elif isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    raise ProvenanceError(where, "an EC P-256/384/521, RSA or Ed25519 private key",
                          type(key).__name__)


def check_signer(chain: list[x509.Certificate], *, where: str,
                 on: dt.datetime | None = None) -> None:
    """Refuse a chain C2PA would refuse: no certificate, a self-signed or CA leaf, a leaf
    without digitalSignature or a C2PA signing EKU, one outside its validity, or a chain
    whose certificates do not each sign the one before."""
    if not chain:
        raise ProvenanceError(where, "a certificate chain, leaf first", "no certificate")
    leaf = chain[0]
    subject = leaf.subject.rfc4514_string()
    if leaf.issuer == leaf.subject and _signed_by(leaf, leaf):
        raise ProvenanceError(where, "a leaf certificate issued by a CA",
                              f"a self-signed certificate ({subject})",
                              f"C2PA refuses self-signed signers; {_CA_HINT}")
    basic = _extension(leaf, x509.BasicConstraints)
    if basic is not None and basic.ca:
        raise ProvenanceError(where, "an end-entity leaf (CA:FALSE)", f"a CA certificate "
                              f"({subject})", f"sign with a leaf, not the CA; {_CA_HINT}")
    usage = _extension(leaf, x509.KeyUsage)
    if usage is None or not usage.digital_signature:
        raise ProvenanceError(where, "a leaf with the digitalSignature key usage",
                              f"none on {subject}", _CA_HINT)
    ekus = _extension(leaf, x509.ExtendedKeyUsage)
    if ekus is None or not any(oid in SIGNER_EKUS for oid in ekus):
        wanted = ", ".join(SIGNER_EKUS.values())
        found = ", ".join(oid.dotted_string for oid in ekus) if ekus else "none"
        raise ProvenanceError(where, f"a leaf with an extended key usage of {wanted}",
                              found, _CA_HINT)
    now = on or dt.datetime.now(dt.timezone.utc)
    for cert in chain:
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            raise ProvenanceError(where, f"certificates valid on {now:%Y-%m-%d}",
                                  f"{cert.subject.rfc4514_string()} valid "
                                  f"{cert.not_valid_before_utc:%Y-%m-%d} to "
                                  f"{cert.not_valid_after_utc:%Y-%m-%d}", "renew the certificate")
    for child, parent in zip(chain, chain[1:]):
        if child.issuer != parent.subject or not _signed_by(child, parent):
            raise ProvenanceError(where, "each certificate signed by the next one (leaf first)",
                                  f"{child.subject.rfc4514_string()} not signed by "
                                  f"{parent.subject.rfc4514_string()}", "fix the order in "
                                  f"{CHAIN_FILE}")


_E = TypeVar("_E", bound=x509.ExtensionType)


def _extension(cert: x509.Certificate, kind: type[_E]) -> _E | None:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Whether ``issuer``'s key made ``cert``'s signature (EC, RSA PKCS#1 v1.5 / PSS, Ed25519)."""
    key = issuer.public_key()
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes,
                       ec.ECDSA(cert.signature_hash_algorithm))  # type: ignore[arg-type]
        elif isinstance(key, rsa.RSAPublicKey):
            params = cert.signature_algorithm_parameters
            pad = params if isinstance(params, (padding.PSS, padding.PKCS1v15)) else padding.PKCS1v15()
            key.verify(cert.signature, cert.tbs_certificate_bytes, pad,
                       cert.signature_hash_algorithm)  # type: ignore[arg-type]
        elif isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes)
        else:
            return False
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def trust_anchors(keyring: Path | None = None) -> bytes | None:
    """The PEM trust anchors in ``<keyring folder>/c2pa_trust.pem``; None when there is no
    such file (then nothing reads as Trusted, at best Valid)."""
    folder, source = keyring_path(keyring)
    path = folder / TRUST_FILE
    try:
        data = read_bounded(path, "config", ProvenanceError,
                            what="C2PA trust anchors (PEM root certificates)")
    except FileNotFoundError:
        return None
    try:
        x509.load_pem_x509_certificates(data)
    except ValueError as err:
        raise ProvenanceError(f"{path} (keyring from {source})",
                              "PEM root certificates", "no certificate that parses",
                              "put the studio's C2PA root certificates there") from err
    return data


def anchors_signed(chain: list[x509.Certificate], anchors: bytes | None) -> bool:
    """Whether ``chain`` (leaf first) ends at, or is signed by, one of the ``anchors``."""
    if not anchors or not chain:
        return False
    roots = x509.load_pem_x509_certificates(anchors)
    last = chain[-1]
    return any(last == root or (last.issuer == root.subject and _signed_by(last, root))
               for root in roots)


def make_local_ca(out: Path, *, name: str) -> tuple[Path, Path]:
    """A root CA and one signer issued by it, for tests and the demo (ES256).

    Writes ``<out>/signing/{chain.pem, key.pem}`` (the signing folder) and
    ``<out>/c2pa_trust.pem`` (the root, to copy into a keyring); the root's key is not
    kept, so nothing else can ever be issued under it. Never overwrites.
    Returns ``(signing folder, trust pem)``.
    """
    out = Path(out)
    signing, trust = out / "signing", out / TRUST_FILE
    for path in (signing / CHAIN_FILE, signing / KEY_FILE, trust):
        if path.exists():
            raise ProvenanceError(str(path), "no existing file", "a file already there",
                                  "credentials are never overwritten; choose another folder")
    now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
    root_key = ec.generate_private_key(ec.SECP256R1())
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    root_name = _name(f"{name} C2PA root", name)
    root = (x509.CertificateBuilder().subject_name(root_name).issuer_name(root_name)
            .public_key(root_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_usage(cert_sign=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()),
                           critical=False)
            .sign(root_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder().subject_name(_name(f"{name} review signer", name))
            .issuer_name(root_name).public_key(leaf_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + dt.timedelta(days=730))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_usage(cert_sign=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage(list(SIGNER_EKUS)), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                root_key.public_key()), critical=False)
            .sign(root_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    with atomic.atomic_path(signing / KEY_FILE, overwrite=False) as tmp:
        # Created 0600 before any secret byte is written, as keyring.keygen does.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption()))
        finally:
            os.close(fd)
    atomic.write_bytes(signing / CHAIN_FILE, leaf.public_bytes(pem), overwrite=False)
    atomic.write_bytes(trust, root.public_bytes(pem), overwrite=False)
    return signing, trust


def _name(common_name: str, organisation: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation)])


def _usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=not cert_sign, content_commitment=False,
                         key_encipherment=False, data_encipherment=False, key_agreement=False,
                         key_cert_sign=cert_sign, crl_sign=cert_sign, encipher_only=False,
                         decipher_only=False)
