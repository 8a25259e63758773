"""The app factory: one Flask app over one work root and one database."""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
from pathlib import Path
from typing import Any

from flask import Flask, g, jsonify, render_template, request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.exceptions import HTTPException

from ..errors import ConfigError
from . import db
from .context import Dailies

log = logging.getLogger(__name__)
#: a fixed session-signing key for `dailies serve` (else a random one per start: everyone
#: signs in again after a restart)
SECRET_ENV = "VFX_DOUBLE_DAILIES_SECRET"


def open_database(work_root: Path, database_url: str | None) -> tuple[Engine, sessionmaker[Session]]:
    """The engine for ``database_url`` (default: SQLite in the work root), migrated to head."""
    work_root = Path(work_root)
    if not work_root.is_dir():
        raise ConfigError(f"work root {work_root}", "an existing folder",
                          "a file" if work_root.exists() else "no such folder",
                          "pass --work-root (the shots' work_root)")
    engine = db.make_engine(db.database_url(work_root, database_url))
    db.upgrade(engine)
    return engine, db.sessions(engine)


def create_app(work_root: Path, database_url: str | None = None, *,
               keyring: Path | None = None, today: dt.date | None = None,
               secret_key: str | None = None) -> Flask:
    """The dailies app over ``work_root``: migrates the database, scans the catalog."""
    from . import api, auth, catalog, media, pages

    work_root = Path(work_root).resolve()
    engine, factory = open_database(work_root, database_url)
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=secret_key or os.environ.get(SECRET_ENV) or secrets.token_hex(32),
        SESSION_COOKIE_HTTPONLY=True,
        # Lax: a cross-site form cannot post with the session; the JSON API also needs a
        # JSON content type, which a cross-site form cannot send without CORS
        SESSION_COOKIE_SAMESITE="Lax",
        MAX_CONTENT_LENGTH=1024 * 1024,
    )
    app.extensions["dailies"] = Dailies(work_root, engine, factory, keyring, today)

    @app.teardown_request
    def _close(_exc: BaseException | None) -> None:
        session = g.pop("db", None)
        if session is not None:
            session.close()

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException) -> Any:
        # the API and media answer JSON, pages a page; both with the one-line reason
        if request.path.startswith(("/api/", "/media/")):
            return jsonify(error=err.description), err.code
        return render_template("error.html", error=err), err.code

    auth.init_auth(app)
    for blueprint in (pages.bp, api.bp, media.bp):
        app.register_blueprint(blueprint)
    with db.writing(factory) as s:
        added = catalog.scan(s, work_root)
    log.info("dailies: work root %s, %d new review versions", work_root, added)
    return app

