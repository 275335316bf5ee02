"""engagement ratings and the sunset setting (issue 19)

Revision ID: 0014_engagement
Revises: 0013_label_changes
"""

from __future__ import annotations

revision = "0014_engagement"
down_revision = "0013_label_changes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
