"""Shared set-up of the Flask-test-client tests (``test_app_*.py``): a small review tree
(``reviews.py``, 8 frames, no ProRes), an app over it on a fresh SQLite file, a user and a
signed-in client."""

from __future__ import annotations

import atexit
import copy
import datetime as dt
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from vfx_double.dailies import create_app
from vfx_double.dailies.auth import add_user, new_token
from vfx_double.dailies.db import writing
from vfx_double.dailies.models import Shot, Show, Version

from .reviews import ReviewTree, build_reviews

FRAMES = 8
USER, PASSWORD = "reviewer", "correct horse battery"


_pristine: list[ReviewTree] = []


def small_tree(root: Path) -> ReviewTree:
    """The review tree under ``root``: built once per test run (C2PA signing takes
    seconds), then copied, so each module may change its own."""
    if not _pristine:
        folder = Path(tempfile.mkdtemp(prefix="vfx_double_dailies_"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        _pristine.append(build_reviews(folder / "tree", frames=FRAMES, prores=False))
    return copy_tree(_pristine[0], root)


def copy_tree(tree: ReviewTree, root: Path) -> ReviewTree:
    """A copy of ``tree`` under ``root`` that a test may change (symlinks kept as links)."""
    shutil.copytree(tree.root, root, symlinks=True)
    moved = copy.deepcopy(tree)
    moved.root, moved.work_root = root, root / tree.work_root.relative_to(tree.root)
    moved.keyring, moved.key = (root / tree.keyring.relative_to(tree.root),
                                root / tree.key.relative_to(tree.root))
    for v in moved.versions:
        v.folder = root / v.folder.relative_to(tree.root)
    return moved


@dataclass
class AppKit:
    tree: ReviewTree
    app: Flask
    db_url: str

    def client(self, user: str = USER, password: str = PASSWORD) -> FlaskClient:
        """A test client signed in through the login form."""
        client = self.app.test_client()
        r = client.post("/login", data={"username": user, "password": password})
        assert r.status_code == 302, r.data
        return client

    def version_id(self, shot: str, version: str) -> int:
        with self.app.extensions["dailies"].sessions() as s:
            return s.scalar(select(Version.id).join(Shot).join(Show).where(
                Shot.name == shot, Version.name == version))

    def token(self, user: str = USER) -> str:
        with writing(self.app.extensions["dailies"].sessions) as s:
            return new_token(s, user)

    def add_user(self, name: str, password: str) -> None:
        with writing(self.app.extensions["dailies"].sessions) as s:
            add_user(s, name, password)


def make_kit(tree: ReviewTree, folder: Path, db_url: str | None = None,
             today: dt.date | None = None) -> AppKit:
    """An app over ``tree`` with its own database (a SQLite file in ``folder`` unless
    ``db_url``) and the user :data:`USER`."""
    folder.mkdir(parents=True, exist_ok=True)
    url = db_url or f"sqlite:///{folder / 'dailies.sqlite'}"
    app = create_app(tree.work_root, url, keyring=tree.keyring, today=today,
                     secret_key="test-secret")
    app.config["TESTING"] = True
    kit = AppKit(tree, app, url)
    kit.add_user(USER, PASSWORD)
    return kit
