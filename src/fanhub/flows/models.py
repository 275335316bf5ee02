"""Flow tables: the flow (its JSON definition and status), enrollments, and one row per step run.

- `Flow`: a trigger, steps and an exit goal as one JSON document (`flows.definition` validates
  it); `status` draft | active | paused; `activated_at` is "now" for the rule that activation does
  not fire for the past (issue 20).
- `FlowEnrollment`: one contact in one flow for one trigger instance (`trigger_key`: "order:123",
  "event:45", "sub:email:<ledger id>", "tag:7:<iso time>", "list:3:<iso time>", "announce:45";
  "" when the flow's reentry is `never`, so the unique constraint enforces "once, ever").
  `next_run_at` is when the engine next looks at it (the step at `step_index` is due then);
  `context` carries what the trigger knew (order id, event id, tag) for merge fields and goals.
- `FlowStepRun`: one per (enrollment, step index), inserted in the same transaction as the step's
  effect (the delivery row of a send, the tag of a tag step), so a step runs at most once whatever
  crashes; `outcome` says what happened (sent, skipped_consent, dropped_cap, ...).

Send steps are backed by hidden step campaigns (`campaigns.flow_id`, `flow_step`, `flow_round`):
see `flows.engine` for why and how.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fanhub.db.base import Base, BigId, utcnow

# Flow.status
DRAFT = "draft"
ACTIVE = "active"
PAUSED = "paused"
FLOW_STATUSES = (DRAFT, ACTIVE, PAUSED)

# FlowEnrollment.state
RUNNING = "active"
COMPLETED = "completed"
EXITED = "exited"  # the exit goal held, or a condition said exit
CANCELLED = "cancelled"  # its event was cancelled, or its order refunded before a reminder
ENROLLMENT_STATES = (RUNNING, COMPLETED, EXITED, CANCELLED)


class Flow(Base):
    __tablename__ = "flows"
    __table_args__ = (Index("ix_flows_org_status", "organization_id", "status", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    name: Mapped[str] = mapped_column(String(300))
    # The validated JSON document of issue 20 (flows/definition.py).
    definition: Mapped[dict[str, Any]] = mapped_column(default=dict)
    trigger_type: Mapped[str] = mapped_column(String(32))  # definition["trigger"]["type"], for lookups
    status: Mapped[str] = mapped_column(String(16), default=DRAFT)
    activated_at: Mapped[datetime | None] = mapped_column(default=None)
    paused_at: Mapped[datetime | None] = mapped_column(default=None)
    # --backfill SINCE: trigger moments from this instant on count, though before activation.
    backfill_since: Mapped[datetime | None] = mapped_column(default=None)
    # `subscribed` flows: the last consent ledger id looked at (flows/triggers.py scans past it).
    ledger_cursor: Mapped[int] = mapped_column(BigId, default=0, server_default="0")
    created_by: Mapped[str | None] = mapped_column(String(120), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class FlowEnrollment(Base):
    __tablename__ = "flow_enrollments"
    __table_args__ = (
        UniqueConstraint("flow_id", "contact_id", "trigger_key"),
        # The engine's claim: due enrollments of every flow, oldest first.
        Index("ix_flow_enrollments_due", "state", "next_run_at", "id"),
        Index("ix_flow_enrollments_flow_state", "flow_id", "state", "step_index"),
        Index("ix_flow_enrollments_contact", "contact_id", "flow_id"),
        Index("ix_flow_enrollments_event", "event_id", "state"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    flow_id: Mapped[int] = mapped_column(ForeignKey("flows.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    trigger_key: Mapped[str] = mapped_column(String(200), default="")
    # The trigger instance's facts: {"order_id": .., "event_id": .., "tag": .., "list_id": ..}.
    context: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(String(16), default=RUNNING)
    step_index: Mapped[int] = mapped_column(default=0)
    next_run_at: Mapped[datetime | None] = mapped_column(default=None)
    exit_reason: Mapped[str | None] = mapped_column(String(80), default=None)
    entered_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    # A worker's claim (PostgreSQL uses SKIP LOCKED inside the claiming transaction; this is the trace).
    claimed_by: Mapped[str | None] = mapped_column(String(120), default=None)
    # The trigger's event (order_placed, before/after_event, event_announced) and, for the event
    # triggers, the event time the schedule was computed from: a moved event shifts pending steps.
    event_id: Mapped[int | None] = mapped_column(BigId, default=None)
    anchor_at: Mapped[datetime | None] = mapped_column(default=None)
    # order_placed: the order that triggered it (its own purchase is not the exit goal).
    order_id: Mapped[int | None] = mapped_column(BigId, default=None)


class FlowEventFire(Base):
    """A before_event / after_event flow's moment for one event, reached once: its holders were
    enrolled then (flows/triggers.py), so the moment is never acted on twice."""

    __tablename__ = "flow_event_fires"
    __table_args__ = (UniqueConstraint("flow_id", "event_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    flow_id: Mapped[int] = mapped_column(ForeignKey("flows.id", ondelete="CASCADE"))
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    moment: Mapped[datetime]
    enrolled: Mapped[int] = mapped_column(default=0)
    fired_at: Mapped[datetime] = mapped_column(default=utcnow)


class FlowStepRun(Base):
    __tablename__ = "flow_step_runs"
    __table_args__ = (
        UniqueConstraint("enrollment_id", "step_index"),
        # The frequency cap: a contact's flow messages in a day.
        Index("ix_flow_step_runs_contact_ran", "contact_id", "ran_at"),
        Index("ix_flow_step_runs_flow_step", "flow_id", "step_index", "outcome"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    enrollment_id: Mapped[int] = mapped_column(ForeignKey("flow_enrollments.id", ondelete="CASCADE"))
    flow_id: Mapped[int] = mapped_column(ForeignKey("flows.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    step_index: Mapped[int]
    step_type: Mapped[str] = mapped_column(String(16))
    # sent | skipped_consent | skipped_suppressed | dropped_cap | done | condition_false | ...
    outcome: Mapped[str] = mapped_column(String(32))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="SET NULL"), default=None)
    delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaign_deliveries.id", ondelete="SET NULL"), default=None
    )
    detail: Mapped[str | None] = mapped_column(Text, default=None)
    ran_at: Mapped[datetime] = mapped_column(default=utcnow)
