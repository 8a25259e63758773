"""What a request of the dailies app reaches for: the app's :class:`Dailies` (work root,
database, keyring, today) and the request's database session. Its own module so the
blueprints and the app factory that registers them do not import each other."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from flask import current_app, g, request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from . import db


@dataclass
class Dailies:
    """What every request needs, kept on ``app.extensions["dailies"]``."""

    work_root: Path
    engine: Engine
    sessions: sessionmaker[Session]
    keyring: Path | None
    fixed_today: dt.date | None

    @property
    def today(self) -> dt.date:
        return self.fixed_today or dt.date.today()


def state() -> Dailies:
    return current_app.extensions["dailies"]


def session() -> Session:
    """The request's database session: one per request, closed at its end. Requests that
    change something (not GET/HEAD) take SQLite's write lock from their first statement."""
    if "db" not in g:
        factory = state().sessions
        g.db = factory() if request.method in ("GET", "HEAD") else db.write_session(factory)
    return g.db
