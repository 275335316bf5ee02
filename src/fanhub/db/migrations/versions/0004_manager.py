"""manager: users, memberships, sessions, imports

Revision ID: 0004_manager
Revises: 0003_campaigns
"""

from __future__ import annotations

revision = "0004_manager"
down_revision = "0003_campaigns"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
