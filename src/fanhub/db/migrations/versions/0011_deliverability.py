"""deliverability: suppressions, bounces, deferred deliveries, bounce figures per campaign

Revision ID: 0011_deliverability
Revises: 0010_audit_log
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import fanhub.db.base

revision = "0011_deliverability"
down_revision = "0010_audit_log"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "suppressions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("organization_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("created_at", fanhub.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_suppressions_organization_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suppressions")),
        sa.UniqueConstraint("organization_id", "address", name=op.f("uq_suppressions_organization_id_address")),
    )
    with op.batch_alter_table("suppressions", schema=None) as batch_op:
        batch_op.create_index("ix_suppressions_org_id", ["organization_id", "id"], unique=False)

    op.create_table(
        "bounces",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("organization_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("reason", sa.String(length=60), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=True),
        sa.Column("diagnostic", sa.Text(), nullable=True),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("campaign_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("delivery_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("matched_by", sa.String(length=20), nullable=False),
        sa.Column("sender_warning", sa.Boolean(), nullable=False),
        sa.Column("replay_key", sa.String(length=200), nullable=False),
        sa.Column("occurred_at", fanhub.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", fanhub.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name=op.f("fk_bounces_campaign_id_campaigns"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["campaign_deliveries.id"],
            name=op.f("fk_bounces_delivery_id_campaign_deliveries"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_bounces_organization_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bounces")),
        sa.UniqueConstraint("replay_key", name=op.f("uq_bounces_replay_key")),
    )
    with op.batch_alter_table("bounces", schema=None) as batch_op:
        batch_op.create_index("ix_bounces_campaign", ["campaign_id", "kind"], unique=False)
        batch_op.create_index("ix_bounces_org_address", ["organization_id", "address", "occurred_at"], unique=False)
        batch_op.create_index(
            "ix_bounces_org_warning", ["organization_id", "sender_warning", "occurred_at"], unique=False
        )

    with op.batch_alter_table("campaign_deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("next_attempt_at", fanhub.db.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("deferred_since", fanhub.db.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_campaign_deliveries_address_sent", ["address", "sent_at"], unique=False)

    with op.batch_alter_table("campaign_stats", schema=None) as batch_op:
        batch_op.add_column(sa.Column("hard_bounces", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("soft_bounces", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("complaints", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("suppressed", sa.Integer(), server_default="0", nullable=False))

    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("paused_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("paused_reason")

    with op.batch_alter_table("campaign_stats", schema=None) as batch_op:
        batch_op.drop_column("suppressed")
        batch_op.drop_column("complaints")
        batch_op.drop_column("soft_bounces")
        batch_op.drop_column("hard_bounces")

    with op.batch_alter_table("campaign_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_campaign_deliveries_address_sent")
        batch_op.drop_column("deferred_since")
        batch_op.drop_column("next_attempt_at")

    with op.batch_alter_table("bounces", schema=None) as batch_op:
        batch_op.drop_index("ix_bounces_org_warning")
        batch_op.drop_index("ix_bounces_org_address")
        batch_op.drop_index("ix_bounces_campaign")

    op.drop_table("bounces")
    with op.batch_alter_table("suppressions", schema=None) as batch_op:
        batch_op.drop_index("ix_suppressions_org_id")

    op.drop_table("suppressions")
