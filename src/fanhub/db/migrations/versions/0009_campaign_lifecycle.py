"""campaigns: pause, resume and cancel (when paused or cancelled, and how long paused in all)

Revision ID: 0009_campaign_lifecycle
Revises: 0008_import_channels

`campaigns.status` (a String(16)) gains the values `paused` and `cancelled`; no change is needed
for them. `campaign_stats.paused_seconds` keeps the send rate and the estimated finish honest
across pauses.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import fanhub.db.base

revision = "0009_campaign_lifecycle"
down_revision = "0008_import_channels"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("campaigns") as batch_op:
        batch_op.add_column(sa.Column("paused_at", fanhub.db.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("cancelled_at", fanhub.db.base.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table("campaign_stats") as batch_op:
        batch_op.add_column(sa.Column("paused_seconds", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("campaign_stats") as batch_op:
        batch_op.drop_column("paused_seconds")
    with op.batch_alter_table("campaigns") as batch_op:
        batch_op.drop_column("cancelled_at")
        batch_op.drop_column("paused_at")
