"""Sign-in: pages redirect to /login, the API and media answer 401; one message for any
wrong login; passwords and tokens kept only as hashes; the CLI's user and token commands."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import pytest
from sqlalchemy import select

from vfx_double.dailies.models import ApiToken, User

from .app_helpers import PASSWORD, USER, AppKit, make_kit, small_tree

WRONG = "Wrong user name or password."


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> AppKit:
    root = tmp_path_factory.mktemp("auth")
    return make_kit(small_tree(root / "tree"), root / "db")


def test_pages_redirect_to_login_and_api_answers_401(kit: AppKit) -> None:
    client = kit.app.test_client()
    vid = kit.version_id("sh010", "v001")
    for page in ("/", f"/versions/{vid}"):
        r = client.get(page)
        assert r.status_code == 302 and r.headers["Location"].startswith("/login?next=")
        assert page in r.headers["Location"]
    for method, path, body in [("GET", "/api/versions", None),
                               ("GET", f"/api/versions/{vid}/notes", None),
                               ("POST", f"/api/versions/{vid}/notes", {"frame": 1001, "text": "x"}),
                               ("POST", f"/api/versions/{vid}/status", {"status": "approved"}),
                               ("POST", f"/api/versions/{vid}/publish", {}),
                               ("GET", "/media/DEMO/sh010/review/v001/thumb.jpg", None)]:
        r = client.open(path, method=method, json=body)
        assert r.status_code == 401, (method, path)
        assert "sign in" in r.json["error"]
    with kit.app.extensions["dailies"].sessions() as s:
        assert s.scalar(select(User).where(User.name == USER)) is not None


@pytest.mark.parametrize("user, password", [(USER, "not the password"),
                                            ("nobody", PASSWORD), ("nobody", "nothing")])
def test_a_wrong_login_says_one_thing_whatever_was_wrong(kit: AppKit, user: str,
                                                         password: str) -> None:
    client = kit.app.test_client()
    r = client.post("/login", data={"username": user, "password": password})
    assert r.status_code == 401
    page = r.data.decode()
    assert 'id="login-error"' in page and WRONG in page
    assert "password is wrong" not in page.lower() and "no such user" not in page.lower()
    assert client.get("/").status_code == 302        # still signed out


def test_sign_in_goes_to_next_but_never_off_site(kit: AppKit) -> None:
    client = kit.app.test_client()
    r = client.post("/login?next=/api/versions", data={"username": USER, "password": PASSWORD})
    assert r.status_code == 302 and r.headers["Location"] == "/api/versions"
    assert client.get("/api/versions").status_code == 200
    other = kit.app.test_client()
    r = other.post("/login?next=//evil.example/x", data={"username": USER, "password": PASSWORD})
    assert r.headers["Location"] == "/"
    assert other.get("/logout").status_code == 302
    assert other.get("/api/versions").status_code == 401


def test_passwords_and_tokens_are_kept_hashed(kit: AppKit) -> None:
    token = kit.token()
    with kit.app.extensions["dailies"].sessions() as s:
        user = s.scalar(select(User).where(User.name == USER))
        digests = s.scalars(select(ApiToken.digest)).all()
    assert PASSWORD not in user.password_hash and user.password_hash.startswith(("scrypt:", "pbkdf2:"))
    assert hashlib.sha256(token.encode()).hexdigest() in digests and token not in digests


def test_api_token_signs_requests_in(kit: AppKit) -> None:
    client = kit.app.test_client()
    token = kit.token()
    r = client.get("/api/versions", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and len(r.json["versions"]) == 3
    for bad in (token[:-1], "", f"{token}x"):
        r = client.get("/api/versions", headers={"Authorization": f"Bearer {bad}"})
        assert r.status_code == 401


def test_cli_adds_a_user_and_prints_a_token(kit: AppKit, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    def cli(argv: list[str], stdin: str = "") -> tuple[int, str]:
        return run_cli(capsys, monkeypatch, argv, stdin)

    root, url = str(kit.tree.work_root), kit.db_url
    argv = ["dailies", "user", "add", "carol", "--password-stdin", "--work-root", root, "--db", url]
    assert cli(argv, "carol's long password\n") == (0, "user carol added\n")
    code, out = cli(argv, "another password\n")
    assert code == 2 and "carol" in out
    code, out = cli(["dailies", "user", "add", "dave", "--password-stdin",
                               "--work-root", root, "--db", url], "short\n")
    assert code == 2 and "at least 8" in out
    code, out = cli(["dailies", "token", "carol", "--work-root", root, "--db", url])
    assert code == 0
    r = kit.app.test_client().get("/api/versions",
                                  headers={"Authorization": f"Bearer {out.strip()}"})
    assert r.status_code == 200
    assert kit.client("carol", "carol's long password").get("/").status_code == 200
    code, out = cli(["dailies", "token", "nobody", "--work-root", root, "--db", url])
    assert code == 2 and "no such user" in out


def run_cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
            argv: list[str], stdin: str = "") -> tuple[int, str]:
    from vfx_double.cli import main

    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out + err


def test_cli_help_does_not_load_the_web_stack() -> None:
    code = ("import sys, vfx_double.cli as c; c.main(['--help']); "
            "loaded = [m for m in ('flask', 'sqlalchemy', 'werkzeug', 'alembic') if m in sys.modules]; "
            "print('LOADED', loaded)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert "dailies" in done.stdout and "LOADED []" in done.stdout, done.stdout + done.stderr
