"""C2PA on real review movies (H.264 .mp4 and ProRes .mov from ffmpeg): signed by the
studio CA -> Trusted against the studio's anchors, Valid against another CA's or none;
a byte of picture changed -> Invalid; unsigned -> Missing. The manifest says what the
movie is: a composite with trained algorithmic media, the plate as ingredient, the licence,
and no training or mining."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vfx_double.errors import MediaError, ProvenanceError
from vfx_double.provenance import content_credentials as cc
from vfx_double.provenance.signing import load_signing

CODECS = ("h264", "prores")


def sign(path: Path, ca, licence, report, plate: Path | None) -> None:
    cc.sign_movie(path, credentials=load_signing(ca.signing), title=path.name,
                  licence=licence, plate_ingredient=plate, report=report)


def tamper(path: Path) -> None:
    """Flip one byte in the middle of the movie's picture data (its mdat box)."""
    data = bytearray(path.read_bytes())
    start = data.find(b"mdat") + 4
    data[start + 1000] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("codec", CODECS)
def test_signed_movie_is_trusted_and_says_what_it_is(codec, movies, studio_ca, other_ca,
                                                     licence, report, plate_still) -> None:
    path = movies[codec]
    sign(path, studio_ca, licence, report, plate_still)
    state = cc.read_movie_manifest(path, anchors=studio_ca.trust.read_bytes())
    assert (state.state, state.ok) == ("Trusted", True), state.reason
    assert state.licence_id == "LIC-0001" and state.watermark == report["watermark"]["payload"]
    assertions = {a["label"]: a["data"] for a in state.manifest["assertions"]}
    actions = assertions["c2pa.actions.v2"]["actions"]
    assert [a["action"] for a in actions] == ["c2pa.created", "c2pa.placed"]
    assert {a["digitalSourceType"] for a in actions} == {cc.DIGITAL_SOURCE_TYPE}
    assert {e["use"] for e in assertions["c2pa.training-mining"]["entries"].values()} == {
        "notAllowed"}
    lic = assertions[cc.LICENCE_LABEL]
    assert (lic["actor"], lic["valid_from"], lic["valid_until"]) == (
        "Ada Example", "2026-01-01", "2027-01-01")
    assert (lic["model_hash"], lic["config_hash"], lic["synthetic"]) == (
        "a" * 64, "b" * 64, True)
    [plate] = state.manifest["ingredients"]
    assert (plate["title"], plate["relationship"]) == ("plate_1001.jpg", "componentOf")
    # the same movie, read against another studio's anchors or none: intact, not trusted
    for anchors in (other_ca.trust.read_bytes(), None):
        other = cc.read_movie_manifest(path, anchors=anchors)
        assert (other.state, other.ok) == ("Valid", True)
        assert "not in the trust list" in other.reason


@pytest.mark.parametrize("codec", CODECS)
def test_untrusted_signer_is_valid_not_trusted(codec, movies, studio_ca, other_ca, licence,
                                               report) -> None:
    sign(movies[codec], other_ca, licence, report, None)
    state = cc.read_movie_manifest(movies[codec], anchors=studio_ca.trust.read_bytes())
    assert state.state == "Valid" and "Someone Else" in state.reason


@pytest.mark.parametrize("codec", CODECS)
def test_tampered_movie_is_invalid(codec, movies, studio_ca, licence, report) -> None:
    sign(movies[codec], studio_ca, licence, report, None)
    tamper(movies[codec])
    state = cc.read_movie_manifest(movies[codec], anchors=studio_ca.trust.read_bytes())
    assert (state.state, state.ok) == ("Invalid", False)
    assert "bmffHash.mismatch" in state.reason


@pytest.mark.parametrize("codec", CODECS)
def test_unsigned_movie_is_missing(codec, movies, studio_ca) -> None:
    state = cc.read_movie_manifest(movies[codec], anchors=studio_ca.trust.read_bytes())
    assert (state.state, state.ok, state.licence_id) == ("Missing", False, None)


def test_a_refused_signature_leaves_the_movie_as_it_was(tmp_path: Path, studio_ca, licence,
                                                       report) -> None:
    path = tmp_path / "broken.mp4"
    path.write_bytes(b"not a movie at all")
    with pytest.raises(ProvenanceError, match="c2pa refused"):
        sign(path, studio_ca, licence, report, None)
    assert path.read_bytes() == b"not a movie at all"
    assert os.listdir(tmp_path) == ["broken.mp4"]


def test_the_licence_assertion_needs_the_reports_hashes(movies, studio_ca, licence,
                                                         report) -> None:
    with pytest.raises(ProvenanceError, match="model_hash"):
        sign(movies["h264"], studio_ca, licence, {**report, "model_hash": ""}, None)
    # a review made with the watermark off says so: no payload to cross-check
    sign(movies["h264"], studio_ca, licence, {**report, "watermark": None}, None)
    state = cc.read_movie_manifest(movies["h264"], anchors=studio_ca.trust.read_bytes())
    assert (state.state, state.licence_id, state.watermark) == ("Trusted", "LIC-0001", None)
    with pytest.raises(MediaError, match=r"\.mp4, \.mov"):
        sign(movies["h264"].with_suffix(".avi"), studio_ca, licence, report, None)
