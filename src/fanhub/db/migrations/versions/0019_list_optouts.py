"""list opt-outs: a list a person left on their preference center is not joined again by old records (issue 21)

Revision ID: 0019_list_optouts
Revises: 0018_data_rights
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import fanhub.db.base

revision = "0019_list_optouts"
down_revision = "0018_data_rights"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIME = fanhub.db.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "list_optouts",
        sa.Column("contact_id", BIG_ID, nullable=False),
        sa.Column("list_id", BIG_ID, nullable=False),
        sa.Column("organization_id", BIG_ID, nullable=False),
        sa.Column("at", TIME, nullable=False),
        sa.Column("via", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_list_optouts_contact_id_contacts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["list_id"], ["lists.id"], name=op.f("fk_list_optouts_list_id_lists"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_list_optouts_organization_id_organizations")
        ),
        sa.PrimaryKeyConstraint("contact_id", "list_id", name=op.f("pk_list_optouts")),
    )


def downgrade() -> None:
    op.drop_table("list_optouts")
