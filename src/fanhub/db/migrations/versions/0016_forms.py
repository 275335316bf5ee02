"""signup forms, submissions, pending consent and proof of consent (issue 21)

Revision ID: 0016_forms
Revises: 0015_flows
"""

from __future__ import annotations

revision = "0016_forms"
down_revision = "0015_flows"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
