"""derived tokens: an OAuth2 access token names the API token it was made from

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("parent_id", sa.String(length=26), nullable=True))
        batch_op.create_index(batch_op.f("ix_api_tokens_parent_id"), ["parent_id"], unique=False)
        batch_op.create_foreign_key(
            "fk_api_tokens_parent_id_api_tokens", "api_tokens", ["parent_id"], ["id"], ondelete="CASCADE"
        )


def downgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_constraint("fk_api_tokens_parent_id_api_tokens", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_api_tokens_parent_id"))
        batch_op.drop_column("parent_id")
