"""ingest: payloads move to their own write-once table

Revision ID: 0007_ingest_payloads
Revises: 0006_organization_sender
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_ingest_payloads"
down_revision = "0006_organization_sender"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "ingest_payloads",
        sa.Column("batch_id", BigId, autoincrement=False, nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["ingest_batches.id"],
            name="fk_ingest_payloads_batch_id_ingest_batches",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("batch_id", name="pk_ingest_payloads"),
    )
    op.execute("INSERT INTO ingest_payloads (batch_id, payload) SELECT id, payload FROM ingest_batches")
    with op.batch_alter_table("ingest_batches") as batch_op:
        batch_op.drop_column("payload")


def downgrade() -> None:
    with op.batch_alter_table("ingest_batches") as batch_op:
        batch_op.add_column(sa.Column("payload", sa.Text(), nullable=False, server_default=""))
    op.execute(
        "UPDATE ingest_batches SET payload = "
        "(SELECT payload FROM ingest_payloads WHERE ingest_payloads.batch_id = ingest_batches.id)"
    )
    op.drop_table("ingest_payloads")
