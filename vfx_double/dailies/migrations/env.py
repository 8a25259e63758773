"""Alembic environment for the dailies database.

The app runs it through :func:`vfx_double.dailies.db.upgrade` with an open connection
(``config.attributes["connection"]``). To make a new revision after changing
``models.py``: ``alembic -c vfx_double/dailies/alembic.ini revision --autogenerate -m WHY``
(against a database at head, by default ``dailies-autogen.sqlite`` in the current folder).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from vfx_double.dailies.models import Base

config = context.config
target_metadata = Base.metadata


def run(connection) -> None:  # type: ignore[no-untyped-def]
    # batch mode: SQLite cannot ALTER most things in place; Alembic copies the table instead
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    with create_engine(config.get_main_option("sqlalchemy.url") or "").connect() as conn:
        run(conn)
        conn.commit()
