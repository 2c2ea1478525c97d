"""The Alembic migrations produce exactly the models' schema, on PostgreSQL and on SQLite."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from jobgraph.db import (
    Database,
    migrate,
    models,  # noqa: F401  (registers the tables)
)


def test_migrations_match_the_models(database_url: str) -> None:
    """`database_url` runs this on SQLite and on PostgreSQL (a fresh schema)."""
    db = Database(database_url)
    try:
        assert migrate.current_revision(db) is None
        migrate.upgrade(db)
        assert migrate.current_revision(db) == migrate.head_revision()
        migrate.require_current(db)
        with db.engine.connect() as conn:
            opts = {
                "compare_type": True,
                "compare_server_default": True,
                "render_as_batch": db.is_sqlite,
                "include_object": migrate.include_object(conn.dialect.name),  # the GIN index is PostgreSQL's only
            }
            context = MigrationContext.configure(conn, opts=opts)
            differences = compare_metadata(context, SQLModel.metadata)
        assert differences == []
        migrate.upgrade(db)  # again: nothing to do
    finally:
        db.dispose()
