"""audit_log: who changed what about a contact (staff edits now; exports and erasures later)

Revision ID: 0010_audit_log
Revises: 0009_campaign_lifecycle
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import fanhub.db.base

revision = "0010_audit_log"
down_revision = "0009_campaign_lifecycle"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("organization_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("contact_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("at", fanhub.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_audit_log_organization_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_org_id", "audit_log", ["organization_id", "id"])
    op.create_index("ix_audit_log_contact", "audit_log", ["contact_id", "id"])


def downgrade() -> None:
    op.drop_table("audit_log")
