"""Alembic environment: jobgraph passes the connection in (see jobgraph.db.migrate)."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

from jobgraph.db import models  # noqa: F401  (registers the tables)
from jobgraph.db.migrate import include_object

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `jobgraph migrate`")

context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    include_object=include_object(connection.dialect.name),
)
with context.begin_transaction():
    context.run_migrations()
