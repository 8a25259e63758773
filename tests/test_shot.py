"""The shot context every stage opens: licence gate, colour, frames, versions, audit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.shots import MiniShot, issue_licence, make_shot
from vfx_double import audit
from vfx_double.errors import ConfigError, LicenceError, MediaError, WorkAreaError
from vfx_double.io.exr import ExrImage, write_exr
from vfx_double.io.sequences import FrameSequence
from vfx_double.shot import open_shot


@pytest.fixture
def shot(tmp_path: Path) -> MiniShot:
    return make_shot(tmp_path)


def test_open_gives_licence_colour_and_frames(shot: MiniShot) -> None:
    s = open_shot(shot.config, uses=("train", "render", "use"), keyring=shot.keyring)
    assert s.licence.licence_id == "TEST-0001"
    assert (s.spaces.plate, s.spaces.reference) == ("ARRI LogC3 (EI800)", "ACEScg")
    # no colour.output: the comp writes the plate's own colourspace
    assert s.spaces.output == s.spaces.plate
    assert s.frames == [1001, 1002, 1003, 1004, 1005]
    assert s.footage("actor")[1] == [1, 2, 3]
    assert s.area.root == s.cfg.shot_dir


def test_frames_asked_for_and_outside_the_plate(shot: MiniShot) -> None:
    s = open_shot(shot.config, uses=("train",), frames=(1002, 1003), keyring=shot.keyring)
    assert s.frames == [1002, 1003] and s.all_plate_frames() == [1001, 1002, 1003, 1004, 1005]
    with pytest.raises(MediaError, match="inside the sequence's 1001-1005"):
        open_shot(shot.config, uses=("train",), frames=(1004, 1009), keyring=shot.keyring)


def test_the_licence_must_grant_every_use_asked_for(shot: MiniShot) -> None:
    issue_licence(shot.key, shot.licence, uses=("train",))
    assert open_shot(shot.config, uses=("train",), keyring=shot.keyring)
    with pytest.raises(LicenceError, match="'render' granted") as info:
        open_shot(shot.config, uses=("train", "render"), keyring=shot.keyring)
    # named by the shot config's field, so the user knows which line to look at
    assert "sh010.yaml" in str(info.value) and "field uses" in str(info.value)
    # "use" is the shot's own use (film here), which this licence does not grant
    with pytest.raises(LicenceError, match="'film' granted"):
        open_shot(shot.config, uses=("use",), keyring=shot.keyring)


def test_a_keyring_named_in_the_config_is_not_trusted(shot: MiniShot, monkeypatch) -> None:
    monkeypatch.delenv("VFX_DOUBLE_KEYRING", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(shot.root / "nothing-here"))
    # without a trusted keyring the licence is refused...
    with pytest.raises(LicenceError, match="no such folder"):
        open_shot(shot.config, uses=("train",))
    # ...and the config has no way to name one
    shot.edit("show: SHOW", f"show: SHOW\nkeyring: {shot.keyring}")
    with pytest.raises(ConfigError, match="unknown key 'keyring'"):
        open_shot(shot.config, uses=("train",))


def test_require_names_the_command_that_makes_the_missing_stage(shot: MiniShot) -> None:
    s = open_shot(shot.config, uses=("render", "use"), keyring=shot.keyring)
    with pytest.raises(WorkAreaError, match=r"run `vfx-double render .*sh010.yaml` first"):
        s.require("render")
    with pytest.raises(WorkAreaError, match="run `vfx-double track"):
        s.require("faceset")
    made = s.new_version("track")
    assert s.require("track") == made


def test_version_for_continues_only_with_the_same_options(shot: MiniShot) -> None:
    s = open_shot(shot.config, uses=("render", "use"), keyring=shot.keyring)
    first, continued = s.version_for("render", {"schema": "RenderOptions.1", "a": 1})
    assert not continued
    again, continued = s.version_for("render", {"a": 1, "schema": "RenderOptions.1"})
    assert (again, continued) == (first, True)
    other, continued = s.version_for("render", {"schema": "RenderOptions.1", "a": 2})
    assert other != first and not continued


def test_split_keeps_frames_that_decode_and_redoes_broken_ones(shot: MiniShot) -> None:
    s = open_shot(shot.config, uses=("render", "use"), keyring=shot.keyring)
    folder = s.new_version("render")
    out = FrameSequence(str(folder / "face.####.exr"))
    pixels = np.zeros((2, 2, 3), np.float16)
    write_exr(out.path(1001), ExrImage(pixels=pixels, channels=("R", "G", "B"),
                                       data_window=(0, 0, 2, 2), display_window=(0, 0, 2, 2),
                                       attributes=[], compression="zip"))
    out.path(1002).write_bytes(b"not an exr")
    assert s.split(out) == ([1001], [1002, 1003, 1004, 1005])


def test_provenance_and_audit_carry_licence_and_config_hash(shot: MiniShot) -> None:
    s = open_shot(shot.config, uses=("render", "use"), keyring=shot.keyring)
    attrs = {a.name: a.value for a in s.provenance(colourspace="ACEScg", render="v001")}
    assert attrs == {"vfx_double/licenceId": "TEST-0001",
                     "vfx_double/configHash": s.cfg.config_hash(),
                     "vfx_double/synthetic": 1, "vfx_double/colourspace": "ACEScg",
                     "vfx_double/render": "v001"}
    s.audit("render", inputs={"x": "0" * 64}, outputs={}, extra={"version": "v001"})
    s.audit("comp", inputs={}, outputs={})
    assert audit.verify(s.area.audit_path) == 2
    entries = [line for line in s.area.audit_path.read_text().splitlines() if line]
    assert '"licence_id":"TEST-0001"' in entries[0].replace(" ", "")
