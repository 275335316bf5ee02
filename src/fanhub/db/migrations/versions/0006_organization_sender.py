"""organizations: sender name and address for campaign emails

Revision ID: 0006_organization_sender
Revises: 0005_mcp
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_organization_sender"
down_revision = "0005_mcp"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("organizations") as batch_op:
        batch_op.add_column(sa.Column("sender_name", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("sender_email", sa.String(length=320), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("organizations") as batch_op:
        batch_op.drop_column("sender_email")
        batch_op.drop_column("sender_name")
