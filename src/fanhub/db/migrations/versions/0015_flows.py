"""automations: flows, enrollments, organization quiet hours and frequency cap (issue 20)

Revision ID: 0015_flows
Revises: 0014_engagement
"""

from __future__ import annotations

revision = "0015_flows"
down_revision = "0014_engagement"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
