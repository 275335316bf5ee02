"""erasure: contacts.erased_at and the index a request by address needs (issue 21)

Erased addresses go on the suppression list as keyed hashes in the existing `address` column
(`audience/suppression.py`), so the list needs no new column.

Revision ID: 0018_data_rights
Revises: 0017_preferences
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import fanhub.db.base

revision = "0018_data_rights"
down_revision = "0017_preferences"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contacts") as batch:
        batch.add_column(sa.Column("erased_at", fanhub.db.base.UTCDateTime(timezone=True), nullable=True))
    op.create_index("ix_contact_sources_org_email", "contact_sources", ["organization_id", "email"])


def downgrade() -> None:
    op.drop_index("ix_contact_sources_org_email", table_name="contact_sources")
    with op.batch_alter_table("contacts") as batch:
        batch.drop_column("erased_at")
