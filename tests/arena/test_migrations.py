"""Alembic migrations: they build exactly the models' schema, and go down and up again."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from tests.arena.conftest import fresh_database
from unmask.arena.core.db import (
    alembic_config,
    current_revision,
    head_revision,
    make_engine,
    migrate,
)
from unmask.arena.models import Base


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_migrations_match_the_models_and_reverse(kind: str, tmp_path: Path) -> None:
    with fresh_database(kind, tmp_path) as url:
        engine = make_engine(url)
        try:
            assert current_revision(engine) is None
            migrate(engine)
            migrate(engine)  # a second start changes nothing
            assert current_revision(engine) == head_revision()
            with engine.connect() as conn:
                diff = compare_metadata(
                    MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
                )
            assert diff == []
            with engine.begin() as conn:
                command.downgrade(alembic_config(conn), "base")
            assert set(inspect(engine).get_table_names()) == {"alembic_version"}
            migrate(engine)
            assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
        finally:
            engine.dispose()
