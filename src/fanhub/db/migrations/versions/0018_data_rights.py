"""erasure: hashed suppressions and erased contacts (issue 21)

Revision ID: 0018_data_rights
Revises: 0017_preferences
"""

from __future__ import annotations

revision = "0018_data_rights"
down_revision = "0017_preferences"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
