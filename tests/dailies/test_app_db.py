"""The database: SQLite in the work root in WAL mode by default, PostgreSQL by URL; the
schema made only by the committed Alembic revision, which matches the models on both."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from vfx_double.dailies import create_app
from vfx_double.dailies.models import Base
from vfx_double.errors import ConfigError

from .app_helpers import AppKit, make_kit, small_tree
from .reviews import ReviewTree


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> ReviewTree:
    return small_tree(tmp_path_factory.mktemp("db") / "tree")


def schema_drift(engine) -> list:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn), Base.metadata)


def test_default_database_is_sqlite_in_the_work_root_in_wal_mode(tree: ReviewTree) -> None:
    app = create_app(tree.work_root, keyring=tree.keyring, secret_key="x")
    engine = app.extensions["dailies"].engine
    assert Path(engine.url.database) == (tree.work_root / "dailies.sqlite").resolve()
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    assert schema_drift(engine) == []
    # a second start on the same database migrates nothing and finds nothing new
    again = create_app(tree.work_root, keyring=tree.keyring, secret_key="x")
    with again.extensions["dailies"].sessions() as s:
        assert s.execute(text("SELECT count(*) FROM versions")).scalar() == 3


def test_bad_database_urls_and_work_roots_are_config_errors(tree: ReviewTree,
                                                            tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--db"):
        create_app(tree.work_root, "not a url")
    with pytest.raises(ConfigError, match="--db"):
        create_app(tree.work_root, "mysql://x@localhost/db")
    with pytest.raises(ConfigError, match="no such folder"):
        create_app(tmp_path / "missing")
    with pytest.raises(ConfigError, match="database"):
        create_app(tree.work_root, f"sqlite:///{tmp_path}/no/such/folder/x.sqlite")


@pytest.fixture
def postgres_db(postgres_url: str) -> str:
    """A database of its own on the tests' PostgreSQL server (conftest.py)."""
    name = f"dailies_app_{uuid.uuid4().hex[:8]}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(postgres_url).set(database=name).render_as_string(hide_password=False)


def test_postgresql_by_url(tree: ReviewTree, postgres_db: str, tmp_path: Path) -> None:
    kit: AppKit = make_kit(tree, tmp_path, db_url=postgres_db)
    engine = kit.app.extensions["dailies"].engine
    assert engine.dialect.name == "postgresql"
    assert schema_drift(engine) == []
    client = kit.client()
    vid = kit.version_id("sh010", "v002")
    r = client.post(f"/api/versions/{vid}/notes", json={"frame": 1002, "text": "on postgres"})
    assert r.status_code == 201 and r.json["time"].endswith("+00:00")
    assert client.post(f"/api/versions/{vid}/status", json={"status": "approved"}).status_code == 200
    # a second app on the same database (another server process) sees the same notes
    app = create_app(tree.work_root, postgres_db, keyring=tree.keyring, secret_key="x")
    with app.test_client() as other:
        token = kit.token()
        notes = other.get(f"/api/versions/{vid}/notes",
                          headers={"Authorization": f"Bearer {token}"}).json["notes"]
    assert [(n["frame"], n["text"]) for n in notes] == [(1002, "on postgres")]
