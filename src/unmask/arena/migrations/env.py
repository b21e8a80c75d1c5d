"""Alembic environment: runs on the connection handed in by ``unmask.arena.core.db.migrate``
or, for the ``alembic`` command line, on ``UNMASK_DATABASE_URL``."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from unmask.arena.models import Base

target_metadata = Base.metadata
config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    from unmask.arena.core.config import Settings
    from unmask.arena.core.db import make_engine

    engine = make_engine(Settings().sqlalchemy_url)
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()
