"""claimable jobs: a hold on queued jobs that may not run yet, partial indexes for the claim

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 04:10:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

READY = "status = 'queued' AND hold IS NULL"
SCHEDULED = "status = 'queued' AND hold = 'scheduled'"
WAITING = "status = 'queued' AND hold = 'parents'"
EXPIRING = "status = 'queued' AND expires IS NOT NULL"


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("hold", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))
        batch_op.drop_index("ix_jobs_dispatch")
    # Queued jobs that wait: for a parent that may still run, or for their time.
    op.execute(
        "UPDATE jobs SET hold = 'parents' WHERE status = 'queued' AND EXISTS ("
        " SELECT 1 FROM job_dependencies d JOIN jobs p ON p.number = d.parent_number"
        " WHERE d.child_number = jobs.number AND (p.status IN ('queued', 'running')"
        " OR (NOT jobs.lax AND p.status IN ('failed', 'cancelled'))))"
    )
    op.execute(
        "UPDATE jobs SET hold = 'scheduled' WHERE status = 'queued' AND hold IS NULL"
        " AND run_at IS NOT NULL AND run_at > CURRENT_TIMESTAMP"
    )
    indexes: list[tuple[str, list[Any], str]] = [
        ("ix_jobs_claim", ["queue", sa.literal_column("priority").desc(), "number"], READY),
        ("ix_jobs_scheduled", ["run_at"], SCHEDULED),
        ("ix_jobs_waiting_parents", ["number"], WAITING),
        ("ix_jobs_expires", ["expires"], EXPIRING),
    ]
    for name, columns, where in indexes:
        op.create_index(
            name, "jobs", columns, unique=False, postgresql_where=sa.text(where), sqlite_where=sa.text(where)
        )


def downgrade() -> None:
    for name in ("ix_jobs_expires", "ix_jobs_waiting_parents", "ix_jobs_scheduled", "ix_jobs_claim"):
        op.drop_index(name, table_name="jobs")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index("ix_jobs_dispatch", ["status", "queue", "priority", "number"], unique=False)
        batch_op.drop_column("hold")
