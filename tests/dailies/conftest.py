"""Fixtures for the dailies app against real parts: a PostgreSQL server, review folders
with real movies, the app served by waitress through its CLI, and Debian's chromium
driven by Playwright.

- ``postgres_url`` (session): PostgreSQL 15 started in a temp folder (``postgres.py``).
  Skips off CI when the binaries are missing; fails in CI, which must run these tests
  (``.ci/run`` installs postgresql and chromium).
- ``db_url`` (session, parametrised "sqlite" / "postgresql"): every test that uses it,
  directly or through ``live_server``, runs once on each database.
- ``review_root`` (session): the review tree of ``reviews.py`` (2 shots, sh010 with v001
  and v002, sh020's licence expired).
- ``live_server`` (session per database): ``vfx-double dailies serve`` on a free port.
- ``browser`` (session) / ``page`` (per test): chromium from /usr/bin, never downloaded;
  ``signed_in`` is a page after the login form.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .live import LiveServer, ServerError
from .postgres import PostgresError, PostgresServer, missing_programs
from .reviews import ReviewTree, build_reviews

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "dailies"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--autoplay-policy=no-user-gesture-required"]
#: .ci/run's apt install of chromium at session start writes "done" here when it ends
APT_LOG = Path("/tmp/apt-chromium.log")


def _missing(why: str, ci_what: str) -> None:
    """Skip here, fail in CI: CI must run the real-part tests."""
    if os.environ.get("CI"):
        pytest.fail(f"{why}: CI must run {ci_what} (.ci/run installs it)")
    pytest.skip(why)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    missing = missing_programs()
    if missing:
        _missing(f"PostgreSQL not installed ({', '.join(missing)}; apt-get install postgresql)",
                 "the dailies tests on PostgreSQL")
    server = PostgresServer()
    try:
        server.start()
    except PostgresError as err:
        pytest.fail(str(err))
    yield server.url
    server.stop()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'dailies.sqlite'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture(scope="session")
def review_root(tmp_path_factory: pytest.TempPathFactory) -> ReviewTree:
    return build_reviews(tmp_path_factory.mktemp("reviews"))


@pytest.fixture(scope="session")
def live_server(db_url: str, review_root: ReviewTree,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(review_root.work_root, db_url, keyring=review_root.keyring,
                        folder=tmp_path_factory.mktemp("server"))
    try:
        server.start()
    except ServerError as err:
        pytest.fail(str(err))
    yield server
    server.stop()


def _wait_for_chromium(timeout: float = 600) -> None:
    """Chromium may still be installing (apt at session start): wait for its log's 'done'."""
    deadline = time.monotonic() + timeout
    while not CHROMIUM.exists() and time.monotonic() < deadline:
        if not APT_LOG.is_file():
            return
        done = subprocess.run(["grep", "-q", "done", str(APT_LOG)])
        if done.returncode == 0:
            return
        time.sleep(2)


@pytest.fixture(scope="session")
def browser():
    _wait_for_chromium()
    if not CHROMIUM.exists():
        _missing(f"{CHROMIUM} not found (apt-get install chromium)", "the dailies browser tests")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright not installed (pip install -e '.[test]')",
                 "the dailies browser tests")
    with sync_playwright() as p:
        # Debian's chromium, never a downloaded one (`playwright install` is never run)
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    p = context.new_page()
    yield p
    context.close()


def sign_in(page, server: LiveServer, user: str | None = None,  # type: ignore[no-untyped-def]
            password: str | None = None) -> None:
    page.goto(f"{server.url}/login")
    page.fill("#username", user or server.user)
    page.fill("#password", password or server.password)
    page.click("#sign-in")
    page.wait_for_load_state()


@pytest.fixture
def signed_in(page, live_server: LiveServer):  # type: ignore[no-untyped-def]
    sign_in(page, live_server)
    assert "/login" not in page.url, f"sign-in failed: still at {page.url}"
    return page


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """``test-artifacts/dailies`` in the repo root (gitignored): screenshots kept for a look."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
