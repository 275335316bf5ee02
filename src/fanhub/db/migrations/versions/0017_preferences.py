"""public lists and the preference center (issue 21): lists.public

Revision ID: 0017_preferences
Revises: 0016_forms
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017_preferences"
down_revision = "0016_forms"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("lists", schema=None) as batch_op:
        batch_op.add_column(sa.Column("public", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("lists", schema=None) as batch_op:
        batch_op.drop_column("public")
