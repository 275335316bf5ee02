"""erasure: contacts.erased_at, the index a request by address needs, and erasure_redactions
(the raw batches still to redact after an erasure) (issue 21)

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

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("contacts") as batch:
        batch.add_column(sa.Column("erased_at", fanhub.db.base.UTCDateTime(timezone=True), nullable=True))
    op.create_index("ix_contact_sources_org_email", "contact_sources", ["organization_id", "email"])
    op.create_table(
        "erasure_redactions",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("organization_id", BIG_ID, nullable=False),
        sa.Column("contact_id", BIG_ID, nullable=False),
        sa.Column("needles", sa.Text(), nullable=False),
        sa.Column("after_batch_id", BIG_ID, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("redacted", sa.Integer(), nullable=False),
        sa.Column("created_at", fanhub.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", fanhub.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_erasure_redactions_organization_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasure_redactions")),
    )
    op.create_index("ix_erasure_redactions_status", "erasure_redactions", ["status", "id"])


def downgrade() -> None:
    op.drop_index("ix_erasure_redactions_status", table_name="erasure_redactions")
    op.drop_table("erasure_redactions")
    op.drop_index("ix_contact_sources_org_email", table_name="contact_sources")
    with op.batch_alter_table("contacts") as batch:
        batch.drop_column("erased_at")
