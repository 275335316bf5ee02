"""mcp: audit log of write tools

Revision ID: 0005_mcp
Revises: 0004_manager
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import fanhub.db.base

revision = "0005_mcp"
down_revision = "0004_manager"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mcp_audit_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("organization_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("key_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("transport", sa.String(length=16), nullable=False),
        sa.Column("tool", sa.String(length=64), nullable=False),
        sa.Column("arguments", sa.JSON(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", fanhub.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_mcp_audit_log_organization_id_organizations")
        ),
        sa.ForeignKeyConstraint(["key_id"], ["api_keys.id"], name=op.f("fk_mcp_audit_log_key_id_api_keys")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mcp_audit_log")),
    )
    with op.batch_alter_table("mcp_audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_mcp_audit_log_org_id", ["organization_id", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_mcp_audit_log_key_id"), ["key_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("mcp_audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mcp_audit_log_key_id"))
        batch_op.drop_index("ix_mcp_audit_log_org_id")
    op.drop_table("mcp_audit_log")
