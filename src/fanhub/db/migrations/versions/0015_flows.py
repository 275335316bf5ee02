"""automations: flows, enrollments, organization quiet hours and frequency cap (issue 20)

Revision ID: 0015_flows
Revises: 0014_engagement
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import fanhub.db.base

revision = "0015_flows"
down_revision = "0014_engagement"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC_TIME = fanhub.db.base.UTCDateTime(timezone=True)


def _flows() -> None:
    op.create_table(
        "flows",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("organization_id", BIG_ID, nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("trigger_type", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("activated_at", UTC_TIME, nullable=True),
        sa.Column("paused_at", UTC_TIME, nullable=True),
        sa.Column("backfill_since", UTC_TIME, nullable=True),
        sa.Column("ledger_cursor", BIG_ID, nullable=False, server_default="0"),
        sa.Column("created_by", sa.String(length=120), nullable=True),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_flows_organization_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flows")),
    )
    op.create_index("ix_flows_org_status", "flows", ["organization_id", "status", "id"])


def _enrollments() -> None:
    op.create_table(
        "flow_enrollments",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("organization_id", BIG_ID, nullable=False),
        sa.Column("flow_id", BIG_ID, nullable=False),
        sa.Column("contact_id", BIG_ID, nullable=False),
        sa.Column("trigger_key", sa.String(length=200), nullable=False),
        sa.Column("context", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("step_index", sa.Integer(), nullable=False),
        sa.Column("next_run_at", UTC_TIME, nullable=True),
        sa.Column("exit_reason", sa.String(length=80), nullable=True),
        sa.Column("entered_at", UTC_TIME, nullable=False),
        sa.Column("finished_at", UTC_TIME, nullable=True),
        sa.Column("claimed_by", sa.String(length=120), nullable=True),
        sa.Column("event_id", BIG_ID, nullable=True),
        sa.Column("anchor_at", UTC_TIME, nullable=True),
        sa.Column("order_id", BIG_ID, nullable=True),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_flow_enrollments_contact_id_contacts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["flow_id"], ["flows.id"], name=op.f("fk_flow_enrollments_flow_id_flows"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_flow_enrollments_organization_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flow_enrollments")),
        sa.UniqueConstraint(
            "flow_id", "contact_id", "trigger_key", name=op.f("uq_flow_enrollments_flow_id_contact_id_trigger_key")
        ),
    )
    op.create_index("ix_flow_enrollments_due", "flow_enrollments", ["state", "next_run_at", "id"])
    op.create_index("ix_flow_enrollments_flow_state", "flow_enrollments", ["flow_id", "state", "step_index"])
    op.create_index("ix_flow_enrollments_contact", "flow_enrollments", ["contact_id", "flow_id"])
    op.create_index("ix_flow_enrollments_event", "flow_enrollments", ["event_id", "state"])
    op.create_table(
        "flow_event_fires",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("flow_id", BIG_ID, nullable=False),
        sa.Column("event_id", BIG_ID, nullable=False),
        sa.Column("moment", UTC_TIME, nullable=False),
        sa.Column("enrolled", sa.Integer(), nullable=False),
        sa.Column("fired_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_flow_event_fires_event_id_events"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["flow_id"], ["flows.id"], name=op.f("fk_flow_event_fires_flow_id_flows"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flow_event_fires")),
        sa.UniqueConstraint("flow_id", "event_id", name=op.f("uq_flow_event_fires_flow_id_event_id")),
    )


def _step_runs() -> None:
    op.create_table(
        "flow_step_runs",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("enrollment_id", BIG_ID, nullable=False),
        sa.Column("flow_id", BIG_ID, nullable=False),
        sa.Column("contact_id", BIG_ID, nullable=False),
        sa.Column("step_index", sa.Integer(), nullable=False),
        sa.Column("step_type", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("campaign_id", BIG_ID, nullable=True),
        sa.Column("delivery_id", BIG_ID, nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("ran_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name=op.f("fk_flow_step_runs_campaign_id_campaigns"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_flow_step_runs_contact_id_contacts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["campaign_deliveries.id"],
            name=op.f("fk_flow_step_runs_delivery_id_campaign_deliveries"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["enrollment_id"],
            ["flow_enrollments.id"],
            name=op.f("fk_flow_step_runs_enrollment_id_flow_enrollments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["flow_id"], ["flows.id"], name=op.f("fk_flow_step_runs_flow_id_flows"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flow_step_runs")),
        sa.UniqueConstraint("enrollment_id", "step_index", name=op.f("uq_flow_step_runs_enrollment_id_step_index")),
    )
    op.create_index("ix_flow_step_runs_contact_ran", "flow_step_runs", ["contact_id", "ran_at"])
    op.create_index("ix_flow_step_runs_flow_step", "flow_step_runs", ["flow_id", "step_index", "outcome"])


def upgrade() -> None:
    _flows()
    _enrollments()
    _step_runs()
    with op.batch_alter_table("campaigns") as batch_op:
        batch_op.add_column(sa.Column("flow_id", BIG_ID, nullable=True))
        batch_op.add_column(sa.Column("flow_step", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("flow_round", sa.Integer(), nullable=True))
    op.create_index("ix_campaigns_flow_step", "campaigns", ["flow_id", "flow_step", "flow_round"])
    with op.batch_alter_table("organizations") as batch_op:
        batch_op.add_column(sa.Column("quiet_hours_start", sa.String(length=5), nullable=False, server_default="21:00"))
        batch_op.add_column(sa.Column("quiet_hours_end", sa.String(length=5), nullable=False, server_default="08:00"))
        batch_op.add_column(sa.Column("max_messages_per_day", sa.Integer(), nullable=False, server_default="2"))
        batch_op.add_column(sa.Column("over_cap", sa.String(length=8), nullable=False, server_default="defer"))


def downgrade() -> None:
    with op.batch_alter_table("organizations") as batch_op:
        batch_op.drop_column("over_cap")
        batch_op.drop_column("max_messages_per_day")
        batch_op.drop_column("quiet_hours_end")
        batch_op.drop_column("quiet_hours_start")
    op.drop_index("ix_campaigns_flow_step", table_name="campaigns")
    with op.batch_alter_table("campaigns") as batch_op:
        batch_op.drop_column("flow_round")
        batch_op.drop_column("flow_step")
        batch_op.drop_column("flow_id")
    op.drop_table("flow_step_runs")
    op.drop_table("flow_event_fires")
    op.drop_table("flow_enrollments")
    op.drop_table("flows")
