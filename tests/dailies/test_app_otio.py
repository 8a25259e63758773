"""OpenTimelineIO export of a playlist: versions as clips referencing their review
movies, source frames as media time, notes as markers with author and time; through the
API and the CLI."""

from __future__ import annotations

from pathlib import Path

import opentimelineio as otio
import pytest

from .app_helpers import FRAMES, AppKit, make_kit, small_tree

FIRST = 1001


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> AppKit:
    root = tmp_path_factory.mktemp("otio")
    return make_kit(small_tree(root / "tree"), root / "db")


@pytest.fixture(scope="module")
def playlist(kit: AppKit) -> int:
    client = kit.client()
    ids = [kit.version_id("sh010", "v002"), kit.version_id("sh020", "v001")]
    client.post(f"/api/versions/{ids[0]}/notes", json={"frame": FIRST + 5, "text": "blink"})
    client.post(f"/api/versions/{ids[0]}/notes", json={"frame": FIRST, "text": "edge"})
    client.post(f"/api/versions/{ids[0]}/status", json={"status": "retake"})
    r = client.post("/api/playlists", json={"name": "dailies 2026-12-03", "versions": ids})
    assert r.status_code == 201
    return r.json["id"]


def check_timeline(timeline: otio.schema.Timeline, kit: AppKit) -> None:
    assert timeline.name == "dailies 2026-12-03"
    clips = list(timeline.find_clips())
    assert [c.name for c in clips] == ["DEMO/sh010/v002", "DEMO/sh020/v001"]
    first = clips[0]
    movie = kit.tree.version("sh010", "v002").movie.resolve()
    assert first.media_reference.target_url == movie.as_uri()
    assert Path(first.media_reference.target_url.removeprefix("file://")).is_file()
    source = first.source_range
    assert (source.start_time.value, source.start_time.rate) == (FIRST, 24.0)
    assert source.duration.value == FRAMES
    # the slate is in the movie, before the shot's first frame
    assert first.media_reference.available_range.start_time.value == FIRST - 1
    assert first.metadata["vfx_double"]["status"] == "retake"
    markers = [(m.marked_range.start_time.value, m.metadata["vfx_double"]["text"],
                m.metadata["vfx_double"]["author"], m.color) for m in first.markers]
    assert markers == [(FIRST, "edge", "reviewer", "RED"), (FIRST + 5, "blink", "reviewer", "RED")]
    assert all(m.metadata["vfx_double"]["time"] for m in first.markers)
    assert list(clips[1].markers) == []
    assert timeline.duration().value == 2 * FRAMES


def test_playlist_exports_through_the_api(kit: AppKit, playlist: int) -> None:
    r = kit.client().get(f"/api/playlists/{playlist}/otio")
    assert r.status_code == 200 and "attachment" in r.headers["Content-Disposition"]
    check_timeline(otio.adapters.read_from_string(r.data.decode(), "otio_json"), kit)


def test_playlist_exports_through_the_cli(kit: AppKit, playlist: int, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    from vfx_double.cli import main

    out = tmp_path / "dailies.otio"
    args = ["--work-root", str(kit.tree.work_root), "--db", kit.db_url]
    assert main(["dailies", "playlist", "export", "dailies 2026-12-03", str(out), *args]) == 0
    check_timeline(otio.adapters.read_from_file(str(out)), kit)
    assert main(["dailies", "playlist", "export", "nope", str(tmp_path / "x.otio"), *args]) == 2
    assert "dailies 2026-12-03" in capsys.readouterr().err      # the playlists there


def test_bad_playlists_are_refused(kit: AppKit, playlist: int) -> None:
    client = kit.client()
    assert client.get("/api/playlists/999/otio").status_code == 404
    r = client.post("/api/playlists", json={"name": "dailies 2026-12-03", "versions": []})
    assert r.status_code == 409
    r = client.post("/api/playlists", json={"name": "x", "versions": [9999]})
    assert r.status_code == 404 and "9999" in r.json["error"]
    r = client.post("/api/playlists", json={"name": "x", "versions": "1,2"})
    assert r.status_code == 400
    listed = client.get("/api/playlists").json["playlists"]
    assert [p["name"] for p in listed] == ["dailies 2026-12-03"]
