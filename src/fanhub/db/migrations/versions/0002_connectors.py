"""connectors: connections, checkpoints, webhook deliveries

Revision ID: 0002_connectors
Revises: 0001_core
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import fanhub.db.base

revision = "0002_connectors"
down_revision = "0001_core"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts() -> fanhub.db.base.UTCDateTime:
    return fanhub.db.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "connector_connections",
        sa.Column("id", _ID, nullable=False),
        sa.Column("organization_id", _ID, nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("base_url", sa.Text(), nullable=False),
        sa.Column("credentials", sa.Text(), nullable=False),
        sa.Column("webhook_secret", sa.String(length=64), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("sync_interval_minutes", sa.Integer(), nullable=True),
        sa.Column("next_sync_at", _ts(), nullable=True),
        sa.Column("lease_until", _ts(), nullable=True),
        sa.Column("last_sync_at", _ts(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", _ts(), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_connector_connections_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connector_connections")),
    )
    with op.batch_alter_table("connector_connections", schema=None) as batch_op:
        batch_op.create_index("ix_connector_connections_due", ["status", "next_sync_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_connector_connections_organization_id"), ["organization_id"], unique=False)

    op.create_table(
        "connector_checkpoints",
        sa.Column("id", _ID, nullable=False),
        sa.Column("connection_id", _ID, nullable=False),
        sa.Column("stream", sa.String(length=64), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connector_connections.id"],
            name=op.f("fk_connector_checkpoints_connection_id_connector_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connector_checkpoints")),
        sa.UniqueConstraint("connection_id", "stream", name=op.f("uq_connector_checkpoints_connection_id_stream")),
    )

    op.create_table(
        "connector_webhook_deliveries",
        sa.Column("id", _ID, nullable=False),
        sa.Column("connection_id", _ID, nullable=False),
        sa.Column("organization_id", _ID, nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("dedupe_key", sa.String(length=300), nullable=True),
        sa.Column("ref", sa.String(length=500), nullable=True),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _ts(), nullable=False),
        sa.Column("lease_until", _ts(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("received_at", _ts(), nullable=False),
        sa.Column("processed_at", _ts(), nullable=True),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connector_connections.id"],
            name=op.f("fk_connector_webhook_deliveries_connection_id_connector_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_connector_webhook_deliveries_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connector_webhook_deliveries")),
        sa.UniqueConstraint(
            "connection_id", "dedupe_key", name=op.f("uq_connector_webhook_deliveries_connection_id_dedupe_key")
        ),
    )
    with op.batch_alter_table("connector_webhook_deliveries", schema=None) as batch_op:
        batch_op.create_index("ix_connector_webhook_deliveries_due", ["status", "next_attempt_at"], unique=False)
        batch_op.create_index("ix_connector_webhook_deliveries_ref", ["connection_id", "ref"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("connector_webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_connector_webhook_deliveries_ref")
        batch_op.drop_index("ix_connector_webhook_deliveries_due")
    op.drop_table("connector_webhook_deliveries")
    op.drop_table("connector_checkpoints")
    with op.batch_alter_table("connector_connections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_connector_connections_organization_id"))
        batch_op.drop_index("ix_connector_connections_due")
    op.drop_table("connector_connections")
