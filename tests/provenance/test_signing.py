"""Signing credentials: the local CA, the checks C2PA's rules ask of a signer (a
self-signed leaf refused, by us with a clear line and by c2pa-rs itself), where the
signing folder and the trust anchors come from."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import c2pa
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from vfx_double.errors import ProvenanceError
from vfx_double.provenance import signing
from vfx_double.provenance.signing import load_signing, make_local_ca, trust_anchors


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _cert(subject: str, key: ec.EllipticCurvePrivateKey, *, issuer: str | None = None,
          issuer_key: ec.EllipticCurvePrivateKey | None = None, ca: bool = False,
          eku: bool = True) -> x509.Certificate:
    """A certificate as C2PA asks of a signer unless told otherwise; self-signed without
    an issuer."""
    now = dt.datetime.now(dt.timezone.utc)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
               .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                                          issuer or subject)]))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(hours=1))
               .not_valid_after(now + dt.timedelta(days=30))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(True, False, False, False, False, ca, ca, False,
                                            False), critical=True))
    if eku:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
    return builder.sign(issuer_key or key, hashes.SHA256())


def _folder(folder: Path, chain: list[x509.Certificate], key: ec.EllipticCurvePrivateKey) -> Path:
    folder.mkdir(parents=True)
    (folder / "chain.pem").write_bytes(b"".join(_pem(c) for c in chain))
    (folder / "key.pem").write_bytes(_key_pem(key))
    return folder


def _self_signed(folder: Path) -> Path:
    """A signing folder whose leaf signs itself (everything else as C2PA asks)."""
    key = ec.generate_private_key(ec.SECP256R1())
    return _folder(folder, [_cert("lone signer", key)], key)


def _issued(folder: Path, **leaf: bool) -> Path:
    """A signing folder whose leaf a throwaway root issued, with ``leaf`` changes."""
    root_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    return _folder(folder, [_cert("signer", key, issuer="root", issuer_key=root_key, **leaf)],
                   key)


def test_local_ca_signer_loads_and_chains_to_its_root(studio_ca) -> None:
    cred = load_signing(studio_ca.signing)
    assert cred.alg == "es256"
    leaf = cred.certificates()[0]
    root = x509.load_pem_x509_certificate(studio_ca.trust.read_bytes())
    assert leaf.issuer == root.subject != leaf.subject
    assert signing.anchors_signed(cred.certificates(), studio_ca.trust.read_bytes())
    assert not signing.anchors_signed(cred.certificates(), None)
    assert (studio_ca.signing / "key.pem").stat().st_mode & 0o077 == 0


def test_local_ca_never_overwrites(studio_ca) -> None:
    with pytest.raises(ProvenanceError, match="never overwritten"):
        make_local_ca(studio_ca.signing.parent, name="again")


def test_self_signed_leaf_is_refused_with_a_clear_line(tmp_path: Path, movies) -> None:
    folder = _self_signed(tmp_path / "lone")
    with pytest.raises(ProvenanceError) as err:
        load_signing(folder)
    line = err.value.one_line()
    assert "self-signed" in line and "issued by a CA" in line and "make_local_ca" in line
    # c2pa-rs refuses it too, only less clearly: hence the check before signing
    chain, key = (folder / "chain.pem").read_bytes(), (folder / "key.pem").read_bytes()
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo("es256", chain, key, None))
    with pytest.raises(c2pa.C2paError, match="certificate is invalid"):
        with open(movies["h264"], "rb") as src, open(tmp_path / "out.mp4", "w+b") as dest:
            c2pa.Builder({"title": "x", "assertions": []}).sign(signer, "video/mp4", src, dest)


@pytest.mark.parametrize("change, expected", [
    ("ca_leaf", "an end-entity leaf"),
    ("no_eku", "extended key usage of emailProtection"),
    ("key_mismatch", "a different key"),
    ("root_only", "self-signed"),
    ("wrong_order", "signed by the next one"),
])
def test_signer_checks(studio_ca, other_ca, tmp_path: Path, change: str, expected: str) -> None:
    folder = tmp_path / "signing"
    shutil.copytree(studio_ca.signing, folder)
    leaf, root = (folder / "chain.pem").read_bytes(), studio_ca.trust.read_bytes()
    if change == "ca_leaf":
        folder = _issued(tmp_path / "ca", ca=True)
    elif change == "no_eku":
        folder = _issued(tmp_path / "no_eku", eku=False)
    elif change == "key_mismatch":
        shutil.copy(other_ca.signing / "key.pem", folder / "key.pem")
    elif change == "root_only":
        (folder / "chain.pem").write_bytes(root)
    elif change == "wrong_order":
        (folder / "chain.pem").write_bytes(leaf + other_ca.trust.read_bytes())
    with pytest.raises(ProvenanceError, match=expected):
        load_signing(folder)
    # the untouched copy loads, so each refusal above is that one change's
    assert load_signing(studio_ca.signing).alg == "es256"


def test_signing_folder_from_argument_then_environment(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VFX_DOUBLE_SIGNING", str(tmp_path / "env"))
    assert signing.signing_path(tmp_path / "arg") == (tmp_path / "arg", "--signing")
    assert signing.signing_path() == (tmp_path / "env", "$VFX_DOUBLE_SIGNING")
    monkeypatch.delenv("VFX_DOUBLE_SIGNING")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert signing.signing_path()[0] == tmp_path / "cfg" / "vfx_double" / "signing"
    with pytest.raises(ProvenanceError, match="no such folder"):
        load_signing()


def test_trust_anchors_come_from_the_keyring_folder(studio_ca, tmp_path: Path,
                                                    monkeypatch) -> None:
    assert trust_anchors(studio_ca.keyring) == studio_ca.trust.read_bytes()
    assert trust_anchors(tmp_path) is None
    monkeypatch.setenv("VFX_DOUBLE_KEYRING", str(studio_ca.keyring))
    assert trust_anchors() == studio_ca.trust.read_bytes()
    (tmp_path / "c2pa_trust.pem").write_text("not a certificate\n")
    with pytest.raises(ProvenanceError, match="PEM root certificates"):
        trust_anchors(tmp_path)
