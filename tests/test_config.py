"""ShotConfig: strict keys, types, ranges, show defaults and where each error points."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from vfx_double import config
from vfx_double.errors import ConfigError

SHOT = """\
schema: ShotConfig.2
show: SHOW
shot: sh010
work_root: ../work
plate:
  path: plates/sh010.####.exr
  frames: [1001, 1010]
  colourspace: ARRI LogC3 (EI800)
actor:
  name: Test Actor
  licence: licences/test.json
  reference:
    path: ref/ref.%04d.exr
    colourspace: ACEScg
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def load_error(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        config.load(path)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_valid_shot_loads_with_defaults_and_paths_relative_to_the_file(tmp_path: Path) -> None:
    cfg = config.load(write(tmp_path, "sh010.yaml", SHOT))
    assert cfg.show == "SHOW" and cfg.shot == "sh010"
    assert cfg.plate.frames == (1001, 1010)
    assert cfg.plate.path == tmp_path / "plates" / "sh010.####.exr"
    assert cfg.work_root == tmp_path.parent / "work"
    assert cfg.shot_dir == tmp_path.parent / "work" / "SHOW" / "sh010"
    assert cfg.actor.reference.frames is None
    assert cfg.track.backend == "mediapipe" and cfg.colour.working == "ACEScg"
    assert cfg.output_colourspace == "ARRI LogC3 (EI800)"
    assert cfg.where("plate", "colourspace") == f"{tmp_path / 'sh010.yaml'}:8"


def test_frames_accept_a_range_string(tmp_path: Path) -> None:
    cfg = config.load(write(tmp_path, "s.yaml", SHOT.replace("[1001, 1010]", "'1001-1010'")))
    assert cfg.plate.frames == (1001, 1010)


@pytest.mark.parametrize("text, frames", [("'1001'", (1001, 1001)), ("' 1001 - 1010 '", (1001, 1010))])
def test_frame_strings_follow_the_cli_grammar(tmp_path: Path, text: str, frames) -> None:
    # one grammar for --frames and a config's string form: a single frame is a range too
    cfg = config.load(write(tmp_path, "s.yaml", SHOT.replace("[1001, 1010]", text)))
    assert cfg.plate.frames == frames


def test_a_bad_frame_string_says_both_forms(tmp_path: Path) -> None:
    message = load_error(write(tmp_path, "s.yaml", SHOT.replace("[1001, 1010]", "'1001:1010'")))
    assert "s.yaml:7" in message and "1001-1100" in message and "[first, last]" in message


def test_show_defaults_merge_under_the_shot_and_keep_their_own_lines(tmp_path: Path) -> None:
    write(tmp_path, "_show.yaml", """\
        schema: ShowDefaults.1
        use: advertising
        track:
          smoothing: 0.25
          max_gap: 4
        """)
    shot = SHOT + "track:\n  max_gap: 12\n"
    cfg = config.load(write(tmp_path, "sh010.yaml", shot))
    assert cfg.use == "advertising"
    assert cfg.track.smoothing == 0.25 and cfg.track.max_gap == 12
    assert cfg.where("track", "smoothing") == f"{tmp_path / '_show.yaml'}:4"
    assert cfg.where("track", "max_gap").endswith("sh010.yaml:16")


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "s.yaml", SHOT.replace("  frames: [1001, 1010]", "  frames: [1001, 1010"))
    message = load_error(path)
    assert f"{path}:" in message and "valid YAML" in message


def test_unknown_key_names_line_and_nearest_key(tmp_path: Path) -> None:
    path = write(tmp_path, "s.yaml", SHOT.replace("  colourspace: ARRI", "  colorspace: ARRI", 1))
    message = load_error(path)
    assert f"{path}:8" in message
    assert "unknown key 'colorspace'" in message and "'colourspace'" in message


def test_unknown_top_level_key(tmp_path: Path) -> None:
    message = load_error(write(tmp_path, "s.yaml", SHOT + "trakc:\n  backend: fan\n"))
    assert "s.yaml:15" in message and "did you mean 'track'" in message


def test_wrong_type_names_key_expected_and_found(tmp_path: Path) -> None:
    message = load_error(write(tmp_path, "s.yaml", SHOT + "track:\n  max_gap: lots\n"))
    assert "s.yaml:16" in message
    assert "track.max_gap as an integer" in message and "'lots'" in message


def test_out_of_range_number(tmp_path: Path) -> None:
    message = load_error(write(tmp_path, "s.yaml", SHOT + "comp:\n  mix: 1.5\n"))
    assert "comp.mix in [0.0, 1.0]" in message and "1.5" in message


def test_bad_choice_suggests_the_valid_one(tmp_path: Path) -> None:
    message = load_error(write(tmp_path, "s.yaml", SHOT + "track:\n  backend: mediapip\n"))
    assert "'mediapipe'" in message and "'fan'" in message


def test_reversed_frame_range(tmp_path: Path) -> None:
    message = load_error(write(tmp_path, "s.yaml", SHOT.replace("[1001, 1010]", "[1010, 1001]")))
    assert "s.yaml:7" in message and "reversed" in message and "[1001, 1010]" in message


def test_missing_required_key(tmp_path: Path) -> None:
    message = load_error(write(tmp_path, "s.yaml", SHOT.replace("show: SHOW\n", "")))
    assert "key 'show'" in message


def test_duplicate_key_is_refused(tmp_path: Path) -> None:
    message = load_error(write(tmp_path, "s.yaml", SHOT + "shot: sh020\n"))
    assert "s.yaml:15" in message and "'shot' a second time" in message


@pytest.mark.parametrize("schema, words", [
    ("ShotConfig.3", "newer vfx_double"),
    ("TrackResult.1", "schema: ShotConfig.2"),
])
def test_schema_version_is_checked(tmp_path: Path, schema: str, words: str) -> None:
    message = load_error(write(tmp_path, "s.yaml", SHOT.replace("ShotConfig.2", schema)))
    assert words in message


def test_tracking_rate_is_the_footage_not_the_review(tmp_path: Path) -> None:
    # Version 1 smoothed tracks at review.fps, so a dailies setting changed tracking.
    plain = config.load(write(tmp_path, "a.yaml", SHOT))
    dailies = config.load(write(tmp_path, "b.yaml", SHOT + "review:\n  fps: 48.0\n"))
    assert plain.plate.fps == dailies.plate.fps == 24.0 and plain.review_fps == 24.0
    assert dailies.review_fps == 48.0
    rated = config.load(write(tmp_path, "c.yaml", SHOT.replace(
        "  colourspace: ARRI LogC3 (EI800)\n", "  colourspace: ARRI LogC3 (EI800)\n  fps: 25\n")))
    assert rated.plate.fps == 25.0 and rated.review_fps == 25.0
    assert rated.actor.reference.fps == 24.0


def test_yaml_tags_that_run_code_are_refused(tmp_path: Path) -> None:
    text = SHOT.replace("Test Actor", "!!python/object/apply:os.system ['echo pwned']")
    message = load_error(write(tmp_path, "s.yaml", text))
    assert "s.yaml:10" in message and "disallowed tag" in message


def test_show_and_shot_must_be_folder_safe(tmp_path: Path) -> None:
    message = load_error(write(tmp_path, "s.yaml", SHOT.replace("shot: sh010", "shot: ../../etc")))
    assert "shot as a name" in message


def test_performer_position_must_be_normalised(tmp_path: Path) -> None:
    text = SHOT + "performer:\n  select: position\n  position: [960, 540]\n"
    assert "normalised" in load_error(write(tmp_path, "s.yaml", text))


def test_config_hash_changes_with_settings(tmp_path: Path) -> None:
    a = config.load(write(tmp_path, "a.yaml", SHOT)).config_hash()
    b = config.load(write(tmp_path, "b.yaml", SHOT + "comp:\n  mix: 0.5\n")).config_hash()
    assert a != b and len(a) == 64


def test_missing_file(tmp_path: Path) -> None:
    message = load_error(tmp_path / "nope.yaml")
    assert "nope.yaml" in message and "no such file" in message


@pytest.mark.parametrize("written, read", [
    (None, "auto"), ("auto", "auto"), ("on", "on"), ("off", "off"), ("'off'", "off"),
    ("true", "on"), ("false", "off"),
])
def test_comp_detail_reads_auto_on_off(tmp_path: Path, written: str | None, read: str) -> None:
    # YAML 1.1 reads a bare on / off as a boolean; both spellings mean the same.
    text = SHOT if written is None else SHOT + f"comp:\n  detail: {written}\n"
    assert config.load(write(tmp_path, "s.yaml", text)).comp.detail == read


@pytest.mark.parametrize("written", ["sometimes", "1", "[on]", "null"])
def test_comp_detail_refuses_anything_else_naming_file_and_line(tmp_path: Path,
                                                                 written: str) -> None:
    text = SHOT + f"comp:\n  mix: 1.0\n  detail: {written}\n"
    message = load_error(write(tmp_path, "s.yaml", text))
    assert "s.yaml:17" in message and "comp.detail" in message
    assert "'auto'" in message and "'on'" in message and "'off'" in message


# --- hostile values (issue 11) --------------------------------------------------------------

def hostile(tmp_path: Path, extra: str) -> Path:
    from tests.shots import make_shot

    shot = make_shot(tmp_path)
    shot.config.write_text(shot.config.read_text() + textwrap.dedent(extra))
    return shot.config


@pytest.mark.parametrize("extra, words", [
    ("comp:\n  mix: .nan\n", "comp.mix as a finite number, found nan"),
    ("track:\n  smoothing: .inf\n", "track.smoothing as a finite number, found inf"),
    ("review:\n  fps: -.inf\n", "review.fps as a finite number"),
    ("comp:\n  compression: bogus\n", "comp.compression as an OpenEXR compression"),
])
def test_non_finite_numbers_and_unknown_compressions_name_the_line(
        tmp_path: Path, extra: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words) as info:
        config.load(hostile(tmp_path, extra))
    assert "sh010.yaml:" in str(info.value)


def test_a_frame_range_is_bounded(tmp_path: Path) -> None:
    path = hostile(tmp_path, "")
    path.write_text(path.read_text().replace("frames: [1001, 1005]", "frames: [1, 99999999999]"))
    with pytest.raises(ConfigError, match="at most 1000000 frames"):
        config.load(path)


def test_a_yaml_alias_bomb_costs_nothing(tmp_path: Path) -> None:
    import resource

    rows = ["a0: &a0 {x: 1, y: 2}"] + [
        f"a{i}: &a{i} {{" + ", ".join(f"k{j}: *a{i - 1}" for j in range(9)) + "}"
        for i in range(1, 10)]
    path = tmp_path / "bomb.yaml"
    path.write_text("schema: ShotConfig.2\n" + "\n".join(rows) + "\nplate: *a9\n")
    assert path.stat().st_size < 2048  # 9**9 = 387M mappings if each alias were followed
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ConfigError, match="unknown key 'a0'"):
        config.load(path)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100_000  # KB
