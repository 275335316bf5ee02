"""campaigns: deliveries, tracking, attribution

Revision ID: 0003_campaigns
Revises: 0002_connectors

Adds the campaign tables; the `campaigns` table itself comes from 0001 and is not changed.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import fanhub.db.base

revision = "0003_campaigns"
down_revision = "0002_connectors"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "campaign_deliveries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("organization_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("campaign_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("contact_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("reserved_by", sa.String(length=120), nullable=True),
        sa.Column("reserved_at", fanhub.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("sent_at", fanhub.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("provider_id", sa.String(length=200), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("opened_at", fanhub.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("machine_opened_at", fanhub.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("clicked_at", fanhub.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("unsubscribed_at", fanhub.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_deliveries_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_campaign_deliveries_contact_id_contacts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_campaign_deliveries_organization_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_deliveries")),
        sa.UniqueConstraint("campaign_id", "contact_id", name=op.f("uq_campaign_deliveries_campaign_id_contact_id")),
    )
    with op.batch_alter_table("campaign_deliveries", schema=None) as batch_op:
        batch_op.create_index("ix_campaign_deliveries_campaign_status", ["campaign_id", "status", "id"], unique=False)
        batch_op.create_index("ix_campaign_deliveries_contact_sent", ["contact_id", "sent_at"], unique=False)
        batch_op.create_index("ix_campaign_deliveries_provider", ["provider_id"], unique=False)

    op.create_table(
        "campaign_links",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("campaign_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("is_event_link", sa.Boolean(), nullable=False),
        sa.Column("created_at", fanhub.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name=op.f("fk_campaign_links_campaign_id_campaigns"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_links")),
    )
    with op.batch_alter_table("campaign_links", schema=None) as batch_op:
        batch_op.create_index("ix_campaign_links_campaign", ["campaign_id", "id"], unique=False)

    op.create_table(
        "campaign_stats",
        sa.Column("campaign_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("organization_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("delivered", sa.Integer(), nullable=False),
        sa.Column("undelivered", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("unknown", sa.Integer(), nullable=False),
        sa.Column("opens", sa.Integer(), nullable=False),
        sa.Column("machine_opens", sa.Integer(), nullable=False),
        sa.Column("open_events", sa.Integer(), nullable=False),
        sa.Column("clickers", sa.Integer(), nullable=False),
        sa.Column("click_events", sa.Integer(), nullable=False),
        sa.Column("unsubscribes", sa.Integer(), nullable=False),
        sa.Column("attributed_orders", sa.Integer(), nullable=False),
        sa.Column("attributed_tickets", sa.Integer(), nullable=False),
        sa.Column("attributed_revenue", sa.Integer(), nullable=False),
        sa.Column("send_per_second", sa.Double(), nullable=True),
        sa.Column("started_at", fanhub.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", fanhub.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name=op.f("fk_campaign_stats_campaign_id_campaigns"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_campaign_stats_organization_id_organizations")
        ),
        sa.PrimaryKeyConstraint("campaign_id", name=op.f("pk_campaign_stats")),
    )
    op.create_table(
        "campaign_attributions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("organization_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("campaign_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("delivery_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("contact_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("rule", sa.String(length=40), nullable=False),
        sa.Column("window_days", sa.Integer(), nullable=False),
        sa.Column("delivered_at", fanhub.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("touch_at", fanhub.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("placed_at", fanhub.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tickets", sa.Integer(), nullable=False),
        sa.Column("revenue_cents", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("created_at", fanhub.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", fanhub.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_attributions_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_campaign_attributions_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["campaign_deliveries.id"],
            name=op.f("fk_campaign_attributions_delivery_id_campaign_deliveries"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_campaign_attributions_order_id_orders"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_campaign_attributions_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_attributions")),
        sa.UniqueConstraint("order_id", name=op.f("uq_campaign_attributions_order_id")),
    )
    with op.batch_alter_table("campaign_attributions", schema=None) as batch_op:
        batch_op.create_index("ix_campaign_attributions_campaign", ["campaign_id", "placed_at"], unique=False)

    op.create_table(
        "campaign_clicks",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("delivery_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("campaign_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("link_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("is_event_link", sa.Boolean(), nullable=False),
        sa.Column("occurred_at", fanhub.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("machine", sa.Boolean(), nullable=False),
        sa.Column("user_agent", sa.String(length=400), nullable=True),
        sa.Column("ip_address", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name=op.f("fk_campaign_clicks_campaign_id_campaigns"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["campaign_deliveries.id"],
            name=op.f("fk_campaign_clicks_delivery_id_campaign_deliveries"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["link_id"],
            ["campaign_links.id"],
            name=op.f("fk_campaign_clicks_link_id_campaign_links"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_clicks")),
    )
    with op.batch_alter_table("campaign_clicks", schema=None) as batch_op:
        batch_op.create_index("ix_campaign_clicks_campaign_time", ["campaign_id", "occurred_at"], unique=False)
        batch_op.create_index("ix_campaign_clicks_delivery", ["delivery_id", "occurred_at"], unique=False)

    op.create_table(
        "campaign_delivery_failures",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("delivery_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("campaign_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("code", sa.String(length=20), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("permanent", sa.Boolean(), nullable=False),
        sa.Column("occurred_at", fanhub.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_delivery_failures_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["campaign_deliveries.id"],
            name=op.f("fk_campaign_delivery_failures_delivery_id_campaign_deliveries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_delivery_failures")),
    )
    with op.batch_alter_table("campaign_delivery_failures", schema=None) as batch_op:
        batch_op.create_index("ix_campaign_delivery_failures_delivery", ["delivery_id"], unique=False)

    op.create_table(
        "campaign_opens",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("delivery_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("campaign_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("occurred_at", fanhub.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("machine", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=True),
        sa.Column("user_agent", sa.String(length=400), nullable=True),
        sa.Column("ip_address", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name=op.f("fk_campaign_opens_campaign_id_campaigns"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["campaign_deliveries.id"],
            name=op.f("fk_campaign_opens_delivery_id_campaign_deliveries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_opens")),
    )
    with op.batch_alter_table("campaign_opens", schema=None) as batch_op:
        batch_op.create_index("ix_campaign_opens_campaign_time", ["campaign_id", "occurred_at"], unique=False)
        batch_op.create_index("ix_campaign_opens_delivery", ["delivery_id", "occurred_at"], unique=False)

    op.create_table(
        "campaign_unsubscribes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("delivery_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("campaign_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("contact_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("method", sa.String(length=20), nullable=False),
        sa.Column("occurred_at", fanhub.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_unsubscribes_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_campaign_unsubscribes_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["campaign_deliveries.id"],
            name=op.f("fk_campaign_unsubscribes_delivery_id_campaign_deliveries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_unsubscribes")),
        sa.UniqueConstraint("delivery_id", name=op.f("uq_campaign_unsubscribes_delivery_id")),
    )
    with op.batch_alter_table("campaign_unsubscribes", schema=None) as batch_op:
        batch_op.create_index("ix_campaign_unsubscribes_campaign", ["campaign_id", "occurred_at"], unique=False)

    # ### end Alembic commands ###


#####


def downgrade() -> None:
    with op.batch_alter_table("campaign_unsubscribes", schema=None) as batch_op:
        batch_op.drop_index("ix_campaign_unsubscribes_campaign")

    op.drop_table("campaign_unsubscribes")
    with op.batch_alter_table("campaign_opens", schema=None) as batch_op:
        batch_op.drop_index("ix_campaign_opens_delivery")
        batch_op.drop_index("ix_campaign_opens_campaign_time")

    op.drop_table("campaign_opens")
    with op.batch_alter_table("campaign_delivery_failures", schema=None) as batch_op:
        batch_op.drop_index("ix_campaign_delivery_failures_delivery")

    op.drop_table("campaign_delivery_failures")
    with op.batch_alter_table("campaign_clicks", schema=None) as batch_op:
        batch_op.drop_index("ix_campaign_clicks_delivery")
        batch_op.drop_index("ix_campaign_clicks_campaign_time")

    op.drop_table("campaign_clicks")
    with op.batch_alter_table("campaign_attributions", schema=None) as batch_op:
        batch_op.drop_index("ix_campaign_attributions_campaign")

    op.drop_table("campaign_attributions")
    op.drop_table("campaign_stats")
    with op.batch_alter_table("campaign_links", schema=None) as batch_op:
        batch_op.drop_index("ix_campaign_links_campaign")

    op.drop_table("campaign_links")
    with op.batch_alter_table("campaign_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_campaign_deliveries_provider")
        batch_op.drop_index("ix_campaign_deliveries_contact_sent")
        batch_op.drop_index("ix_campaign_deliveries_campaign_status")

    op.drop_table("campaign_deliveries")
