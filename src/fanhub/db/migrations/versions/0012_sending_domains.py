"""sending_domains: an organization's sending domains and their DKIM keys (encrypted)

Revision ID: 0012_sending_domains
Revises: 0011_deliverability
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import fanhub.db.base

revision = "0012_sending_domains"
down_revision = "0011_deliverability"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sending_domains",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("organization_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.Column("selector", sa.String(length=63), nullable=False),
        sa.Column("private_key_encrypted", sa.Text(), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("created_at", fanhub.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_checked_at", fanhub.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("check_results", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_sending_domains_organization_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sending_domains")),
        sa.UniqueConstraint("organization_id", "domain", name=op.f("uq_sending_domains_organization_id_domain")),
    )


def downgrade() -> None:
    op.drop_table("sending_domains")
