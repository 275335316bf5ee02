"""imports choose a mode per channel; the consent ledger says the resulting state and who confirmed it

Revision ID: 0008_import_channels
Revises: 0007_ingest_payloads
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_import_channels"
down_revision = "0007_ingest_payloads"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL sms_mode marks an import made before SMS had its own mode (it applied `mode` to SMS too):
    # `fanhub contacts import-review` finds what those imports did.
    with op.batch_alter_table("contact_imports") as batch_op:
        batch_op.add_column(sa.Column("sms_mode", sa.String(40), nullable=True))
        batch_op.add_column(sa.Column("sms_consent_confirmed", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("counts", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("sms_reviewed_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("contact_import_issues") as batch_op:
        batch_op.add_column(sa.Column("outcome", sa.String(16), nullable=False, server_default="rejected"))
    with op.batch_alter_table("consent_events") as batch_op:
        batch_op.add_column(sa.Column("status", sa.String(16), nullable=True))
        batch_op.add_column(sa.Column("actor", sa.String(200), nullable=True))
    op.execute("UPDATE consent_events SET status = CASE WHEN subscribed THEN 'subscribed' ELSE 'unsubscribed' END")
    with op.batch_alter_table("consent_events") as batch_op:
        batch_op.alter_column("status", existing_type=sa.String(16), nullable=False)
    with op.batch_alter_table("contacts") as batch_op:
        batch_op.add_column(sa.Column("postal_code", sa.String(20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("contacts") as batch_op:
        batch_op.drop_column("postal_code")
    with op.batch_alter_table("consent_events") as batch_op:
        batch_op.drop_column("actor")
        batch_op.drop_column("status")
    with op.batch_alter_table("contact_import_issues") as batch_op:
        batch_op.drop_column("outcome")
    with op.batch_alter_table("contact_imports") as batch_op:
        batch_op.drop_column("sms_reviewed_at")
        batch_op.drop_column("counts")
        batch_op.drop_column("sms_consent_confirmed")
        batch_op.drop_column("sms_mode")
