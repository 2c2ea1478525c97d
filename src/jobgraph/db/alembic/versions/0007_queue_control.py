"""queue control: paused queues, the audit log of bulk actions, and a job's rerun_of link

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 09:00:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import jobgraph.db.types

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

READY = "status = 'queued' AND hold IS NULL"


def _json() -> Any:
    return sa.JSON(none_as_null=True).with_variant(
        postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
    )


def upgrade() -> None:
    op.create_table(
        "paused_queues",
        sa.Column("queue", sa.String(length=100), nullable=False),
        sa.Column("paused_at", jobgraph.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("paused_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["paused_by"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("queue"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", jobgraph.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("filter", _json(), nullable=True),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("job_numbers", _json(), nullable=True),
        sa.Column("details", _json(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"], unique=False)
    # SQLite: batch mode copies the table (with its indexes) to add the reference.
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.add_column(sa.Column("rerun_of", sa.Integer(), nullable=True))
        batch_op.create_foreign_key("jobs_rerun_of_fkey", "jobs", ["rerun_of"], ["number"], ondelete="SET NULL")
        batch_op.create_index("ix_jobs_rerun_of", ["rerun_of"], unique=False)
    _restore_claim_index()


def _restore_claim_index() -> None:
    """SQLite's copy of the table reflects `priority DESC` of the claim's index as ascending:
    made again as 0002 made it (PostgreSQL altered the table in place)."""
    if op.get_bind().dialect.name != "sqlite":
        return
    op.drop_index("ix_jobs_claim", table_name="jobs")
    op.create_index(
        "ix_jobs_claim",
        "jobs",
        ["queue", sa.literal_column("priority").desc(), "number"],
        unique=False,
        sqlite_where=sa.text(READY),
    )


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.drop_index("ix_jobs_rerun_of")
        batch_op.drop_constraint("jobs_rerun_of_fkey", type_="foreignkey")
        batch_op.drop_column("rerun_of")
    _restore_claim_index()
    op.drop_index("ix_audit_log_at", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_table("paused_queues")
