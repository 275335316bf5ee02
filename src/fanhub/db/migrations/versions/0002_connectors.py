"""connectors: connections, checkpoints, webhook deliveries

Revision ID: 0002_connectors
Revises: 0001_core
"""

from __future__ import annotations

revision = "0002_connectors"
down_revision = "0001_core"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
