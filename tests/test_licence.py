"""Signed licences: keys, signing, tamper detection, keyring lookup and scope checks."""

from __future__ import annotations

import base64
import datetime as dt
import inspect
import json
import shutil
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from vfx_double import licence
from vfx_double.errors import LicenceError
from vfx_double.keyring import (
    KEYRING_ENV,
    key_id_of,
    keygen,
    keyring_path,
    load_keyring,
    load_private_key,
    load_public_key,
)

KEY_ID = "studio-legal"
ON = dt.date(2026, 6, 1)


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    return keygen(tmp_path / "keys", KEY_ID)


@pytest.fixture
def ring(tmp_path: Path, keys: tuple[Path, Path]) -> Path:
    folder = tmp_path / "keyring"
    folder.mkdir()
    shutil.copy(keys[1], folder / keys[1].name)
    return folder


@pytest.fixture(autouse=True)
def no_user_keyring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the developer's own keyring and environment out of every test."""
    monkeypatch.delenv(KEYRING_ENV, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


def record(**changes: object) -> licence.Licence:
    lic = licence.Licence(
        licence_id="L-0001", actor="Synthetic Actor A", licensor="Synthetic Licensor",
        licensee="Test Studio", shows=("SHOW",), uses=("train", "render"),
        valid_from=dt.date(2026, 1, 1), valid_until=dt.date(2026, 12, 31),
        issuer_key_id=KEY_ID, notes="test licence for a synthetic identity")
    return replace(lic, **changes)


def signed(tmp_path: Path, key: Path, name: str = "l.json", **changes: object) -> Path:
    return licence.issue(record(**changes), key, tmp_path / name)


def message(excinfo: pytest.ExceptionInfo[LicenceError]) -> str:
    return str(excinfo.value)


# --- keys -----------------------------------------------------------------------------------

def test_keygen_writes_a_0600_private_key_and_a_public_json(keys: tuple[Path, Path]) -> None:
    private, public = keys
    assert (private.name, public.name) == (f"{KEY_ID}.key", f"{KEY_ID}.pub")
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert private.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    data = json.loads(public.read_text())
    assert data["schema"] == "IssuerKey.1" and data["key_id"] == KEY_ID and data["created"]
    assert len(base64.b64decode(data["public_key"])) == 32
    key_id, pub = load_public_key(public)
    priv = load_private_key(private)
    pub.verify(priv.sign(b"x"), b"x")
    assert key_id == KEY_ID == key_id_of(private)


def test_keygen_never_overwrites(keys: tuple[Path, Path]) -> None:
    before = keys[0].read_bytes()
    with pytest.raises(LicenceError, match="never overwritten"):
        keygen(keys[0].parent, KEY_ID)
    assert keys[0].read_bytes() == before


def test_keygen_writes_nothing_when_either_file_exists(tmp_path: Path) -> None:
    (tmp_path / f"{KEY_ID}.pub").write_text("someone's key")
    with pytest.raises(LicenceError, match="never overwritten"):
        keygen(tmp_path, KEY_ID)
    assert not (tmp_path / f"{KEY_ID}.key").exists()


def test_keygen_refuses_a_key_id_that_is_not_a_file_name(tmp_path: Path) -> None:
    with pytest.raises(LicenceError, match="key id"):
        keygen(tmp_path, "../escape")


# --- issue and verify -----------------------------------------------------------------------

def test_issue_verify_round_trip(tmp_path: Path, keys: tuple[Path, Path], ring: Path) -> None:
    path = signed(tmp_path, keys[0])
    data = json.loads(path.read_text())
    assert data["schema"] == "SignedLicence.1"
    assert data["signature"]["alg"] == "Ed25519" and data["signature"]["key_id"] == KEY_ID
    assert data["licence"]["valid_until"] == "2026-12-31"
    assert licence.verify(path, load_keyring(ring)) == record()


def test_issue_refuses_a_record_naming_another_key(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    with pytest.raises(LicenceError, match="issuer_key_id") as info:
        signed(tmp_path, keys[0], issuer_key_id="someone-else")
    assert KEY_ID in message(info)
    assert not (tmp_path / "l.json").exists()


def test_issue_refuses_a_key_that_does_not_match_its_pub(tmp_path: Path,
                                                        keys: tuple[Path, Path]) -> None:
    _, other_public = keygen(tmp_path / "other", KEY_ID)
    shutil.copy(other_public, keys[1])
    with pytest.raises(LicenceError, match="a different key"):
        signed(tmp_path, keys[0])


def test_issue_never_overwrites(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    path = signed(tmp_path, keys[0])
    with pytest.raises(LicenceError, match="never overwritten"):
        signed(tmp_path, keys[0], shows=("SHOW", "OTHER"))
    assert json.loads(path.read_text())["licence"]["shows"] == ["SHOW"]


def test_issue_refuses_an_invalid_record(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    with pytest.raises(LicenceError, match="valid_until"):
        signed(tmp_path, keys[0], valid_until=dt.date(2025, 1, 1))
    with pytest.raises(LicenceError, match="field uses"):
        signed(tmp_path, keys[0], uses=("train", "dub"))
    with pytest.raises(LicenceError, match="field shows"):
        signed(tmp_path, keys[0], shows="SHOW")
    assert not (tmp_path / "l.json").exists()


@pytest.mark.parametrize("field, value", [
    ("shows", ["SHOW", "OTHER"]),
    ("valid_until", "2099-12-31"),
    ("uses", ["train", "render", "film"]),
    ("actor", "Somebody Else"),
])
def test_record_edited_after_signing_is_refused(tmp_path: Path, keys: tuple[Path, Path], ring: Path,
                                                field: str, value: object) -> None:
    path = signed(tmp_path, keys[0])
    data = json.loads(path.read_text())
    data["licence"][field] = value
    path.write_text(json.dumps(data))
    with pytest.raises(LicenceError, match="edited after signing") as info:
        licence.verify(path, load_keyring(ring))
    assert str(path) in message(info) and "signature" in message(info)


def test_unknown_issuer_is_refused_and_known_ids_listed(tmp_path: Path,
                                                        keys: tuple[Path, Path]) -> None:
    other_private, other_public = keygen(tmp_path / "other", "other-issuer")
    other_ring = tmp_path / "other-ring"
    other_ring.mkdir()
    shutil.copy(other_public, other_ring)
    path = signed(tmp_path, keys[0])
    with pytest.raises(LicenceError, match="signature.key_id") as info:
        licence.verify(path, load_keyring(other_ring))
    assert "other-issuer" in message(info) and repr(KEY_ID) in message(info)


def test_signed_by_a_key_whose_pub_is_not_in_the_keyring(tmp_path: Path, ring: Path) -> None:
    # Same key id as the trusted issuer, different key: only the signature can tell.
    rogue, _ = keygen(tmp_path / "rogue", KEY_ID)
    path = signed(tmp_path, rogue)
    with pytest.raises(LicenceError, match="signed with another key"):
        licence.verify(path, load_keyring(ring))


def test_a_public_key_inside_the_licence_is_not_trusted(tmp_path: Path, ring: Path) -> None:
    rogue, rogue_pub = keygen(tmp_path / "rogue", KEY_ID)
    path = signed(tmp_path, rogue)
    data = json.loads(path.read_text())
    data["signature"]["public_key"] = json.loads(rogue_pub.read_text())["public_key"]
    path.write_text(json.dumps(data))
    with pytest.raises(LicenceError, match="unknown key 'public_key'"):
        licence.verify(path, load_keyring(ring))


@pytest.mark.parametrize("content, words", [
    (None, ["no such file"]),
    ("{not json", ["valid JSON"]),
    ('{"schema": "SignedLicence.2", "licence": {}, "signature": {}}', ["newer", "upgrade"]),
    ('{"schema": "Other.1", "licence": {}, "signature": {}}', ["SignedLicence.1"]),
])
def test_bad_licence_files_are_refused(tmp_path: Path, ring: Path, content: str | None,
                                       words: list[str]) -> None:
    path = tmp_path / "bad.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(LicenceError) as info:
        licence.verify(path, load_keyring(ring))
    assert str(path) in message(info)
    for word in words:
        assert word in message(info)


# --- scope ----------------------------------------------------------------------------------

@pytest.mark.parametrize("show, use, on, field, detail", [
    ("SHOW", "train", dt.date(2027, 1, 1), "valid_until", "2026-12-31"),
    ("SHOW", "train", dt.date(2025, 12, 31), "valid_from", "2026-01-01"),
    ("OTHER", "train", ON, "shows", "OTHER"),
    ("SHOW", "film", ON, "uses", "'film'"),
])
def test_require_names_the_failing_field(show: str, use: str, on: dt.date, field: str,
                                         detail: str) -> None:
    with pytest.raises(LicenceError) as info:
        licence.require(record(), show, use, on, where="shot.yaml:12")
    assert f"(field {field})" in message(info) and detail in message(info)
    assert message(info).startswith("shot.yaml:12")


@pytest.mark.parametrize("on", [dt.date(2026, 1, 1), dt.date(2026, 12, 31)])
def test_validity_dates_are_inclusive(on: dt.date) -> None:
    licence.require(record(), "SHOW", "render", on)


def test_unknown_use_lists_the_uses() -> None:
    with pytest.raises(LicenceError, match="train, render, advertising, film"):
        licence.require(record(), "SHOW", "trian", ON)


def test_check_verifies_and_requires(tmp_path: Path, keys: tuple[Path, Path], ring: Path) -> None:
    path = signed(tmp_path, keys[0])
    assert licence.check(path, "SHOW", "train", ON, keyring=ring).licence_id == "L-0001"
    with pytest.raises(LicenceError, match="field uses"):
        licence.check(path, "SHOW", "advertising", ON, keyring=ring)
    with pytest.raises(LicenceError, match="field actor"):
        licence.check(path, "SHOW", "train", ON, keyring=ring, actor="Somebody Else")


# --- keyring --------------------------------------------------------------------------------

def make_ring(folder: Path, key_id: str) -> Path:
    _, public = keygen(folder / "keys", key_id)
    (folder / "ring").mkdir()
    shutil.copy(public, folder / "ring")
    return folder / "ring"


def test_keyring_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    arg = make_ring(tmp_path / "arg", "from-arg")
    env = make_ring(tmp_path / "env", "from-env")
    make_ring(tmp_path / "xdg" / "vfx_double", "from-xdg")
    (tmp_path / "xdg" / "vfx_double" / "ring").rename(tmp_path / "xdg" / "vfx_double" / "keyring")
    monkeypatch.setenv(KEYRING_ENV, str(env))
    assert list(load_keyring(arg)) == ["from-arg"]
    assert list(load_keyring()) == ["from-env"]
    monkeypatch.delenv(KEYRING_ENV)
    assert list(load_keyring()) == ["from-xdg"]
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert keyring_path() == (tmp_path / "home" / ".config" / "vfx_double" / "keyring",
                                      "the default keyring")


def test_missing_keyring_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(LicenceError, match="vfx-double licence keygen") as info:
        load_keyring()
    assert str(tmp_path / "xdg" / "vfx_double" / "keyring") in message(info)


def test_keyring_refuses_duplicate_key_ids(ring: Path, keys: tuple[Path, Path]) -> None:
    shutil.copy(keys[1], ring / "copy.pub")
    with pytest.raises(LicenceError, match="also in") as info:
        load_keyring(ring)
    assert "copy.pub" in message(info) or f"{KEY_ID}.pub" in message(info)


def test_empty_keyring_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "README").write_text("not a key")
    with pytest.raises(LicenceError, match=r"\(\*\.pub\), found none"):
        load_keyring(tmp_path / "empty")


def test_keyring_names_a_malformed_key_file(ring: Path) -> None:
    (ring / "broken.pub").write_text(
        '{"schema": "IssuerKey.1", "key_id": "x", "public_key": "AAAA"}')
    with pytest.raises(LicenceError, match="broken.pub.*public_key"):
        load_keyring(ring)


def test_check_takes_its_keyring_only_from_the_caller_or_environment(
        tmp_path: Path, keys: tuple[Path, Path], ring: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A shot folder set up to smuggle in trust: a rogue-signed licence, the rogue key in a
    # `keyring` folder beside it, and a shot YAML pointing there. None of it may count.
    shot = tmp_path / "shot"
    rogue, rogue_pub = keygen(tmp_path / "rogue", KEY_ID)
    (shot / "keyring").mkdir(parents=True)
    shutil.copy(rogue_pub, shot / "keyring")
    path = signed(shot, rogue)
    (shot / "sh010.yaml").write_text("keyring: keyring\nactor:\n  licence: l.json\n")
    monkeypatch.chdir(shot)

    assert set(inspect.signature(licence.check).parameters) == {
        "licence_path", "show", "uses", "on", "keyring", "actor", "where"}
    with pytest.raises(LicenceError, match="no such folder"):
        licence.check(path, "SHOW", "train", ON)
    monkeypatch.setenv(KEYRING_ENV, str(ring))
    with pytest.raises(LicenceError, match="signed with another key"):
        licence.check(path, "SHOW", "train", ON)
    # The same trusted keyring accepts a genuine licence in the same place.
    path.unlink()
    signed(shot, keys[0])
    assert licence.check(path, "SHOW", "train", ON).issuer_key_id == KEY_ID


# --- the licence binds its footage (issue 11, case 9) --------------------------------------

def test_a_licence_names_the_media_it_approves(tmp_path: Path, keys: tuple[Path, Path],
                                               ring: Path) -> None:
    frames = [tmp_path / f"ref.{n:04d}.exr" for n in (1, 2)]
    for n, path in enumerate(frames):
        path.write_bytes(f"frame {n}".encode())
    media = licence.media_digests([tmp_path / "ref.####.exr"])
    assert len(media) == 2
    path = licence.issue(replace(record(), media=media), keys[0], tmp_path / "l.json")
    lic = licence.verify(path, load_keyring(ring))
    assert lic.schema == "Licence.2" and set(lic.media) == set(media)
    licence.require_media(lic, [(1, frames[0]), (2, frames[1])])
    # footage of someone else (or edited footage) is not what the licensor approved
    other = tmp_path / "other.0001.exr"
    other.write_bytes(b"another person")
    with pytest.raises(LicenceError, match=r"other.0001.exr \(frame 1\).*does not list"):
        licence.require_media(lic, [(1, other)])
    with pytest.raises(LicenceError, match="records the sha256"):
        licence.require_media(lic, [(7, frames[0])], [None])


def test_a_licence_1_approves_no_media_and_media_cannot_be_smuggled_into_it() -> None:
    old = {**record().to_record(), "schema": "Licence.1"}
    del old["media"]
    lic = licence.Licence.from_record(old)
    assert lic.media == () and lic.schema == "Licence.1"
    with pytest.raises(LicenceError, match="approves no media"):
        licence.require_media(lic, [(1, "ref.0001.exr")], ["0" * 64])
    with pytest.raises(LicenceError, match="field media"):
        licence.Licence.from_record({**old, "media": ["0" * 64]})
    with pytest.raises(LicenceError, match="field media"):
        licence.Licence.from_record({**record().to_record(), "media": ["not a digest"]})
