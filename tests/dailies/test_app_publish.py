"""Publishing: only a version whose licence verifies and is valid today and whose review
movie's C2PA manifest is Trusted; otherwise 409 and the reason, on the page too."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from vfx_double.dailies import badges

from .app_helpers import AppKit, copy_tree, make_kit, small_tree
from .reviews import ReviewTree

PROVENANCE_INSTALLED = Path(badges.__file__).parent.parent.joinpath("provenance",
                                                                    "verify.py").is_file()
needs_verify = pytest.mark.skipif(not PROVENANCE_INSTALLED,
                                  reason="vfx_double.provenance.verify not there yet")


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> ReviewTree:
    return small_tree(tmp_path_factory.mktemp("publish") / "tree")


@pytest.fixture
def fresh(tree: ReviewTree, tmp_path: Path) -> ReviewTree:
    """A copy of the tree this test may break."""
    badges.clear_cache()
    return copy_tree(tree, tmp_path / "tree")


def publish(kit: AppKit, shot: str, version: str = "v001") -> tuple[int, dict]:
    r = kit.client().post(f"/api/versions/{kit.version_id(shot, version)}/publish", json={})
    return r.status_code, r.json


def published_at(kit: AppKit, shot: str, version: str = "v001") -> str | None:
    vid = kit.version_id(shot, version)
    return {v["id"]: v["published_at"]
            for v in kit.client().get("/api/versions").json["versions"]}[vid]


@needs_verify
def test_a_trusted_licensed_version_publishes(fresh: ReviewTree, tmp_path: Path) -> None:
    kit = make_kit(fresh, tmp_path / "db")
    code, answer = publish(kit, "sh010")
    assert code == 200 and answer["published"] and answer["published_by"] == "reviewer"
    assert "LIC-0010" in answer["message"] and "Trusted" in answer["message"]
    first = published_at(kit, "sh010")
    assert first is not None
    assert publish(kit, "sh010")[0] == 200 and published_at(kit, "sh010") == first
    page = kit.client().get(f"/versions/{kit.version_id('sh010', 'v001')}").data.decode()
    assert 'id="provenance-badge" class="badge" data-state="ok" data-c2pa="Trusted"' in page


def test_an_expired_licence_refuses_publish_and_the_page_says_why(fresh: ReviewTree,
                                                                  tmp_path: Path) -> None:
    kit = make_kit(fresh, tmp_path / "db")
    code, answer = publish(kit, "sh020")
    assert code == 409
    assert "expired after" in answer["error"] and "LIC-0020" in answer["error"]
    assert published_at(kit, "sh020") is None
    page = kit.client().get(f"/versions/{kit.version_id('sh020', 'v001')}").data.decode()
    assert 'id="licence-badge" class="badge" data-state="bad">licence LIC-0020 expired after' in page


def test_the_app_checks_the_licence_on_its_today(fresh: ReviewTree, tmp_path: Path) -> None:
    until = dt.date.fromisoformat(json.loads(
        (fresh.version("sh010", "v001").folder / "licence.json").read_text())
        ["licence"]["valid_until"])
    kit = make_kit(fresh, tmp_path / "db", today=until + dt.timedelta(days=1))
    code, answer = publish(kit, "sh010")
    assert code == 409 and f"expired after {until}" in answer["error"]
    on_the_day = make_kit(fresh, tmp_path / "db2", today=until)
    page = on_the_day.client().get(f"/versions/{kit.version_id('sh010', 'v001')}").data
    assert b'id="licence-badge" class="badge" data-state="ok"' in page


def test_an_edited_licence_refuses_publish(fresh: ReviewTree, tmp_path: Path) -> None:
    path = fresh.version("sh010", "v001").folder / "licence.json"
    signed = json.loads(path.read_text())
    signed["licence"]["valid_until"] = "2099-12-31"    # edited after signing
    path.write_text(json.dumps(signed))
    kit = make_kit(fresh, tmp_path / "db")
    code, answer = publish(kit, "sh010")
    assert code == 409 and "signature" in answer["error"] and "licence" in answer["error"]


def test_a_licence_for_another_show_refuses_publish(fresh: ReviewTree, tmp_path: Path) -> None:
    from tests.shots import issue_licence

    folder = fresh.version("sh010", "v001").folder
    (folder / "licence.json").unlink()
    issue_licence(fresh.key, folder / "licence.json", shows=("OTHER",), licence_id="LIC-0010",
                  media=())
    kit = make_kit(fresh, tmp_path / "db")
    code, answer = publish(kit, "sh010")
    assert code == 409 and "does not cover show DEMO" in answer["error"]


@needs_verify
@pytest.mark.parametrize("damage, state", [("tamper", "Invalid"), ("unsigned", "Missing"),
                                           ("untrusted", "Valid")])
def test_provenance_other_than_trusted_refuses_publish(fresh: ReviewTree, tmp_path: Path,
                                                       damage: str, state: str) -> None:
    v = fresh.version("sh010", "v001")
    if damage == "tamper":
        data = bytearray(v.movie.read_bytes())
        data[len(data) // 2] ^= 0xFF                   # a picture byte in the middle
        v.movie.write_bytes(bytes(data))
    elif damage == "unsigned":
        v.movie.write_bytes(v.plate.read_bytes())     # the plate is never signed
    else:
        (fresh.keyring / "c2pa_trust.pem").unlink()  # the signer's CA no longer trusted
    kit = make_kit(fresh, tmp_path / "db")
    code, answer = publish(kit, "sh010")
    assert code == 409 and f"provenance ({state})" in answer["error"], answer
    assert "licence:" not in answer["error"]           # the licence itself is fine
    assert published_at(kit, "sh010") is None
    page = kit.client().get(f"/versions/{kit.version_id('sh010', 'v001')}").data.decode()
    assert f'data-state="bad" data-c2pa="{state}"' in page


def test_provenance_is_asked_of_verify_file_through_one_function(
        fresh: ReviewTree, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[Path] = []

    def verdict(movie: Path, keyring: Path | None) -> tuple[str, str]:
        asked.append(movie)
        return "Valid", "signed, intact; signer not in the trust list"

    monkeypatch.setattr(badges, "verify_movie", verdict)
    kit = make_kit(fresh, tmp_path / "db")
    code, answer = publish(kit, "sh010")
    assert code == 409 and "signer not in the trust list" in answer["error"]
    assert asked == [fresh.version("sh010", "v001").movie.resolve()]
