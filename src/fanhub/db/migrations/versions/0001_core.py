"""core: organizations, keys, audience, catalog, ingest, campaigns

Revision ID: 0001_core
Revises:
Create Date: 2026-11-27 09:43:37.151333
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import fanhub.db.base

revision = "0001_core"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "organizations",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("phone_region", sa.String(length=2), nullable=True),
        sa.Column("email_attribution_days", sa.Integer(), nullable=False),
        sa.Column("sms_attribution_days", sa.Integer(), nullable=False),
        sa.Column("created_at", fanhub.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organizations")),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("organization_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("partner", sa.String(length=100), nullable=False),
        sa.Column("scopes", sa.String(length=200), nullable=False),
        sa.Column("token_prefix", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", fanhub.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", fanhub.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", fanhub.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_api_keys_organization_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_keys_token_hash")),
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_keys_organization_id"), ["organization_id"], unique=False)

    op.create_table(
        "contacts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("organization_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("phone", sa.String(length=20), nullable=True),
        sa.Column("first_name", sa.String(length=200), nullable=True),
        sa.Column("last_name", sa.String(length=200), nullable=True),
        sa.Column("full_name", sa.String(length=400), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("ip_address", sa.String(length=64), nullable=True),
        sa.Column("birthday", sa.String(length=10), nullable=True),
        sa.Column("email_status", sa.String(length=16), nullable=False),
        sa.Column("email_status_at", fanhub.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("sms_status", sa.String(length=16), nullable=False),
        sa.Column("sms_status_at", fanhub.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", fanhub.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", fanhub.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_contacts_organization_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts")),
        sa.UniqueConstraint("organization_id", "email", name=op.f("uq_contacts_organization_id_email")),
        sa.UniqueConstraint("organization_id", "phone", name=op.f("uq_contacts_organization_id_phone")),
    )
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.create_index("ix_contacts_org_id", ["organization_id", "id"], unique=False)

    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("organization_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("source", sa.String(length=120), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("image_url", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("start_at", fanhub.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("end_at", fanhub.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("doors_open_at", fanhub.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("time_zone", sa.String(length=64), nullable=True),
        sa.Column("location_name", sa.Text(), nullable=True),
        sa.Column("location_address", sa.Text(), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("performers", sa.JSON(), nullable=False),
        sa.Column("record_hash", sa.String(length=32), nullable=False),
        sa.Column("created_at", fanhub.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", fanhub.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_events_organization_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sa.UniqueConstraint(
            "organization_id",
            "source",
            "external_id",
            name=op.f("uq_events_organization_id_source_external_id"),
        ),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_org_start", ["organization_id", "start_at"], unique=False)

    op.create_table(
        "ingest_batches",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("organization_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("source", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("item_count", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("stats", sa.JSON(), nullable=False),
        sa.Column("received_at", fanhub.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("applied_at", fanhub.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("applied_by", sa.String(length=120), nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_ingest_batches_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_batches")),
        sa.UniqueConstraint("public_id", name=op.f("uq_ingest_batches_public_id")),
    )
    with op.batch_alter_table("ingest_batches", schema=None) as batch_op:
        batch_op.create_index("ix_ingest_batches_queue", ["status", "organization_id", "id"], unique=False)

    op.create_table(
        "lists",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("organization_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", fanhub.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_lists_organization_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lists")),
        sa.UniqueConstraint("organization_id", "name", name=op.f("uq_lists_organization_id_name")),
    )
    op.create_table(
        "tags",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("organization_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", fanhub.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_tags_organization_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tags")),
        sa.UniqueConstraint("organization_id", "name", name=op.f("uq_tags_organization_id_name")),
    )
    op.create_table(
        "campaigns",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("organization_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("type", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("audience", sa.JSON(), nullable=False),
        sa.Column("event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("scheduled_at", fanhub.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", fanhub.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=120), nullable=True),
        sa.Column("created_at", fanhub.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], name=op.f("fk_campaigns_event_id_events")),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_campaigns_organization_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
    )
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.create_index("ix_campaigns_org_type", ["organization_id", "type", "id"], unique=False)

    op.create_table(
        "consent_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("organization_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("contact_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("subscribed", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=120), nullable=False),
        sa.Column("via", sa.String(length=40), nullable=False),
        sa.Column("raw_value", sa.String(length=200), nullable=True),
        sa.Column("batch_id", sa.String(length=32), nullable=True),
        sa.Column("occurred_at", fanhub.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", fanhub.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_consent_events_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_consent_events_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_events")),
    )
    with op.batch_alter_table("consent_events", schema=None) as batch_op:
        batch_op.create_index("ix_consent_events_contact", ["contact_id", "channel", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_consent_events_organization_id"), ["organization_id"], unique=False)

    op.create_table(
        "contact_genres",
        sa.Column("contact_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("genre", sa.String(length=60), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_contact_genres_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("contact_id", "genre", name=op.f("pk_contact_genres")),
    )
    with op.batch_alter_table("contact_genres", schema=None) as batch_op:
        batch_op.create_index("ix_contact_genres_genre", ["genre", "contact_id"], unique=False)

    op.create_table(
        "contact_interests",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("organization_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("contact_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("source", sa.String(length=120), nullable=False),
        sa.Column("event_external_id", sa.String(length=200), nullable=True),
        sa.Column("ticketer", sa.String(length=60), nullable=True),
        sa.Column("ticket_url", sa.Text(), nullable=True),
        sa.Column("created_at", fanhub.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_contact_interests_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_contact_interests_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_interests")),
    )
    with op.batch_alter_table("contact_interests", schema=None) as batch_op:
        batch_op.create_index("ix_contact_interests_contact", ["contact_id"], unique=False)

    op.create_table(
        "contact_lists",
        sa.Column("contact_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("list_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_contact_lists_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["list_id"], ["lists.id"], name=op.f("fk_contact_lists_list_id_lists"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("contact_id", "list_id", name=op.f("pk_contact_lists")),
    )
    with op.batch_alter_table("contact_lists", schema=None) as batch_op:
        batch_op.create_index("ix_contact_lists_list", ["list_id", "contact_id"], unique=False)

    op.create_table(
        "contact_sources",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("organization_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("contact_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("source", sa.String(length=120), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("name", sa.String(length=400), nullable=True),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("first_seen_at", fanhub.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", fanhub.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_contact_sources_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_contact_sources_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_sources")),
        sa.UniqueConstraint("contact_id", "source", name=op.f("uq_contact_sources_contact_id_source")),
    )
    op.create_table(
        "contact_tags",
        sa.Column("contact_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("tag_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_contact_tags_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["tag_id"], ["tags.id"], name=op.f("fk_contact_tags_tag_id_tags"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("contact_id", "tag_id", name=op.f("pk_contact_tags")),
    )
    with op.batch_alter_table("contact_tags", schema=None) as batch_op:
        batch_op.create_index("ix_contact_tags_tag", ["tag_id", "contact_id"], unique=False)

    op.create_table(
        "orders",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("organization_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("source", sa.String(length=120), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("event_external_id", sa.String(length=200), nullable=False),
        sa.Column("event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("contact_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("prefee_cents", sa.Integer(), nullable=False),
        sa.Column("total_cents", sa.Integer(), nullable=False),
        sa.Column("refunded_cents", sa.Integer(), nullable=False),
        sa.Column("tickets", sa.Integer(), nullable=False),
        sa.Column("email_opt_in", sa.Boolean(), nullable=True),
        sa.Column("sms_opt_in", sa.Boolean(), nullable=True),
        sa.Column("customer", sa.JSON(), nullable=False),
        sa.Column("placed_at", fanhub.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("record_hash", sa.String(length=32), nullable=False),
        sa.Column("created_at", fanhub.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", fanhub.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], name=op.f("fk_orders_contact_id_contacts")),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], name=op.f("fk_orders_event_id_events")),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_orders_organization_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint(
            "organization_id",
            "source",
            "external_id",
            name=op.f("uq_orders_organization_id_source_external_id"),
        ),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index("ix_orders_org_contact", ["organization_id", "contact_id"], unique=False)
        batch_op.create_index("ix_orders_org_event", ["organization_id", "event_id"], unique=False)
        batch_op.create_index(
            "ix_orders_org_event_ext", ["organization_id", "source", "event_external_id"], unique=False
        )

    op.create_table(
        "ticket_types",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("prefee_cents", sa.Integer(), nullable=True),
        sa.Column("total_cents", sa.Integer(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_ticket_types_event_id_events"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_types")),
    )
    with op.batch_alter_table("ticket_types", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ticket_types_event_id"), ["event_id"], unique=False)

    op.create_table(
        "order_items",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("ticket_type_name", sa.Text(), nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("prefee_cents", sa.Integer(), nullable=True),
        sa.Column("total_cents", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_order_items_order_id_orders"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_items")),
    )
    with op.batch_alter_table("order_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_order_items_order_id"), ["order_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("order_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_order_items_order_id"))

    op.drop_table("order_items")
    with op.batch_alter_table("ticket_types", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ticket_types_event_id"))

    op.drop_table("ticket_types")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_org_event_ext")
        batch_op.drop_index("ix_orders_org_event")
        batch_op.drop_index("ix_orders_org_contact")

    op.drop_table("orders")
    with op.batch_alter_table("contact_tags", schema=None) as batch_op:
        batch_op.drop_index("ix_contact_tags_tag")

    op.drop_table("contact_tags")
    op.drop_table("contact_sources")
    with op.batch_alter_table("contact_lists", schema=None) as batch_op:
        batch_op.drop_index("ix_contact_lists_list")

    op.drop_table("contact_lists")
    with op.batch_alter_table("contact_interests", schema=None) as batch_op:
        batch_op.drop_index("ix_contact_interests_contact")

    op.drop_table("contact_interests")
    with op.batch_alter_table("contact_genres", schema=None) as batch_op:
        batch_op.drop_index("ix_contact_genres_genre")

    op.drop_table("contact_genres")
    with op.batch_alter_table("consent_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consent_events_organization_id"))
        batch_op.drop_index("ix_consent_events_contact")

    op.drop_table("consent_events")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_index("ix_campaigns_org_type")

    op.drop_table("campaigns")
    op.drop_table("tags")
    op.drop_table("lists")
    with op.batch_alter_table("ingest_batches", schema=None) as batch_op:
        batch_op.drop_index("ix_ingest_batches_queue")

    op.drop_table("ingest_batches")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_org_start")

    op.drop_table("events")
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index("ix_contacts_org_id")

    op.drop_table("contacts")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_keys_organization_id"))

    op.drop_table("api_keys")
    op.drop_table("organizations")
