"""Helpers of the engine, trigger and CLI tests (flows-core): flows made and activated through the
service, the worker's flow jobs run with a chosen `now`, and what they stored read back."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update

from fanhub.campaigns.models import Campaign, Delivery
from fanhub.db.engine import Database
from fanhub.flows import engine, jobs, service
from fanhub.flows.models import FlowEnrollment, FlowStepRun
from fanhub.organizations.models import Organization

T0 = datetime(2024, 2, 1, 12, 0, tzinfo=UTC)  # flows are activated then unless a test says otherwise

EMAIL_STEP = {
    "type": "send",
    "channel": "email",
    "subject": "Thanks: {{ event_name }}",
    "body": "<p>Hi {{ first_name }}</p>",
}
SMS_STEP = {"type": "send", "channel": "sms", "body": "Doors at {{ event_time }}. Reply STOP to opt out."}


def document(trigger: dict[str, Any], *steps: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "name": "Test flow",
        "trigger": trigger,
        "steps": [copy.deepcopy(s) for s in steps] or [EMAIL_STEP],
        **extra,
    }


def make_flow(
    db: Database, organization_id: int, doc: dict[str, Any], *, at: datetime = T0, backfill: datetime | None = None
) -> int:
    with db.write() as session:
        flow = service.create_flow(session, organization_id, doc)
        service.activate_flow(session, organization_id, flow.id, backfill_since=backfill, now=at)
        return flow.id


def settle(db: Database, now: datetime, rounds: int = 20) -> None:
    """The scans and the engine, at `now`, until nothing is left to do at that time (no sending)."""
    for _ in range(rounds):
        scanned = jobs.scan_triggers(db, now)
        advanced = engine.advance(db, now) > 0
        if not scanned and not advanced:
            return


def send_all(db: Database, rounds: int = 50) -> None:
    """The flows' step campaigns through the sending pipe until none has messages waiting."""
    for _ in range(rounds):
        if not jobs.send_steps(db):
            return


def enrollments(db: Database, flow_id: int) -> list[FlowEnrollment]:
    with db.read() as session:
        return list(
            session.scalars(select(FlowEnrollment).where(FlowEnrollment.flow_id == flow_id).order_by(FlowEnrollment.id))
        )


def runs(db: Database, flow_id: int) -> list[tuple[int, int, str]]:
    """(contact, step index, outcome) of every step run, by time, enrollment and step."""
    with db.read() as session:
        rows = session.execute(
            select(FlowStepRun.contact_id, FlowStepRun.step_index, FlowStepRun.outcome)
            .where(FlowStepRun.flow_id == flow_id)
            .order_by(FlowStepRun.ran_at, FlowStepRun.enrollment_id, FlowStepRun.step_index)
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


def flow_deliveries(db: Database, flow_id: int) -> list[dict[str, Any]]:
    with db.read() as session:
        rows = session.execute(
            select(Delivery, Campaign)
            .join(Campaign, Campaign.id == Delivery.campaign_id)
            .where(Campaign.flow_id == flow_id)
            .order_by(Delivery.id)
        )
        return [
            {
                "contact_id": d.contact_id,
                "channel": d.channel,
                "status": d.status,
                "step": c.flow_step,
                "round": c.flow_round,
                "event_id": c.event_id,
                "campaign_id": c.id,
                "address": d.address,
            }
            for d, c in rows
        ]


def set_org(db: Database, organization_id: int, **values: Any) -> None:
    with db.write() as session:
        session.execute(update(Organization).where(Organization.id == organization_id).values(**values))
