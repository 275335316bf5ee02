"""What the engine reads about a batch of enrollments, each read at most once per batch and only
when a step needs it (a handful of queries for 500 enrollments instead of a dozen per enrollment,
none for a batch of waits): the contacts' addresses and consent, which addresses are suppressed,
their live orders for the events the batch's flows look at, their marketing messages today (the
cap), and which step campaigns already hold a message for them. The engine updates the counts as
it sends, so a batch never passes the cap or reuses a round within itself."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from functools import cached_property
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fanhub.audience import suppression
from fanhub.audience.models import Contact
from fanhub.campaigns.models import Campaign, Delivery
from fanhub.catalog.models import Order
from fanhub.flows import messages, triggers
from fanhub.flows.models import FlowEnrollment, FlowStepRun


class BatchFacts:
    """Each fact is read on first use (a batch of wait steps reads none of them), then kept."""

    def __init__(self, session: Session, enrollments: Sequence[FlowEnrollment], event_ids: set[int]) -> None:
        self.session = session
        self.contact_ids = sorted({e.contact_id for e in enrollments})
        self.flow_ids = sorted({e.flow_id for e in enrollments})
        self.event_ids = sorted(event_ids | {e.event_id for e in enrollments if e.event_id is not None})
        self._counts: dict[tuple[datetime, datetime], dict[int, int]] = {}

    @cached_property
    def contacts(self) -> dict[int, messages.Addressable]:
        # Only what sending reads (messages.Addressable), as plain rows: loading 500 whole Contact
        # objects into the session cost more than the rest of the batch's reads together.
        contacts = self.session.execute(
            select(
                Contact.id,
                Contact.organization_id,
                Contact.email,
                Contact.email_status,
                Contact.phone,
                Contact.sms_status,
            ).where(Contact.id.in_(self.contact_ids))
        )
        return {c.id: c for c in contacts}

    @cached_property
    def suppressed(self) -> set[str]:
        suppressed: set[str] = set()
        by_org: dict[int, list[str]] = defaultdict(list)
        for contact in self.contacts.values():
            by_org[contact.organization_id] += [a for a in (contact.email, contact.phone) if a]
        for organization_id, addresses in by_org.items():
            suppressed |= suppression.suppressed_among(self.session, organization_id, addresses)
        return suppressed

    @cached_property
    def orders(self) -> dict[tuple[int, int], list[tuple[int, datetime]]]:
        """(contact, event) -> [(order id, placed at)] of live orders."""
        orders: dict[tuple[int, int], list[tuple[int, datetime]]] = defaultdict(list)
        if self.event_ids:
            rows = self.session.execute(
                select(Order.id, Order.contact_id, Order.event_id, Order.placed_at).where(
                    Order.contact_id.in_(self.contact_ids),
                    Order.event_id.in_(self.event_ids),
                    Order.status.in_(triggers.LIVE_ORDER),
                )
            )
            for order_id, contact_id, event_id, placed_at in rows:
                if event_id is not None:
                    orders[(contact_id, event_id)].append((order_id, placed_at))
        return orders

    @cached_property
    def taken(self) -> set[tuple[int, int]]:
        """(step campaign, contact) pairs that already hold a delivery (kept up to date by the engine)."""
        taken = self.session.execute(
            select(Delivery.campaign_id, Delivery.contact_id).where(
                Delivery.contact_id.in_(self.contact_ids),
                Delivery.campaign_id.in_(select(Campaign.id).where(Campaign.flow_id.in_(self.flow_ids))),
            )
        )
        return {(campaign_id, contact_id) for campaign_id, contact_id in taken}

    def is_suppressed(self, address: str) -> bool:
        return suppression.normalized(address) in self.suppressed

    def holds(self, contact_id: int, event_id: int) -> bool:
        return bool(self.orders.get((contact_id, event_id)))

    def bought_since(self, contact_id: int, event_id: int, since: datetime, except_order: Any) -> bool:
        return any(
            placed_at >= since and order_id != except_order
            for order_id, placed_at in self.orders.get((contact_id, event_id), [])
        )

    def sent_today(self, contact_id: int, start: datetime, end: datetime) -> int:
        """Marketing messages to the contact in the day (as `messages.messages_today`, for the
        whole batch at once), plus those this batch made."""
        if (start, end) not in self._counts:
            counts: dict[int, int] = defaultdict(int)
            campaign_rows = self.session.execute(
                select(Delivery.contact_id, func.count())
                .join(Campaign, Campaign.id == Delivery.campaign_id)
                .where(
                    Delivery.contact_id.in_(self.contact_ids),
                    Delivery.sent_at >= start,
                    Delivery.sent_at < end,
                    Delivery.status.in_(messages.COUNTED),
                    Campaign.flow_id.is_(None),
                )
                .group_by(Delivery.contact_id)
            )
            flow_rows = self.session.execute(
                select(FlowStepRun.contact_id, func.count())
                .where(
                    FlowStepRun.contact_id.in_(self.contact_ids),
                    FlowStepRun.ran_at >= start,
                    FlowStepRun.ran_at < end,
                    FlowStepRun.outcome == "sent",
                )
                .group_by(FlowStepRun.contact_id)
            )
            for contact_id, count in [*campaign_rows, *flow_rows]:
                counts[contact_id] += count
            self._counts[(start, end)] = counts
        return self._counts[(start, end)][contact_id]

    def count_sent(self, contact_id: int) -> None:
        for counts in self._counts.values():
            counts[contact_id] += 1
