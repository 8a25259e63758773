"""Media: review files served with HTTP Range (seeking without downloading the movie);
nothing outside the review folders of the work root, each refusal logged."""

from __future__ import annotations

import logging

import pytest

from .app_helpers import AppKit, make_kit, small_tree

MOVIE = "DEMO/sh010/review/v001/sh010_review_v001.mp4"


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> AppKit:
    root = tmp_path_factory.mktemp("media")
    return make_kit(small_tree(root / "tree"), root / "db")


def test_range_requests_answer_206_with_exactly_those_bytes(kit: AppKit) -> None:
    client = kit.client()
    data = (kit.tree.work_root / MOVIE).read_bytes()
    whole = client.get(f"/media/{MOVIE}")
    assert whole.status_code == 200 and whole.data == data
    assert whole.headers["Accept-Ranges"] == "bytes"
    assert whole.headers["Content-Type"] == "video/mp4"
    middle = len(data) // 2
    for header, lo, hi in [("bytes=0-99", 0, 99), (f"bytes={middle}-{middle + 9}", middle,
                                                    middle + 9),
                           ("bytes=-16", len(data) - 16, len(data) - 1),
                           (f"bytes={middle}-", middle, len(data) - 1)]:
        r = client.get(f"/media/{MOVIE}", headers={"Range": header})
        assert r.status_code == 206, header
        assert r.headers["Content-Range"] == f"bytes {lo}-{hi}/{len(data)}"
        assert r.data == data[lo:hi + 1]
    r = client.get(f"/media/{MOVIE}", headers={"Range": f"bytes={len(data) + 10}-"})
    assert r.status_code == 416


def test_paths_outside_the_review_folders_are_refused_and_logged(
        kit: AppKit, caplog: pytest.LogCaptureFixture) -> None:
    client = kit.client()
    root = kit.tree.work_root
    folder = root / "DEMO/sh010/review/v001"
    escape = folder / "escape.json"
    escape.symlink_to(kit.tree.key)          # the issuer's private key, outside the work root
    secret = kit.tree.key.read_bytes()
    (root / "DEMO/sh010/notes.json").write_text("{}")  # inside the work root, not a review file
    tries = [
        "DEMO/sh010/review/v001/../../../../keys/test-issuer.key",
        "DEMO/sh010/review/v001/%2e%2e/%2e%2e/%2e%2e/%2e%2e/keys/test-issuer.key",
        str(kit.tree.key),                    # an absolute path
        "DEMO/sh010/review/v001/escape.json",  # a symlink out of the work root
        "DEMO/sh010/notes.json",
        "DEMO/sh010/review/v001/../../../../db/dailies.sqlite",
        "DEMO/sh010/review/v001/missing.mp4",
    ]
    caplog.set_level(logging.WARNING, logger="vfx_double.dailies.media")
    for path in tries:
        caplog.clear()
        # werkzeug folds "//" into "/" with a redirect first: followed
        r = client.get(f"/media/{path}", follow_redirects=True)
        assert r.status_code == 404, path
        assert secret not in r.data and b"PRIVATE KEY" not in r.data
        assert r.json["error"] == "No such review file."
        assert any("refused" in rec.getMessage() and "reviewer" in rec.getMessage()
                   for rec in caplog.records), path
    assert client.get(f"/media/{MOVIE}").status_code == 200
