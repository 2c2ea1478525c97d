"""read indexes: lists in number order per filter, the dispatch order of a status, counts per
queue, and (PostgreSQL) a GIN index for JSON containment on the input

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 09:00:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# Every list orders by number (NEWEST, OLDEST) after its filter: indexes ending in number serve
# the page and its capped count. They replace the (user_id, created_at) and (plugin_id,
# created_at) ones; (status, created_at) stays for retention.
INDEXES: list[tuple[str, list[Any]]] = [
    ("ix_jobs_status_number", ["status", "number"]),  # PostgreSQL: INCLUDE (failure_kind), see upgrade()
    ("ix_jobs_plugin_number", ["plugin_id", "number"]),
    ("ix_jobs_user_number", ["user_id", "number"]),
    ("ix_jobs_status_plugin_number", ["status", "plugin_id", "number"]),
    ("ix_jobs_status_queue", ["status", "queue", "number"]),
]
# CIRCUS's `state=wait` pages: the queued (or running) jobs of every queue in dispatch order.
# PostgreSQL only: SQLite's planner, without statistics, would take it for the claim instead of
# ix_jobs_claim (a status scan of every queue's jobs).
DISPATCH: tuple[str, list[Any]] = (
    "ix_jobs_status_dispatch",
    ["status", sa.literal_column("priority").desc(), "number"],
)
REPLACED: list[tuple[str, list[str]]] = [
    ("ix_jobs_user_created", ["user_id", "created_at"]),
    ("ix_jobs_plugin_created", ["plugin_id", "created_at"]),
]


def upgrade() -> None:
    for name, columns in INDEXES:
        # tastypie's "Error" and "Timed Out" test failure_kind beside the status: index-only too.
        include = ["failure_kind"] if name == "ix_jobs_status_number" else []
        op.create_index(name, "jobs", columns, unique=False, postgresql_include=include)
    for name, _ in REPLACED:
        op.drop_index(name, table_name="jobs")
    if op.get_bind().dialect.name == "postgresql":  # SQLite has no GIN
        op.create_index(DISPATCH[0], "jobs", DISPATCH[1], unique=False)
        op.create_index(
            "ix_jobs_input",
            "jobs",
            ["input"],
            unique=False,
            postgresql_using="gin",
            postgresql_ops={"input": "jsonb_path_ops"},
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_jobs_input", table_name="jobs")
        op.drop_index(DISPATCH[0], table_name="jobs")
    for name, columns in REPLACED:
        op.create_index(name, "jobs", columns, unique=False)
    for name, _ in reversed(INDEXES):
        op.drop_index(name, table_name="jobs")
