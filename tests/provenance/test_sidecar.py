"""The signed sidecar manifest of an EXR sequence: intact -> Trusted (Valid against other
anchors), a frame edited or removed -> Invalid naming it, the record or its chain edited
-> Invalid, a frame it does not list -> Missing; the shot folder can move."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from vfx_double.provenance.sidecar import check_sidecar

from .conftest import LICENCE_ID, write_comp_frame


def _paths(shot: Path) -> tuple[Path, Path]:
    return shot / "review" / "v001" / "frames.manifest.json", shot / "comp" / "v001"


def test_intact_sequence_is_trusted_and_lists_every_frame(shot_dir, studio_ca, other_ca) -> None:
    sidecar, comp = _paths(shot_dir)
    state = check_sidecar(sidecar, anchors=studio_ca.trust.read_bytes())
    assert (state.state, state.licence_id) == ("Trusted", LICENCE_ID), state.reason
    assert "3 frames intact" in state.reason
    assert state.manifest["base"] == "../.."
    assert [e["path"] for e in state.manifest["frames"]] == [
        f"comp/v001/sh010_comp_v001.{f}.exr" for f in (1001, 1002, 1003)]
    assert check_sidecar(sidecar, anchors=other_ca.trust.read_bytes()).state == "Valid"
    assert check_sidecar(sidecar, anchors=None).state == "Valid"


def test_an_edited_frame_is_invalid_and_named(shot_dir, studio_ca) -> None:
    sidecar, comp = _paths(shot_dir)
    edited = comp / "sh010_comp_v001.1002.exr"
    edited.unlink()
    write_comp_frame(edited, 1099)  # same name and header kind, other pixels
    anchors = studio_ca.trust.read_bytes()
    state = check_sidecar(sidecar, anchors=anchors)
    assert (state.state, state.ok) == ("Invalid", False)
    assert "sh010_comp_v001.1002.exr changed since signing" in state.reason
    assert "1001" not in state.reason and "1003" not in state.reason
    # asked about one frame, only that frame counts
    assert check_sidecar(sidecar, anchors=anchors,
                         frame=comp / "sh010_comp_v001.1001.exr").state == "Trusted"
    assert check_sidecar(sidecar, anchors=anchors, frame=edited).state == "Invalid"
    (comp / "sh010_comp_v001.1003.exr").unlink()
    assert "1003.exr missing" in check_sidecar(sidecar, anchors=anchors).reason


def test_an_edited_record_or_chain_is_invalid(shot_dir, studio_ca, other_ca) -> None:
    sidecar, comp = _paths(shot_dir)
    anchors = studio_ca.trust.read_bytes()
    original = json.loads(sidecar.read_text())
    # re-hash an edited frame into the record: the signature no longer matches
    record = json.loads(sidecar.read_text())
    record["record"]["frames"][0]["sha256"] = "0" * 64
    sidecar.write_text(json.dumps(record))
    state = check_sidecar(sidecar, anchors=anchors)
    assert state.state == "Invalid" and "edited after signing" in state.reason
    # swap in another signer's certificate: the signature is not that key's
    record = json.loads(json.dumps(original))
    record["signature"]["chain"] = [(other_ca.signing / "chain.pem").read_text()]
    sidecar.write_text(json.dumps(record))
    assert "does not match" in check_sidecar(sidecar, anchors=anchors).reason
    sidecar.write_text("{not json")
    assert check_sidecar(sidecar, anchors=anchors).state == "Invalid"
    sidecar.write_text(json.dumps(original))
    assert check_sidecar(sidecar, anchors=anchors).state == "Trusted"


def test_unlisted_frame_and_absent_sidecar_are_missing(shot_dir, studio_ca, tmp_path) -> None:
    sidecar, comp = _paths(shot_dir)
    anchors = studio_ca.trust.read_bytes()
    other = write_comp_frame(comp / "sh010_comp_v001.1004.exr", 1004)
    assert check_sidecar(sidecar, anchors=anchors, frame=other).state == "Missing"
    assert check_sidecar(tmp_path / "nothing.json", anchors=anchors).state == "Missing"


def test_the_shot_folder_can_move(shot_dir, studio_ca, tmp_path) -> None:
    moved = tmp_path / "elsewhere" / "sh010"
    shutil.move(shot_dir, moved)
    sidecar, _ = _paths(moved)
    assert check_sidecar(sidecar, anchors=studio_ca.trust.read_bytes()).state == "Trusted"
