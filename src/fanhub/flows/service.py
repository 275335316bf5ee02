"""Flows: create, validate, edit, activate, pause, resume, read, list and simulate (the API the CLI,
the manager, the Partners endpoints and the MCP tools call).

Status rules: a flow is created `draft`; `activate` makes it `active` (from draft, with an optional
`backfill_since`: trigger moments from then on count, else only those after now); `pause` holds
every enrollment where it is (the engine claims nothing of a paused flow, and its step campaigns
stop sending); `resume` continues them (steps that fell due meanwhile run at once). A draft or
paused flow's document can be replaced; an active one must be paused first.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from fanhub.campaigns.models import PAUSED as CAMPAIGN_PAUSED
from fanhub.campaigns.models import SENDING, Campaign
from fanhub.db.base import utcnow
from fanhub.errors import InvalidInput, NotFound
from fanhub.flows import triggers
from fanhub.flows.definition import FlowDefinition, SendStep, validate_definition
from fanhub.flows.models import ACTIVE, COMPLETED, DRAFT, EXITED, PAUSED, RUNNING, Flow, FlowEnrollment, FlowStepRun
from fanhub.organizations.service import get_organization
from fanhub.timeutil import iso_utc


def _invalid(field: str, message: str) -> InvalidInput:
    return InvalidInput(f"{field}: {message}", [{"index": None, "field": field, "message": message}])


def validate(document: Any) -> FlowDefinition:
    """The validated flow document (InvalidInput names every problem's JSON path)."""
    return validate_definition(document)


def create_flow(session: Session, organization_id: int, document: Any, *, created_by: str | None = None) -> Flow:
    """A new draft flow from a JSON document."""
    get_organization(session, organization_id)
    definition = validate_definition(document)
    flow = Flow(
        organization_id=organization_id,
        name=definition.name,
        definition=definition.document(),
        trigger_type=definition.trigger.type,
        status=DRAFT,
        created_by=created_by,
    )
    session.add(flow)
    session.flush()
    return flow


def get_flow(session: Session, organization_id: int | None, flow_id: int) -> Flow:
    """The flow (of that organization when one is given: another's is not found)."""
    flow = session.get(Flow, flow_id)
    if flow is None or (organization_id is not None and flow.organization_id != organization_id):
        raise NotFound(f"flow {flow_id} not found")
    return flow


def list_flows(session: Session, organization_id: int, status: str | None = None) -> list[Flow]:
    """The organization's flows, newest first."""
    get_organization(session, organization_id)
    query = select(Flow).where(Flow.organization_id == organization_id)
    if status is not None:
        query = query.where(Flow.status == status)
    return list(session.scalars(query.order_by(Flow.id.desc())))


def update_flow(session: Session, organization_id: int | None, flow_id: int, document: Any) -> Flow:
    """Replace a draft or paused flow's document (an active flow is paused first: its enrollments
    stand at step indexes of the document they entered with)."""
    flow = get_flow(session, organization_id, flow_id)
    if flow.status == ACTIVE:
        raise _invalid("status", "pause the flow before changing it")
    definition = validate_definition(document)
    if flow.status == PAUSED and definition.trigger.type != flow.trigger_type:
        raise _invalid("trigger.type", "cannot change the trigger of a flow that ran; create a new flow")
    flow.definition = definition.document()
    flow.name = definition.name
    flow.trigger_type = definition.trigger.type
    flow.updated_at = utcnow()
    _sync_step_campaigns(session, flow, definition)
    session.flush()
    return flow


def _sync_step_campaigns(session: Session, flow: Flow, definition: FlowDefinition) -> None:
    """A paused flow's edited send steps: messages not yet sent go out with the new text."""
    for campaign in session.scalars(select(Campaign).where(Campaign.flow_id == flow.id)):
        index = campaign.flow_step if campaign.flow_step is not None else -1
        step = definition.steps[index] if 0 <= index < len(definition.steps) else None
        if isinstance(step, SendStep):
            campaign.body = step.body
            campaign.subject = step.subject if campaign.type == "email" else None


def _step_campaigns(session: Session, flow_id: int, status: str) -> None:
    session.execute(
        update(Campaign)
        .where(Campaign.flow_id == flow_id, Campaign.status.in_((SENDING, CAMPAIGN_PAUSED)))
        .values(status=status)
    )


def activate_flow(
    session: Session,
    organization_id: int | None,
    flow_id: int,
    *,
    backfill_since: datetime | None = None,
    now: datetime | None = None,
) -> Flow:
    """Start a draft flow: from now on its triggers enroll contacts. With `backfill_since`, trigger
    moments since then count too (orders placed, subscriptions, event moments); a before_event
    moment still ahead always counts. Returns the flow."""
    now = now or utcnow()
    flow = get_flow(session, organization_id, flow_id)
    if flow.status != DRAFT:
        raise _invalid("status", f"only a draft flow can be activated (this one is {flow.status}; resume a paused one)")
    if backfill_since is not None and backfill_since > now:
        raise _invalid("backfill", "must be in the past")
    validate_definition(flow.definition)
    flow.status, flow.activated_at, flow.backfill_since = ACTIVE, now, backfill_since
    flow.updated_at = now
    if flow.trigger_type == "subscribed":
        _start_ledger_cursor(session, flow)
    if backfill_since is not None:
        _backfill(session, flow, now)
    session.flush()
    return flow


def _start_ledger_cursor(session: Session, flow: Flow) -> None:
    """A subscribed flow reads the consent ledger from its activation on (or its backfill's SINCE)."""
    from fanhub.audience.models import ConsentEvent

    last = session.scalar(select(func.max(ConsentEvent.id)).where(ConsentEvent.organization_id == flow.organization_id))
    flow.ledger_cursor = int(last or 0)


def _backfill(session: Session, flow: Flow, now: datetime) -> None:
    """What the hooks would have done since `backfill_since` (the scans use the floor by themselves)."""
    from fanhub.audience.models import ConsentEvent

    if flow.trigger_type == "order_placed":
        triggers.backfill_orders(session, flow, now)
    elif flow.trigger_type == "subscribed":
        # The scan starts at the first ledger row of the backfill's window.
        first = session.scalar(
            select(func.min(ConsentEvent.id)).where(
                ConsentEvent.organization_id == flow.organization_id, ConsentEvent.occurred_at >= flow.backfill_since
            )
        )
        flow.ledger_cursor = (first - 1) if first else flow.ledger_cursor


def pause_flow(session: Session, organization_id: int | None, flow_id: int, *, now: datetime | None = None) -> Flow:
    """Hold every enrollment where it is; step messages not yet sent wait too."""
    flow = get_flow(session, organization_id, flow_id)
    if flow.status != ACTIVE:
        raise _invalid("status", f"only an active flow can be paused (this one is {flow.status})")
    flow.status, flow.paused_at = PAUSED, now or utcnow()
    _step_campaigns(session, flow.id, CAMPAIGN_PAUSED)
    session.flush()
    return flow


def resume_flow(session: Session, organization_id: int | None, flow_id: int, *, now: datetime | None = None) -> Flow:
    """Continue a paused flow where each enrollment stood."""
    flow = get_flow(session, organization_id, flow_id)
    if flow.status != PAUSED:
        raise _invalid("status", f"only a paused flow can be resumed (this one is {flow.status})")
    flow.status, flow.paused_at = ACTIVE, None
    _step_campaigns(session, flow.id, SENDING)
    session.flush()
    return flow


def step_figures(session: Session, flow: Flow) -> list[dict[str, Any]]:
    """Per step: entered (enrollments that reached it), at_step (waiting there now), completed
    (ran it), sent (messages created by a send step), skipped (consent/suppression/condition)."""
    steps = flow.definition.get("steps", [])
    at_step = dict(
        session.execute(
            select(FlowEnrollment.step_index, func.count())
            .where(FlowEnrollment.flow_id == flow.id, FlowEnrollment.state == RUNNING)
            .group_by(FlowEnrollment.step_index)
        ).all()
    )
    runs: dict[int, dict[str, int]] = {}
    for index, outcome, count in session.execute(
        select(FlowStepRun.step_index, FlowStepRun.outcome, func.count())
        .where(FlowStepRun.flow_id == flow.id)
        .group_by(FlowStepRun.step_index, FlowStepRun.outcome)
    ):
        runs.setdefault(index, {})[outcome] = count
    figures = []
    for index, step in enumerate(steps):
        done = runs.get(index, {})
        completed = sum(done.values())
        figures.append(
            {
                "index": index,
                "type": step.get("type"),
                "channel": step.get("channel"),
                "entered": completed + int(at_step.get(index, 0)),
                "at_step": int(at_step.get(index, 0)),
                "completed": completed,
                "sent": done.get("sent", 0),
                "skipped": sum(v for k, v in done.items() if k.startswith("skipped")),
                "dropped": done.get("dropped_cap", 0),
                "outcomes": done,
            }
        )
    return figures


def enrollment_counts(session: Session, flow_id: int) -> dict[str, int]:
    """Enrollments by state, and how many the exit goal ended."""
    counts = {state: 0 for state in ("active", "completed", "exited", "cancelled")}
    for state, count in session.execute(
        select(FlowEnrollment.state, func.count())
        .where(FlowEnrollment.flow_id == flow_id)
        .group_by(FlowEnrollment.state)
    ):
        counts[state] = count
    goal = session.scalar(
        select(func.count()).where(
            FlowEnrollment.flow_id == flow_id, FlowEnrollment.state == EXITED, FlowEnrollment.exit_reason == "goal"
        )
    )
    counts["entered"] = sum(counts.values())
    counts["exited_by_goal"] = int(goal or 0)
    return counts


def flow_summary(flow: Flow) -> dict[str, Any]:
    """The flow's own fields, as every interface shows them."""
    return {
        "id": flow.id,
        "organization_id": flow.organization_id,
        "name": flow.name,
        "status": flow.status,
        "trigger": flow.definition.get("trigger", {}).get("type"),
        "activated_at": iso_utc(flow.activated_at) if flow.activated_at else None,
        "paused_at": iso_utc(flow.paused_at) if flow.paused_at else None,
        "backfill_since": iso_utc(flow.backfill_since) if flow.backfill_since else None,
        "created_at": iso_utc(flow.created_at),
    }


def flow_detail(session: Session, organization_id: int | None, flow_id: int) -> dict[str, Any]:
    """Definition, status, enrollment counts and per-step figures (`fanhub flow show`)."""
    flow = get_flow(session, organization_id, flow_id)
    return {
        **flow_summary(flow),
        "definition": flow.definition,
        "enrollments": enrollment_counts(session, flow.id),
        "steps": step_figures(session, flow),
    }


def simulate(
    session: Session, organization_id: int | None, flow_id: int, until: datetime, *, now: datetime | None = None
) -> dict[str, Any]:
    """The sends that would happen from now until `until` if nothing else changed: contact, step,
    channel, planned time. Sends and stores nothing (a read-only walk of the engine's plan)."""
    from fanhub.flows.engine import plan

    now = now or utcnow()
    flow = get_flow(session, organization_id, flow_id)
    if until < now:
        raise _invalid("at", "must be in the future")
    if until - now > timedelta(days=366):
        raise _invalid("at", "must be within a year")
    sends = plan(session, flow, now, until)
    return {"flow_id": flow.id, "from": iso_utc(now), "until": iso_utc(until), "sends": sends, "count": len(sends)}


__all__ = [
    "ACTIVE",
    "COMPLETED",
    "DRAFT",
    "PAUSED",
    "activate_flow",
    "create_flow",
    "enrollment_counts",
    "flow_detail",
    "flow_summary",
    "get_flow",
    "list_flows",
    "pause_flow",
    "resume_flow",
    "simulate",
    "step_figures",
    "update_flow",
    "validate",
]
