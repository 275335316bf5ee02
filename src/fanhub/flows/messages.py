"""A flow's messages go through the campaigns' sending pipe: every send step is backed by hidden
step campaigns, and each contact reaching the step gets one `campaign_deliveries` row in one.

Why campaigns: the pipe already gives at-most-once sending after a crash (rows claimed before
the provider call, `unknown` when a worker died mid-call), rate limits per campaign and per
provider, tracked links and opens, unsubscribe links and List-Unsubscribe headers, DKIM, VERP,
bounces and complaints (deliverability), and last-touch attribution; step figures are the step
campaigns' `campaign_stats`, a flow's the sum over its steps.

Which step campaign: one per (flow, step index, event, round).
- the event: merge fields (`event_name`, `event_date`, `venue`, ...) come from the campaign's
  `event_id`, and a flow's enrollments are about different events (each order's, each reminded
  show's), so each event gets its own step campaign; flows without an event use `event_id` NULL;
- the round: deliveries are unique per (campaign, contact), the pipe's at-most-once key. With
  `reentry: per_trigger` a contact may pass the same step twice (two orders for the same show),
  so the contact's n-th pass goes to round n's campaign. This keeps the deliveries table and the
  pipe unchanged; most contacts only ever need round 1.

Step campaigns have `flow_id` set, status `sending` while their flow runs (`paused` while it is
paused) and never become `sent` (the pipe leaves them open: more deliveries come); the campaign
scheduler and the campaign lists leave them out, and `flows.jobs.send_steps` gives them turns.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from fanhub.audience import suppression
from fanhub.audience.models import SUBSCRIBED, Contact
from fanhub.campaigns.models import (
    ATTEMPTING,
    DEFERRED,
    DELIVERED,
    PENDING,
    RESERVED,
    SENDING,
    UNKNOWN,
    Campaign,
    CampaignStats,
    Delivery,
)
from fanhub.campaigns.sending.deliveries import bump_stats
from fanhub.db.bulk import insert_rows
from fanhub.flows.definition import SendStep
from fanhub.flows.models import Flow, FlowStepRun

# Deliveries that count towards the frequency cap: sent, or in the provider's hands.
COUNTED = (DELIVERED, ATTEMPTING, UNKNOWN)
WAITING = (PENDING, RESERVED)


class Addressable(Protocol):
    """What choosing a channel reads of a contact (a Contact, or a batch's row of these columns)."""

    id: int
    organization_id: int
    email: str | None
    email_status: str
    phone: str | None
    sms_status: str


def address_for(contact: Addressable | Contact, channel: str) -> str | None:
    """The contact's address on `channel` when they may receive on it (subscribed, with an address
    that can take it), else None. Read when the step sends, never when the contact entered."""
    if channel == "email":
        return contact.email if contact.email and contact.email_status == SUBSCRIBED else None
    if contact.phone and contact.phone.startswith("+") and contact.sms_status == SUBSCRIBED:
        return contact.phone
    return None


def choose_channel(
    session: Session,
    contact: Addressable | Contact,
    step: SendStep,
    channel_order: Sequence[str],
    is_suppressed: Callable[[str], bool] | None = None,
) -> tuple[str | None, str | None, str]:
    """(channel, address, reason): the step's channel, or the first of `channel_order` the contact
    can receive on; reason is "ok", "consent" (not subscribed) or "suppressed". `is_suppressed`
    answers from a batch's preloaded list, else the list is asked."""
    candidates = [step.channel] if step.channel else channel_order
    reason = "consent"
    for channel in candidates:
        address = address_for(contact, channel)
        if address is None:
            continue
        suppressed = (
            is_suppressed(address)
            if is_suppressed is not None
            else suppression.is_suppressed(session, contact.organization_id, address)
        )
        if suppressed:
            reason = "suppressed"
            continue
        return channel, address, "ok"
    return None, None, reason


def messages_today(session: Session, contact_id: int, start: datetime, end: datetime) -> int:
    """Marketing messages to the contact in [start, end): campaign messages sent then, and flow
    messages created then (a flow delivery still waiting in the pipe counts already)."""
    campaigns = session.scalar(
        select(func.count())
        .select_from(Delivery)
        .join(Campaign, Campaign.id == Delivery.campaign_id)
        .where(
            Delivery.contact_id == contact_id,
            Delivery.sent_at >= start,
            Delivery.sent_at < end,
            Delivery.status.in_(COUNTED),
            Campaign.flow_id.is_(None),
        )
    )
    flows = session.scalar(
        select(func.count()).where(
            FlowStepRun.contact_id == contact_id,
            FlowStepRun.ran_at >= start,
            FlowStepRun.ran_at < end,
            FlowStepRun.outcome == "sent",
        )
    )
    return int(campaigns or 0) + int(flows or 0)


class StepCampaigns:
    """Finds or creates the step campaign a contact's message goes into (cached per engine batch)."""

    def __init__(self, session: Session, now: datetime) -> None:
        self.session, self.now = session, now
        self._ids: dict[tuple[int, int, int | None, int, str], int] = {}
        self._recipients: dict[int, int] = defaultdict(int)  # added by `add`, counted by `flush_stats`

    def _find(self, flow: Flow, index: int, event_id: int | None, round_: int, channel: str) -> int | None:
        key = (flow.id, index, event_id, round_, channel)
        if key in self._ids:
            return self._ids[key]
        query = select(Campaign.id).where(
            Campaign.flow_id == flow.id,
            Campaign.flow_step == index,
            Campaign.flow_round == round_,
            Campaign.type == channel,
            Campaign.event_id.is_(None) if event_id is None else Campaign.event_id == event_id,
        )
        found = self.session.scalar(query.order_by(Campaign.id).limit(1))
        if found is not None:
            self._ids[key] = found
        return found

    def _create(self, flow: Flow, index: int, step: SendStep, event_id: int | None, round_: int, channel: str) -> int:
        campaign = Campaign(
            organization_id=flow.organization_id,
            type=channel,
            name=f"{flow.name} · step {index + 1}" + (f" · round {round_}" if round_ > 1 else ""),
            subject=step.subject if channel == "email" else None,
            body=step.body,
            audience={},
            event_id=event_id,
            status=SENDING,
            # delivered_at: the campaign "went out" (attribution and analytics read it).
            delivered_at=self.now,
            created_by=f"flow:{flow.id}",
            flow_id=flow.id,
            flow_step=index,
            flow_round=round_,
        )
        self.session.add(campaign)
        self.session.flush()
        self.session.add(
            CampaignStats(campaign_id=campaign.id, organization_id=flow.organization_id, started_at=self.now)
        )
        self.session.flush()
        self._ids[(flow.id, index, event_id, round_, channel)] = campaign.id
        return campaign.id

    def deliver(
        self, flow: Flow, index: int, step: SendStep, event_id: int | None, contact_id: int, channel: str, address: str
    ) -> tuple[int, int]:
        """A pending delivery for the contact in the first round's campaign that has none for them
        yet; returns (campaign id, delivery id)."""
        round_ = 1
        while True:
            campaign_id = self._find(flow, index, event_id, round_, channel)
            if campaign_id is None:
                campaign_id = self._create(flow, index, step, event_id, round_, channel)
                break
            taken = self.session.scalar(
                select(Delivery.id).where(Delivery.campaign_id == campaign_id, Delivery.contact_id == contact_id)
            )
            if taken is None:
                break
            round_ += 1
        delivery = Delivery(
            organization_id=flow.organization_id,
            campaign_id=campaign_id,
            contact_id=contact_id,
            channel=channel,
            address=address,
            status=PENDING,
            attempts=0,
        )
        self.session.add(delivery)
        self.session.flush()
        bump_stats(self.session, campaign_id, recipients=1)
        return campaign_id, delivery.id

    def add(
        self,
        flow: Flow,
        index: int,
        step: SendStep,
        event_id: int | None,
        contact_id: int,
        channel: str,
        address: str,
        taken: set[tuple[int, int]],
    ) -> tuple[int, dict[str, Any]]:
        """As `deliver`, for a batch: `taken` holds the (campaign, contact) pairs that already have a
        delivery (read once per batch, kept up to date here); returns the delivery's row, which the
        batch inserts with the others (`insert_deliveries`)."""
        round_ = 1
        while True:
            campaign_id = self._find(flow, index, event_id, round_, channel)
            if campaign_id is None:
                campaign_id = self._create(flow, index, step, event_id, round_, channel)
                break
            if (campaign_id, contact_id) not in taken:
                break
            round_ += 1
        taken.add((campaign_id, contact_id))
        self._recipients[campaign_id] += 1
        row = {
            "organization_id": flow.organization_id,
            "campaign_id": campaign_id,
            "contact_id": contact_id,
            "channel": channel,
            "address": address,
            "status": PENDING,
            "attempts": 0,
        }
        return campaign_id, row

    def flush_stats(self) -> None:
        for campaign_id, count in self._recipients.items():
            bump_stats(self.session, campaign_id, recipients=count)
        self._recipients.clear()


def insert_runs_with_deliveries(session: Session, deliveries: list[dict[str, Any]], runs: list[dict[str, Any]]) -> None:
    """A batch's deliveries and their send runs, in a few statements: the runs find their
    delivery by (campaign, contact), the deliveries' unique key."""
    if not deliveries:
        return
    insert_rows(session, Delivery, deliveries)
    insert_rows(session, FlowStepRun, runs)
    delivery_id = (
        select(Delivery.id)
        .where(Delivery.campaign_id == FlowStepRun.campaign_id, Delivery.contact_id == FlowStepRun.contact_id)
        .scalar_subquery()
    )
    enrollment_ids = sorted({run["enrollment_id"] for run in runs})
    session.execute(
        update(FlowStepRun)
        .where(
            FlowStepRun.enrollment_id.in_(enrollment_ids),
            FlowStepRun.outcome == "sent",
            FlowStepRun.delivery_id.is_(None),
        )
        .values(delivery_id=delivery_id)
    )


def backlog(session: Session) -> int:
    """Flow messages created and not yet taken by the pipe (the engine holds back above a bound,
    so 200,000 due steps become messages at the pace the providers take them)."""
    ids = select(Campaign.id).where(Campaign.flow_id.is_not(None), Campaign.status == SENDING)
    return int(
        session.scalar(select(func.count()).where(Delivery.campaign_id.in_(ids), Delivery.status.in_(WAITING))) or 0
    )


def sending_step_campaigns(session: Session) -> list[int]:
    """Step campaigns with messages waiting for the pipe (due retries of deferred ones included)."""
    waiting = (
        select(Delivery.id)
        .where(Delivery.campaign_id == Campaign.id, Delivery.status.in_((*WAITING, DEFERRED)))
        .exists()
    )
    return list(
        session.scalars(
            select(Campaign.id)
            .where(Campaign.flow_id.is_not(None), Campaign.status == SENDING, waiting)
            .order_by(Campaign.id)
        )
    )


def delivery_state(session: Session, delivery_id: int | None) -> Any:
    if delivery_id is None:
        return None
    return session.get(Delivery, delivery_id)
