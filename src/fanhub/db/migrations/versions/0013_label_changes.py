"""label_changes + label_change_members (undo of bulk tag and list changes); indexes for sorting the
contacts table by created, name and last order

Revision ID: 0013_label_changes
Revises: 0012_sending_domains
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import fanhub.db.base

revision = "0013_label_changes"
down_revision = "0012_sending_domains"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "label_changes",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("organization_id", BIG_ID, nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("label_id", BIG_ID, nullable=False),
        sa.Column("label_name", sa.String(length=200), nullable=False),
        sa.Column("added", sa.Boolean(), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("contacts", sa.Integer(), nullable=False),
        sa.Column("created_at", fanhub.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("undone_at", fanhub.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("undone_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_label_changes_organization_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_label_changes")),
    )
    op.create_index("ix_label_changes_org_id", "label_changes", ["organization_id", "id"])
    op.create_table(
        "label_change_members",
        sa.Column("change_id", BIG_ID, nullable=False),
        sa.Column("contact_id", BIG_ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["change_id"],
            ["label_changes.id"],
            name=op.f("fk_label_change_members_change_id_label_changes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("change_id", "contact_id", name=op.f("pk_label_change_members")),
    )
    op.create_index("ix_contacts_org_created", "contacts", ["organization_id", "created_at", "id"])
    op.create_index("ix_contacts_org_name", "contacts", ["organization_id", sa.text("lower(full_name)"), "id"])
    op.create_index("ix_orders_contact_last", "orders", ["contact_id", "status", "placed_at"])


def downgrade() -> None:
    op.drop_index("ix_orders_contact_last", table_name="orders")
    op.drop_index("ix_contacts_org_name", table_name="contacts")
    op.drop_index("ix_contacts_org_created", table_name="contacts")
    op.drop_table("label_change_members")
    op.drop_table("label_changes")
