"""engagement ratings and the sunset setting (issue 19)

contacts.email_rating and sms_rating (1-5, 3 until computed: deliverability/engagement.py), the
organization's sunset setting (deliverability/sunset.py) and the worker's engagement_checkpoints.

Revision ID: 0014_engagement
Revises: 0013_label_changes
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import fanhub.db.base

revision = "0014_engagement"
down_revision = "0013_label_changes"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("contacts") as batch:
        batch.add_column(sa.Column("email_rating", sa.SmallInteger(), server_default="3", nullable=False))
        batch.add_column(sa.Column("sms_rating", sa.SmallInteger(), server_default="3", nullable=False))
    with op.batch_alter_table("organizations") as batch:
        batch.add_column(sa.Column("sunset_enabled", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch.add_column(sa.Column("sunset_after_emails", sa.Integer(), server_default="20", nullable=False))
        batch.add_column(sa.Column("sunset_min_days", sa.Integer(), server_default="90", nullable=False))
    op.create_table(
        "engagement_checkpoints",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("last_id", BIG_ID, nullable=False),
        sa.Column("last_at", fanhub.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", fanhub.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_engagement_checkpoints")),
    )


def downgrade() -> None:
    op.drop_table("engagement_checkpoints")
    with op.batch_alter_table("organizations") as batch:
        batch.drop_column("sunset_min_days")
        batch.drop_column("sunset_after_emails")
        batch.drop_column("sunset_enabled")
    with op.batch_alter_table("contacts") as batch:
        batch.drop_column("sms_rating")
        batch.drop_column("email_rating")
