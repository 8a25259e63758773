"""Frame patterns (fileseq, Nuke-style hashes), frames on disk, compact frame lists."""

from __future__ import annotations

from pathlib import Path

import pytest

from vfx_double.errors import ConfigError, MediaError
from vfx_double.io.atomic import temp_path_for
from vfx_double.io.sequences import FrameSequence, format_frames, parse_frame_range


def touch_frames(folder: Path, names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"x")


@pytest.mark.parametrize("token", ["####", "%04d", "$F4", "@@@@"])
def test_four_digit_tokens(tmp_path: Path, token: str) -> None:
    seq = FrameSequence(f"{tmp_path}/plate.{token}.exr")
    assert seq.padding == 4
    assert seq.pattern == f"{tmp_path}/plate.{token}.exr"
    assert seq.path(1001) == tmp_path / "plate.1001.exr"
    assert seq.path(7) == tmp_path / "plate.0007.exr"
    assert seq.path(-5) == tmp_path / "plate.-005.exr"


@pytest.mark.parametrize("token", ["#", "@", "%d", "$F"])
def test_single_hash_is_one_digit_like_nuke(tmp_path: Path, token: str) -> None:
    # fileseq's default style would make "#" four digits; Nuke's is unpadded.
    seq = FrameSequence(f"{tmp_path}/plate.{token}.exr")
    assert seq.padding == 1
    assert seq.path(7) == tmp_path / "plate.7.exr"
    assert seq.path(1001) == tmp_path / "plate.1001.exr"


def test_explicit_range_in_pattern(tmp_path: Path) -> None:
    seq = FrameSequence(f"{tmp_path}/plate.1001-1100#.exr")
    assert seq.path(1001) == tmp_path / "plate.1001.exr"
    assert seq.frames() == list(range(1001, 1101))
    seq4 = FrameSequence(f"{tmp_path}/plate.1001-1100####.exr")
    assert seq4.padding == 4 and seq4.frames()[-1] == 1100
    # an explicit (first, last) overrides the pattern's range
    narrowed = FrameSequence(f"{tmp_path}/plate.1001-1100#.exr", (1010, 1012))
    assert narrowed.frames() == [1010, 1011, 1012]


def test_relative_pattern() -> None:
    assert FrameSequence("plates/plate.####.exr").path(12) == Path("plates/plate.0012.exr")
    assert FrameSequence("plate.%04d.exr").path(12) == Path("plate.0012.exr")


@pytest.mark.parametrize("pattern", ["/shots/plate.exr", "/shots/plate.1001.exr", "/shots/plate"])
def test_pattern_without_token_is_refused(pattern: str) -> None:
    with pytest.raises(MediaError) as info:
        FrameSequence(pattern)
    assert info.value.where == pattern
    assert "####" in info.value.expected and "%04d" in info.value.expected


def test_frames_found_on_disk_with_one_listing(tmp_path: Path) -> None:
    names = [f"plate.{f:04d}.exr" for f in (1001, 1002, 1003, 1010)]
    names += [
        "plate.01004.exr",        # 5 digits: not what path(1004) writes
        "plate.1005.exr.bak",     # other suffix
        "other.1006.exr",         # other head
        "plate.abcd.exr",
        temp_path_for(tmp_path / "plate.1007.exr").name,  # an interrupted atomic write
    ]
    touch_frames(tmp_path, names)
    (tmp_path / "plate.1008.exr").mkdir()  # a folder is not a frame
    seq = FrameSequence(tmp_path / "plate.####.exr")
    assert seq.existing() == [1001, 1002, 1003, 1010]
    assert seq.frames() == [1001, 1002, 1003, 1010]
    assert seq.missing(range(1001, 1011)) == [1004, 1005, 1006, 1007, 1008, 1009]


def test_unpadded_sequence_crosses_digit_counts(tmp_path: Path) -> None:
    touch_frames(tmp_path, ["plate.98.exr", "plate.99.exr", "plate.100.exr", "plate.0101.exr"])
    assert FrameSequence(tmp_path / "plate.#.exr").existing() == [98, 99, 100]


def test_negative_frames_on_disk(tmp_path: Path) -> None:
    seq = FrameSequence(tmp_path / "plate.####.exr")
    touch_frames(tmp_path, [seq.path(f).name for f in (-2, -1, 0, 1)])
    assert seq.existing() == [-2, -1, 0, 1]


def test_missing_frames_reported_compactly(tmp_path: Path) -> None:
    seq = FrameSequence(tmp_path / "plate.%04d.exr", (1001, 1060))
    absent = {1013, 1050, 1051, 1052}
    touch_frames(tmp_path, [seq.path(f).name for f in range(1001, 1061) if f not in absent])
    assert seq.missing() == [1013, 1050, 1051, 1052]
    assert format_frames(seq.missing()) == "1013, 1050-1052"


def test_missing_folder_means_every_frame_missing(tmp_path: Path) -> None:
    seq = FrameSequence(tmp_path / "nowhere" / "plate.####.exr", (1, 3))
    assert seq.existing() == []
    assert seq.missing() == [1, 2, 3]


def test_with_pattern_keeps_name_padding_and_range(tmp_path: Path) -> None:
    seq = FrameSequence("/plates/plate.%04d.exr", (1001, 1003))
    out = seq.with_pattern(tmp_path / "comp")
    assert out.path(1001) == tmp_path / "comp" / "plate.1001.exr"
    assert out.padding == 4 and out.frames() == [1001, 1002, 1003]
    other = seq.with_pattern(tmp_path / "comp" / "sh010_comp.####.exr")
    assert other.path(1002) == tmp_path / "comp" / "sh010_comp.1002.exr"
    assert other.frames() == [1001, 1002, 1003]


def test_reversed_range_in_constructor() -> None:
    with pytest.raises(ConfigError, match="first <= last"):
        FrameSequence("/p/plate.####.exr", (1100, 1001))


@pytest.mark.parametrize(("frames", "text"), [
    ([1013, 1050, 1051, 1052], "1013, 1050-1052"),
    ([1052, 1050, 1051, 1013, 1013], "1013, 1050-1052"),
    ([5], "5"),
    ([-3, -2, -1, 0, 1], "-3-1"),
    ([-5, -4, -3, -2, -1], "-5--1"),
    ([], "none"),
])
def test_format_frames(frames: list[int], text: str) -> None:
    assert format_frames(frames) == text


def test_format_frames_caps_long_lists() -> None:
    frames = list(range(1, 200, 2))  # 100 separate frames
    text = format_frames(frames, max_ranges=3)
    assert text == "1, 3, 5, ... (97 more frames)"
    assert format_frames(frames).count(",") == 12


@pytest.mark.parametrize(("text", "expected"), [
    ("1001-1100", (1001, 1100)),
    ("1001", (1001, 1001)),
    (" 1001 - 1100 ", (1001, 1100)),
    ("-5--1", (-5, -1)),
    ("-5-3", (-5, 3)),
    ("-7", (-7, -7)),
])
def test_parse_frame_range(text: str, expected: tuple[int, int]) -> None:
    assert parse_frame_range(text) == expected


@pytest.mark.parametrize("text", ["1100-1001", "a-b", "1001-", "", "1001:1100", "1.5-3"])
def test_parse_frame_range_refuses(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_frame_range(text)
    err = info.value
    assert err.where == "--frames"
    assert "A-B" in err.expected and err.found and err.hint
