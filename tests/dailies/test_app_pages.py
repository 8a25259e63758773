"""The pages: the catalog of shows, shots and versions with thumbnails (found in the work
root, new folders on the next visit, a bad report skipped), the player page's elements,
a version that does not exist."""

from __future__ import annotations

import json
import logging
import shutil
from html.parser import HTMLParser

import pytest

from .app_helpers import AppKit, make_kit, small_tree

#: the player page's elements the browser tests and the JavaScript rely on (the contract)
PLAYER_IDS = {"player": "video", "compare": "video", "compare-source": "select",
              "wipe": "input", "step-back": "button", "step-forward": "button",
              "frame": None, "status": None, "approve": None, "retake": None,
              "note-text": "textarea", "note-submit": "button", "notes": "ul",
              "licence-badge": None, "provenance-badge": None, "cost": None,
              "publish": "button", "publish-message": None}


class Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.by_id: dict[str, tuple[str, dict[str, str | None]]] = {}
        self.all: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        record = (tag, dict(attrs))
        self.all.append(record)
        if "id" in record[1]:
            assert record[1]["id"] not in self.by_id, f"id {record[1]['id']} twice"
            self.by_id[record[1]["id"] or ""] = record


def parse(html: bytes) -> Elements:
    parser = Elements()
    parser.feed(html.decode())
    return parser


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> AppKit:
    root = tmp_path_factory.mktemp("pages")
    return make_kit(small_tree(root / "tree"), root / "db")


def test_index_lists_shows_shots_and_versions_with_thumbnails(kit: AppKit) -> None:
    client = kit.client()
    page = client.get("/")
    assert page.status_code == 200
    elements = parse(page.data)
    links = [a for tag, a in elements.all if tag == "a" and "version-link" in (a.get("class") or "")]
    ids = {int(a["data-version-id"]) for a in links}
    assert ids == {kit.version_id(s, v) for s, v in
                   [("sh010", "v001"), ("sh010", "v002"), ("sh020", "v001")]}
    thumbs = [a["src"] for tag, a in elements.all if tag == "img"]
    assert "/media/DEMO/sh010/review/v002/thumb.jpg" in thumbs and len(thumbs) == 3
    assert client.get(thumbs[0]).headers["Content-Type"] == "image/jpeg"
    text = page.data.decode()
    assert text.index("sh010") < text.index("sh020")
    # cost per shot: the latest version's report (reviews.py: 0.05 CPU-hours per version n)
    assert "0.10 CPU-hours / 0.00 GPU-hours" in text and "0.15 CPU-hours" in text


def test_player_page_has_the_contract_elements(kit: AppKit) -> None:
    vid = kit.version_id("sh010", "v002")
    page = kit.client().get(f"/versions/{vid}")
    assert page.status_code == 200
    elements = parse(page.data)
    for element_id, tag in PLAYER_IDS.items():
        assert element_id in elements.by_id, element_id
        if tag:
            assert elements.by_id[element_id][0] == tag, element_id
    player = elements.by_id["player"][1]
    assert player["src"] == "/media/DEMO/sh010/review/v002/sh010_review_v002.mp4"
    options = [a.get("value") for tag, a in elements.all if tag == "option"]
    assert options == ["none", "plate", "previous"]
    wipe = elements.by_id["wipe"][1]
    assert (wipe["type"], wipe["min"], wipe["max"]) == ("range", "0", "100")
    viewer = elements.by_id["viewer"][1]
    assert viewer["data-previous"] == "/media/DEMO/sh010/review/v001/sh010_review_v001.mp4"
    assert viewer["data-plate"] == "/media/DEMO/sh010/review/v002/plate.mp4"
    assert (viewer["data-fps"], viewer["data-first"], viewer["data-slate"]) == ("24.0", "1001", "1")
    assert elements.by_id["licence-badge"][1]["data-state"] == "ok"
    assert "LIC-0010 valid until" in page.data.decode()
    assert elements.by_id["provenance-badge"][1]["data-state"] in ("ok", "bad")
    assert "0.10 CPU-hours / 0.00 GPU-hours" in page.data.decode()
    # static files come from the app itself: nothing is fetched from elsewhere
    for tag, attrs in elements.all:
        for key in ("src", "href"):
            value = attrs.get(key) or ""
            assert not value.startswith(("http:", "https:", "//")), value
    assert kit.client().get("/static/player.js").status_code == 200


def test_first_version_offers_no_previous(kit: AppKit) -> None:
    page = kit.client().get(f"/versions/{kit.version_id('sh010', 'v001')}")
    elements = parse(page.data)
    previous = [a for tag, a in elements.all if tag == "option" and a.get("value") == "previous"]
    assert "disabled" in previous[0]
    assert elements.by_id["viewer"][1]["data-previous"] == ""


def test_opening_the_player_marks_a_pending_version_viewed(kit: AppKit) -> None:
    client = kit.client()
    vid = kit.version_id("sh020", "v001")
    status = {v["id"]: v["status"] for v in client.get("/api/versions").json["versions"]}
    assert status[vid] == "pending"
    assert b'data-status="viewed"' in client.get(f"/versions/{vid}").data
    record = {v["id"]: v for v in client.get("/api/versions").json["versions"]}[vid]
    assert record["status"] == "viewed" and record["status_by"] == "reviewer"
    # a decision is never turned back into "viewed" by looking again
    assert client.post(f"/api/versions/{vid}/status", json={"status": "retake"}).status_code == 200
    assert b'data-status="retake"' in client.get(f"/versions/{vid}").data


def test_a_version_that_does_not_exist_is_a_clear_404(kit: AppKit) -> None:
    client = kit.client()
    page = client.get("/versions/9999")
    assert page.status_code == 404
    assert b"Version 9999 does not exist" in page.data and b'id="error-message"' in page.data
    for method, path in [("GET", "/api/versions/9999"), ("GET", "/api/versions/9999/notes"),
                         ("POST", "/api/versions/9999/notes"),
                         ("POST", "/api/versions/9999/status"),
                         ("POST", "/api/versions/9999/publish")]:
        r = client.open(path, method=method, json={"frame": 1001, "text": "x",
                                                   "status": "approved"})
        assert r.status_code == 404 and r.json["error"].startswith("Version 9999 does not exist")
    assert client.get("/versions/not-a-number").status_code == 404


def test_new_review_folders_appear_and_a_bad_report_is_skipped(
        kit: AppKit, caplog: pytest.LogCaptureFixture) -> None:
    shot = kit.tree.work_root / "DEMO" / "sh010" / "review"
    shutil.copytree(shot / "v002", shot / "v003")
    report = json.loads((shot / "v003" / "report.json").read_text())
    report["version"] = "v003"
    (shot / "v003" / "report.json").write_text(json.dumps(report))
    broken = kit.tree.work_root / "DEMO" / "sh030" / "review" / "v001"
    broken.mkdir(parents=True)
    (broken / "report.json").write_text("{not json")
    caplog.set_level(logging.WARNING, logger="vfx_double.dailies.catalog")
    page = kit.client().get("/")
    assert page.status_code == 200
    assert kit.version_id("sh010", "v003") is not None
    assert kit.version_id("sh030", "v001") is None
    assert any("sh030" in r.getMessage() and "skipping" in r.getMessage() for r in caplog.records)
    viewer = parse(kit.client().get(f"/versions/{kit.version_id('sh010', 'v003')}").data)
    assert viewer.by_id["viewer"][1]["data-previous"].endswith("sh010_review_v002.mp4")


@pytest.mark.parametrize("change, words", [
    ({"schema": "ReviewReport.2"}, "schema"),
    ({"shot": "sh099"}, "show/shot/version"),
    ({"fps": 0}, "fps"),
    ({"fps": "24"}, "fps"),
    ({"first": 1001.0}, "first"),
    ({"last": 1000}, "first <= last"),
    ({"slate_frames": None}, "slate_frames"),
    ({"movies": {"plate": "plate.mp4"}}, "movies.h264"),
])
def test_a_report_the_player_cannot_use_is_refused(kit: AppKit, change: dict, words: str) -> None:
    from vfx_double.dailies.catalog import check_report

    report = json.loads((kit.tree.version("sh010", "v001").folder / "report.json").read_text())
    check_report(report, ("DEMO", "sh010", "v001"))
    with pytest.raises(ValueError, match=words):
        check_report(report | change, ("DEMO", "sh010", "v001"))
