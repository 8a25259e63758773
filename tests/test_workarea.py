"""Versioned stage folders: numbered, never reused, safe when processes race."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from vfx_double.errors import WorkAreaError
from vfx_double.workarea import WorkArea


def test_versions_count_up_and_never_reuse(tmp_path: Path) -> None:
    area = WorkArea(tmp_path / "SHOW" / "sh010")
    assert area.latest("track") is None
    first = area.new_version("track")
    second = area.new_version("track")
    assert first.name == "v001" and second.name == "v002"
    (first / "track.json").write_text("{}")
    second.rmdir()
    # v002 was removed, but v001 still holds work: the next one is v002 again, not v001.
    assert area.new_version("track").name == "v002"
    assert area.versions("track") == [1, 2]
    assert area.latest("track") == area.stage_dir("track") / "v002"
    assert area.new_version("train").name == "run-001"


def test_unknown_stage_is_refused(tmp_path: Path) -> None:
    with pytest.raises(WorkAreaError, match="one of track"):
        WorkArea(tmp_path).new_version("trak")


def _grab(root: str, n: int, out: "multiprocessing.Queue[str]") -> None:
    area = WorkArea(Path(root))
    for _ in range(n):
        out.put(area.new_version("render").name)


def test_racing_processes_get_distinct_versions(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue[str] = ctx.Queue()
    procs = [ctx.Process(target=_grab, args=(str(tmp_path), 10, queue)) for _ in range(3)]
    for p in procs:
        p.start()
    names = [queue.get(timeout=60) for _ in range(30)]
    for p in procs:
        p.join(timeout=60)
    assert len(set(names)) == 30
    assert WorkArea(tmp_path).versions("render") == list(range(1, 31))


def test_unwritable_work_root_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(WorkAreaError, match="writable work area"):
        WorkArea(blocker / "SHOW" / "sh010").new_version("comp")


def test_a_work_area_that_cannot_be_locked_is_a_clear_error(tmp_path: Path) -> None:
    # issue 11: comp and render on a read-only work area died with OSError on .lock (exit 1)
    area = WorkArea(tmp_path / "SHOW" / "sh010")
    (area.stage_dir("comp") / ".lock").mkdir(parents=True)  # cannot be opened as a file
    with pytest.raises(WorkAreaError, match="writable work area"):
        area.version_for("comp", {"schema": "CompOptions.2"})


def test_an_options_file_that_is_not_ours_is_never_continued(tmp_path: Path) -> None:
    area = WorkArea(tmp_path / "SHOW" / "sh010")
    first, _ = area.version_for("render", {"a": 1})
    (first / "options.json").unlink()
    (first / "options.json").symlink_to("/dev/zero")
    second, continued = area.version_for("render", {"a": 1})
    assert second != first and not continued


def test_a_named_version_is_made_once_then_found(tmp_path: Path) -> None:
    area = WorkArea(tmp_path / "SHOW" / "sh010")
    assert area.named("train", "run-004") == (area.stage_dir("train") / "run-004", True)
    assert area.named("train", "run-004") == (area.stage_dir("train") / "run-004", False)
    assert area.latest("train").name == "run-004"
    for bad in ("run-4", "v004", "../run-004", "latest"):
        with pytest.raises(WorkAreaError, match="a name like run-003"):
            area.named("train", bad)
