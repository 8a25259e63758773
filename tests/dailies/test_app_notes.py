"""Notes pinned to frames (author and time), status changes, and notes posted at the same
moment from many threads against a real SQLite file in WAL mode: every one kept."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import text

from .app_helpers import FRAMES, AppKit, make_kit, small_tree

FIRST = 1001
LAST = FIRST + FRAMES - 1


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> AppKit:
    root = tmp_path_factory.mktemp("notes")
    return make_kit(small_tree(root / "tree"), root / "db")


def test_a_note_is_pinned_to_its_frame_with_author_and_time(kit: AppKit) -> None:
    client = kit.client()
    vid = kit.version_id("sh010", "v001")
    before = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    r = client.post(f"/api/versions/{vid}/notes", json={"frame": FIRST + 3, "text": " jaw "})
    assert r.status_code == 201
    note = r.json
    assert (note["frame"], note["text"], note["author"]) == (FIRST + 3, "jaw", "reviewer")
    assert dt.datetime.fromisoformat(note["time"]) >= before
    client.post(f"/api/versions/{vid}/notes", json={"frame": FIRST, "text": "<b>eyes</b>"})
    listed = client.get(f"/api/versions/{vid}/notes").json["notes"]
    assert [(n["frame"], n["text"]) for n in listed] == [(FIRST, "<b>eyes</b>"),
                                                         (FIRST + 3, "jaw")]
    page = client.get(f"/versions/{vid}").data.decode()
    assert '<span class="note-frame">1004</span>' in page
    assert "&lt;b&gt;eyes&lt;/b&gt;" in page and "<b>eyes</b>" not in page  # escaped


@pytest.mark.parametrize("body, words", [
    ({"frame": FIRST - 1, "text": "x"}, "frame"),        # the slate is not a source frame
    ({"frame": LAST + 1, "text": "x"}, "frame"),
    ({"frame": "1001", "text": "x"}, "frame"),
    ({"frame": True, "text": "x"}, "frame"),
    ({"frame": FIRST, "text": "   "}, "text"),
    ({"frame": FIRST, "text": "x" * 4001}, "text"),
    ({"frame": FIRST}, "text"),
    ([FIRST, "x"], "JSON object"),
])
def test_bad_notes_are_refused_with_the_field(kit: AppKit, body: object, words: str) -> None:
    vid = kit.version_id("sh010", "v001")
    r = kit.client().post(f"/api/versions/{vid}/notes", json=body)
    assert r.status_code == 400 and words in r.json["error"]


def test_a_body_that_is_not_json_is_refused(kit: AppKit) -> None:
    vid = kit.version_id("sh010", "v001")
    r = kit.client().post(f"/api/versions/{vid}/notes", data="frame=1001&text=x",
                          content_type="application/x-www-form-urlencoded")
    assert r.status_code == 400 and "JSON" in r.json["error"]


def test_status_changes_and_bad_status(kit: AppKit) -> None:
    client = kit.client()
    vid = kit.version_id("sh010", "v002")
    for status in ("approved", "retake", "viewed", "pending"):
        r = client.post(f"/api/versions/{vid}/status", json={"status": status})
        assert r.status_code == 200 and r.json["status"] == status
    assert r.json["status_label"] == "pending review" and r.json["status_by"] == "reviewer"
    r = client.post(f"/api/versions/{vid}/status", json={"status": "published"})
    assert r.status_code == 400 and "approved" in r.json["error"]
    assert client.post(f"/api/versions/{vid}/status", json={"status": "approved"}).status_code == 200
    assert b'data-status="approved">approved<' in client.get(f"/versions/{vid}").data


def test_notes_posted_at_once_are_all_kept(kit: AppKit) -> None:
    """Threads post at the same moment, each on its own connection to one SQLite file in
    WAL mode; a write that lost a race would answer 500 or vanish."""
    vid = kit.version_id("sh020", "v001")
    engine = kit.app.extensions["dailies"].engine
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    token = kit.token()
    threads, per_thread = 8, 5
    start = threading.Barrier(threads)
    answers: list[int] = []
    lock = threading.Lock()

    def post(i: int) -> None:
        # half sign in with a session, half with the token: both ways in
        client = kit.client() if i % 2 else kit.app.test_client()
        headers = {} if i % 2 else {"Authorization": f"Bearer {token}"}
        start.wait()
        for j in range(per_thread):
            r = client.post(f"/api/versions/{vid}/notes", headers=headers,
                            json={"frame": FIRST + (i + j) % FRAMES, "text": f"t{i} n{j}"})
            with lock:
                answers.append(r.status_code)

    workers = [threading.Thread(target=post, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert answers == [201] * threads * per_thread
    notes = kit.client().get(f"/api/versions/{vid}/notes").json["notes"]
    assert sorted(n["text"] for n in notes) == sorted(f"t{i} n{j}" for i in range(threads)
                                                      for j in range(per_thread))
