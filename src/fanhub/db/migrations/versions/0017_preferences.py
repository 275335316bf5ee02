"""public lists and the preference center (issue 21)

Revision ID: 0017_preferences
Revises: 0016_forms
"""

from __future__ import annotations

revision = "0017_preferences"
down_revision = "0016_forms"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
