"""signup forms, submissions, pending consent and proof of consent (issue 21)

Revision ID: 0016_forms
Revises: 0015_flows
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import fanhub.db.base

revision = "0016_forms"
down_revision = "0015_flows"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIME = fanhub.db.base.UTCDateTime(timezone=True)

_PROOF = (
    ("form_id", BIG_ID),
    ("consent_text", sa.Text()),
    ("page_url", sa.Text()),
    ("ip", sa.String(length=64)),
    ("user_agent", sa.String(length=400)),
)


def upgrade() -> None:
    op.create_table(
        "forms",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("organization_id", BIG_ID, nullable=False),
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("list_ids", sa.JSON(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("genres", sa.JSON(), nullable=False),
        sa.Column("event_id", BIG_ID, nullable=True),
        sa.Column("double_opt_in", sa.Boolean(), nullable=False),
        sa.Column("consent_text", sa.Text(), nullable=False),
        sa.Column("sms_consent_text", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_forms_organization_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_forms")),
        sa.UniqueConstraint("key", name=op.f("uq_forms_key")),
    )
    op.create_index("ix_forms_org_id", "forms", ["organization_id", "id"])
    op.create_table(
        "form_submissions",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("organization_id", BIG_ID, nullable=False),
        sa.Column("form_id", BIG_ID, nullable=False),
        sa.Column("contact_id", BIG_ID, nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=True),
        sa.Column("first_name", sa.String(length=200), nullable=True),
        sa.Column("last_name", sa.String(length=200), nullable=True),
        sa.Column("birthday", sa.String(length=10), nullable=True),
        sa.Column("sms_opt_in", sa.Boolean(), nullable=False),
        sa.Column("consent_text", sa.Text(), nullable=False),
        sa.Column("sms_consent_text", sa.Text(), nullable=True),
        sa.Column("page_url", sa.Text(), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=400), nullable=True),
        sa.Column("double_opt_in", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("expires_at", TIME, nullable=True),
        sa.Column("confirmed_at", TIME, nullable=True),
        sa.Column("confirm_ip", sa.String(length=64), nullable=True),
        sa.Column("confirm_user_agent", sa.String(length=400), nullable=True),
        sa.Column("sms_confirmed_at", TIME, nullable=True),
        sa.Column("email_send_state", sa.String(length=16), nullable=True),
        sa.Column("email_sent_at", TIME, nullable=True),
        sa.Column("email_message_id", sa.String(length=200), nullable=True),
        sa.Column("sms_send_state", sa.String(length=16), nullable=True),
        sa.Column("sms_sent_at", TIME, nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_form_submissions_organization_id_organizations")
        ),
        sa.ForeignKeyConstraint(
            ["form_id"], ["forms.id"], name=op.f("fk_form_submissions_form_id_forms"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_form_submissions_contact_id_contacts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_form_submissions")),
    )
    op.create_index("ix_form_submissions_form", "form_submissions", ["form_id", "id"])
    op.create_index("ix_form_submissions_contact", "form_submissions", ["contact_id"])
    op.create_index("ix_form_submissions_email_send", "form_submissions", ["email_send_state", "id"])
    op.create_index("ix_form_submissions_sms_send", "form_submissions", ["sms_send_state", "id"])
    op.create_index("ix_form_submissions_status_expires", "form_submissions", ["status", "expires_at"])
    for name, type_ in _PROOF:
        op.add_column("consent_events", sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("consent_events") as batch:
        for name, _ in reversed(_PROOF):
            batch.drop_column(name)
    op.drop_table("form_submissions")
    op.drop_table("forms")
