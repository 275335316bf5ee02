"""list opt-outs: a list a person left on their preference center is not joined again by old records (issue 21)

Revision ID: 0019_list_optouts
Revises: 0018_data_rights
"""

from __future__ import annotations

revision = "0019_list_optouts"
down_revision = "0018_data_rights"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
