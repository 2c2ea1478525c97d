"""plugin env: variables declared at registration, given to the plugin's runs

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 05:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("plugins", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "env",
                sa.JSON(none_as_null=True).with_variant(
                    postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
                ),
                nullable=True,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("plugins", schema=None) as batch_op:
        batch_op.drop_column("env")
