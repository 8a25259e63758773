"""The database engine and its schema: SQLite in the work root by default (WAL, so readers
never wait for a writer), PostgreSQL by URL; Alembic brings either to the latest revision.

SQLite and concurrent writers: a transaction that reads first and writes later cannot
upgrade its snapshot once another writer has committed (SQLITE_BUSY_SNAPSHOT, which no busy
timeout retries), so two notes posted at once would lose one. Write requests therefore open
their transaction with ``BEGIN IMMEDIATE`` (:data:`WRITE`): the second writer waits for the
first (busy timeout) instead of failing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from ..errors import ConfigError

MIGRATIONS = Path(__file__).with_name("migrations")
#: the default database file, in the work root
SQLITE_NAME = "dailies.sqlite"
#: execution option a write session sets before its transaction begins (SQLite: IMMEDIATE)
WRITE = {"dailies_write": True}
_BUSY_TIMEOUT_S = 30


def database_url(work_root: Path, url: str | None) -> str:
    return url or f"sqlite:///{(Path(work_root) / SQLITE_NAME).resolve()}"


def make_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError as err:
        raise ConfigError("--db", "a database URL (sqlite:///FILE or "
                          "postgresql+psycopg://USER@HOST/DB)", repr(url)) from err
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError("--db", "a sqlite:// or postgresql+psycopg:// URL",
                          parsed.get_backend_name())
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"timeout": _BUSY_TIMEOUT_S,
                                              "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # The driver's own transaction handling is switched off so that BEGIN is ours
        # (SQLAlchemy's documented recipe for pysqlite).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_S * 1000}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        write = conn.get_execution_options().get("dailies_write")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def upgrade(engine: Engine) -> None:
    """Run the Alembic migrations to head on ``engine``'s database."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except SQLAlchemyError as err:
        raise ConfigError(f"database {engine.url.render_as_string(hide_password=True)}",
                          "a database the dailies app can create its tables in",
                          f"{type(err).__name__}: {str(err).splitlines()[0]}",
                          "check the URL, the server and the user's rights") from err


def sessions(engine: Engine) -> sessionmaker[Session]:
    # expire_on_commit off: a page renders objects after its transaction commits
    return sessionmaker(bind=engine, expire_on_commit=False)


def write_session(factory: sessionmaker[Session]) -> Session:
    """A session whose transaction takes SQLite's write lock from its first statement."""
    session = factory()
    session.connection(execution_options=WRITE)
    return session


@contextmanager
def writing(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A write session committed when the block ends without an error."""
    session = write_session(factory)
    try:
        yield session
        session.commit()
    finally:
        session.close()
