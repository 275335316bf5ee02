"""campaigns: deliveries, tracking, attribution

Revision ID: 0003_campaigns
Revises: 0002_connectors
"""

from __future__ import annotations

revision = "0003_campaigns"
down_revision = "0002_connectors"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
