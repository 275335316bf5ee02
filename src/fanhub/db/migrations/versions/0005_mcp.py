"""mcp: audit log of write tools

Revision ID: 0005_mcp
Revises: 0004_manager
"""

from __future__ import annotations

revision = "0005_mcp"
down_revision = "0004_manager"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
