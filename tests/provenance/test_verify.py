"""``vfx-double verify`` through the CLI's main(): one line per file, exit 0 when every
file's provenance is intact, 2 with one error line when any is missing or broken."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from vfx_double.cli import main
from vfx_double.provenance import content_credentials as cc
from vfx_double.provenance.signing import load_signing
from vfx_double.provenance.verify import verify_file
from vfx_double.provenance.watermark import describe, payload_for

from .conftest import LICENCE_ID, write_comp_frame
from .test_content_credentials import tamper


def _sign(path: Path, ca, licence, report, plate=None) -> Path:
    cc.sign_movie(path, credentials=load_signing(ca.signing), title=path.name, licence=licence,
                  plate_ingredient=plate, report=report)
    return path


def _run(capsys, *args: str) -> tuple[int, list[str], str]:
    code = main(["verify", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def test_signed_movies_verify_trusted_with_their_watermark(capsys, movies, studio_ca, licence,
                                                           report, plate_still) -> None:
    for path in movies.values():
        _sign(path, studio_ca, licence, report, plate_still)
    code, lines, err = _run(capsys, movies["h264"], movies["prores"],
                            "--keyring", studio_ca.keyring)
    assert (code, err) == (0, "")
    assert len(lines) == 2
    payload = report["watermark"]["payload"]
    for line, path in zip(lines, (movies["h264"], movies["prores"])):
        assert line.startswith(f"{path}: movie Trusted: signed by Test Studio review signer")
        assert f"licence {LICENCE_ID}" in line and f"watermark {payload}" in line


def test_untrusted_signer_is_valid_and_passes(capsys, movies, studio_ca, other_ca, licence,
                                              report) -> None:
    _sign(movies["h264"], other_ca, licence, report)
    code, [line], _ = _run(capsys, movies["h264"], "--keyring", studio_ca.keyring)
    assert code == 0 and "movie Valid" in line and "not in the trust list" in line
    verdict = verify_file(movies["h264"], keyring=studio_ca.keyring)
    assert (verdict.state, verdict.ok) == ("Valid", True)


def test_tampered_and_unsigned_movies_exit_2(capsys, movies, studio_ca, licence, report) -> None:
    _sign(movies["h264"], studio_ca, licence, report)
    tamper(movies["h264"])
    code, lines, err = _run(capsys, movies["h264"], movies["prores"],
                            "--keyring", studio_ca.keyring)
    assert code == 2
    assert "movie Invalid" in lines[0] and "bmffHash.mismatch" in lines[0]
    assert "movie Missing: no C2PA manifest" in lines[1]
    # the watermark still reads from the unsigned movie's pictures: the line says so
    assert f"watermark {report['watermark']['payload']}" in lines[1]
    [error] = err.splitlines()
    assert error.startswith("vfx-double: error: verify (2 of 2 files)") and "Invalid" in error


def test_a_watermark_of_another_licence_breaks_a_trusted_manifest(
        capsys, movies, studio_ca, licence, report) -> None:
    """The pictures carry LIC-0001's mark; a manifest claiming LIC-0002 is refused."""
    from dataclasses import replace

    other = replace(licence, licence_id="LIC-0002")
    _sign(movies["prores"], studio_ca, other, {
        **report, "watermark": describe(payload_for("LIC-0002", 3))})
    code, [line], _ = _run(capsys, movies["prores"], "--keyring", studio_ca.keyring)
    assert code == 2 and "movie Invalid" in line
    assert "is not licence LIC-0002's" in line
    verdict = verify_file(movies["prores"], keyring=studio_ca.keyring)
    assert verdict.details["state"] == "Trusted" and not verdict.ok


def test_json_output(capsys, movies, studio_ca, licence, report) -> None:
    _sign(movies["h264"], studio_ca, licence, report)
    code, lines, _ = _run(capsys, "--json", movies["h264"], "--keyring", studio_ca.keyring)
    record = json.loads(lines[0])
    assert code == 0 and (record["kind"], record["state"], record["ok"]) == (
        "movie", "Trusted", True)
    assert record["details"]["watermark"]["read"]["payload"] == report["watermark"]["payload"]


def test_comp_exr_with_its_sidecar_is_trusted(capsys, shot_dir, studio_ca) -> None:
    frames = sorted((shot_dir / "comp" / "v001").glob("*.exr"))
    code, lines, err = _run(capsys, *frames, "--keyring", studio_ca.keyring)
    assert (code, err) == (0, "")
    assert all("exr Trusted: 1 frame intact" in line for line in lines), lines
    assert all(f"licence {LICENCE_ID}" in line for line in lines)


def test_an_edited_comp_frame_exits_2_naming_it(capsys, shot_dir, studio_ca) -> None:
    edited = shot_dir / "comp" / "v001" / "sh010_comp_v001.1002.exr"
    edited.unlink()
    write_comp_frame(edited, 1077)
    code, [line], err = _run(capsys, edited, "--keyring", studio_ca.keyring)
    assert code == 2
    assert "exr Invalid: frame comp/v001/sh010_comp_v001.1002.exr changed since signing" in line
    # and the sidecar, verified on its own, names it too
    sidecar = shot_dir / "review" / "v001" / "frames.manifest.json"
    code, [line], _ = _run(capsys, sidecar, "--keyring", studio_ca.keyring)
    assert code == 2 and "sidecar Invalid" in line and "1002.exr changed" in line


def test_exr_without_provenance_attributes_exits_2(capsys, shot_dir, studio_ca) -> None:
    bare = write_comp_frame(shot_dir / "comp" / "v001" / "bare.1001.exr", 1001,
                            provenance=False)
    code, [line], err = _run(capsys, bare, "--keyring", studio_ca.keyring)
    assert code == 2
    assert "exr Missing: no provenance attributes vfx_double/licenceId" in line
    assert "vfx_double/modelHash" in line and "error: verify (1 of 1 files)" in err


def test_exr_no_sidecar_lists_is_missing(capsys, shot_dir, studio_ca) -> None:
    extra = write_comp_frame(shot_dir / "comp" / "v001" / "sh010_comp_v001.1004.exr", 1004)
    shutil.rmtree(shot_dir / "review")
    code, [line], _ = _run(capsys, extra, "--keyring", studio_ca.keyring)
    assert code == 2 and "exr Missing: no signed sidecar lists this frame" in line


def test_unknown_and_absent_files_are_bad_lines_not_a_crash(capsys, tmp_path, studio_ca,
                                                           shot_dir) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    good = shot_dir / "comp" / "v001" / "sh010_comp_v001.1001.exr"
    code, lines, err = _run(capsys, text, tmp_path / "gone.mp4", good,
                            "--keyring", studio_ca.keyring)
    assert code == 2 and len(lines) == 3
    assert "error:" in lines[0] and "error:" in lines[1] and "exr Trusted" in lines[2]
    assert "2 of 3 files" in err


@pytest.mark.parametrize("anchors", ["none", "other"])
def test_exr_against_other_anchors_is_valid(capsys, shot_dir, other_ca, tmp_path,
                                            anchors) -> None:
    keyring = other_ca.keyring if anchors == "other" else tmp_path
    frame = shot_dir / "comp" / "v001" / "sh010_comp_v001.1003.exr"
    code, [line], _ = _run(capsys, frame, "--keyring", keyring)
    assert code == 0 and "exr Valid" in line
