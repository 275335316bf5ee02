"""Read-side reports over events, orders and buyers, shared by the MCP server and the manager.

Sales figures follow one set of rules everywhere:

- canceled orders count for nothing;
- **tickets sold** are the tickets of `completed` orders (a refunded order gives its tickets back);
- **gross revenue** is the total of every `completed` or `refunded` order;
- **refunds** are a completed order's `refunded_amount` plus the whole total of a `refunded` order;
- **net revenue** = gross - refunds (for an event this equals `catalog.queries`' `revenue`).

Money is summed per currency in integer minor units and shown in major units. **Attendees** of an
event are the contacts holding at least one completed order for it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from fanhub.catalog.event_queries import EventFilter, find_events
from fanhub.catalog.models import Event, Order, OrderItem
from fanhub.catalog.repository import EventRepository
from fanhub.errors import InvalidInput
from fanhub.money import to_major
from fanhub.pagination import Page, PageRequest
from fanhub.timeutil import iso_utc

GroupBy = Literal["day", "ticket_type", "source"]
GROUP_BY_VALUES: tuple[str, ...] = ("day", "ticket_type", "source")
SOLD_STATUSES = ("completed", "refunded")


# --- instants ---------------------------------------------------------------------------------------


def parse_bound(value: str | None, field_name: str, *, end: bool = False) -> datetime | None:
    """A date (`2024-03-02`, a whole UTC day) or an ISO 8601 datetime (UTC unless it has an offset).

    As a lower bound a date means its first instant; as an upper bound (`end=True`) the bound is
    exclusive and a date means the start of the next day, so `end_date=2024-03-02` includes that day.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            start = datetime.combine(day, time(0), tzinfo=UTC)
            return start + timedelta(days=1) if end else start
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            f"{field_name}: {value!r} is not a date (YYYY-MM-DD) or an ISO 8601 datetime",
            [{"index": None, "field": field_name, "message": "not a date or datetime"}],
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def check_range(start: datetime | None, end: datetime | None, start_field: str, end_field: str) -> None:
    if start is not None and end is not None and end <= start:
        raise InvalidInput(
            f"{end_field} must be after {start_field}",
            [{"index": None, "field": end_field, "message": f"must be after {start_field}"}],
        )


# --- events -------------------------------------------------------------------------------------------


def search_events(
    session: Session,
    organization_id: int,
    request: PageRequest,
    *,
    status: str | None = None,
    source: str | None = None,
    query: str | None = None,
    starts_from: datetime | None = None,
    starts_before: datetime | None = None,
) -> Page[dict[str, Any]]:
    """Events filtered on status, one exact source, a text query and start time; soonest first
    (`catalog/event_queries.find_events`, which also takes several sources)."""
    wanted = EventFilter(status, [source] if source else None, query, starts_from, starts_before)
    return find_events(session, organization_id, request, wanted)


def get_owned_event(session: Session, organization_id: int, event_id: int) -> Event:
    return EventRepository(session).get(organization_id, event_id)


@dataclass
class Totals:
    """Sales figures of one group in one currency, in minor units."""

    currency: str
    orders: int = 0
    tickets_sold: int = 0
    gross_cents: int = 0
    refunds_cents: int = 0
    refunded_orders: int = 0
    contacts: set[int] = field(default_factory=set)

    def add_order(self, status: str, tickets: int, total: int, refunded: int, contact_id: int | None) -> None:
        if status not in SOLD_STATUSES:
            return
        self.orders += 1
        self.gross_cents += total
        if status == "completed":
            self.tickets_sold += tickets
            self.refunds_cents += refunded
            if contact_id is not None:
                self.contacts.add(contact_id)
        else:
            self.refunds_cents += total
            self.refunded_orders += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "currency_code": self.currency,
            "orders": self.orders,
            "tickets_sold": self.tickets_sold,
            "gross_revenue": to_major(self.gross_cents, self.currency),
            "refunds": to_major(self.refunds_cents, self.currency),
            "net_revenue": to_major(self.gross_cents - self.refunds_cents, self.currency),
            "refunded_orders": self.refunded_orders,
        }


def event_sales(session: Session, organization_id: int, event_id: int) -> dict[str, Any]:
    """An event's figures per currency plus its attendee count (see the module docstring for the rules)."""
    get_owned_event(session, organization_id, event_id)
    totals: dict[str, Totals] = {}
    rows = session.execute(
        select(Order.status, Order.tickets, Order.total_cents, Order.refunded_cents, Order.currency, Order.contact_id)
        .where(Order.organization_id == organization_id, Order.event_id == event_id)
        .order_by(Order.id)
    )
    attendees: set[int] = set()
    for status, tickets, total, refunded, currency, contact_id in rows:
        totals.setdefault(currency, Totals(currency)).add_order(status, tickets, total, refunded, contact_id)
        if status == "completed":
            attendees.add(contact_id)
    return {
        "attendees": len(attendees),
        "by_currency": [totals[c].as_dict() for c in sorted(totals)],
    }


# --- sales report -------------------------------------------------------------------------------------


def sales_report(
    session: Session,
    organization_id: int,
    *,
    group_by: str,
    event_id: int | None = None,
    placed_from: datetime | None = None,
    placed_before: datetime | None = None,
) -> list[dict[str, Any]]:
    """Tickets and revenue grouped by UTC day of sale, ticket type or source, one row per group and currency.

    Dates filter on when orders were placed. For `ticket_type` the figures come from order items (a
    row's `orders` counts the orders holding that ticket type): a partial refund is shared among an
    order's items in proportion to their totals.
    """
    if group_by not in GROUP_BY_VALUES:
        raise InvalidInput(
            f"group_by must be one of {', '.join(GROUP_BY_VALUES)}",
            [{"index": None, "field": "group_by", "message": "unknown grouping"}],
        )
    conditions = _sale_conditions(session, organization_id, event_id, placed_from, placed_before)
    groups: dict[tuple[str, str], Totals] = {}

    def bucket(key: str, currency: str) -> Totals:
        return groups.setdefault((key, currency), Totals(currency))

    if group_by == "ticket_type":
        orders: dict[int, tuple[str, int, int]] = {}
        order_items: dict[int, list[tuple[str, int, int, str]]] = defaultdict(list)
        item_rows = (
            select(
                Order.id,
                Order.status,
                Order.total_cents,
                Order.refunded_cents,
                OrderItem.ticket_type_name,
                OrderItem.quantity,
                OrderItem.total_cents,
                OrderItem.currency,
            )
            .join(OrderItem, OrderItem.order_id == Order.id)
            .where(and_(*conditions))
            .order_by(Order.id, OrderItem.id)
        )
        for oid, status, o_total, o_refunded, name, qty, i_total, currency in session.execute(item_rows):
            orders[oid] = (status, o_total, o_refunded)
            order_items[oid].append((name or "(unnamed)", qty, i_total, currency))
        for oid, (status, _total, o_refunded) in orders.items():
            shares = _share(o_refunded, [i[2] for i in order_items[oid]]) if status == "completed" else None
            for index, (name, qty, i_total, currency) in enumerate(order_items[oid]):
                refunded = shares[index] if shares is not None else 0
                bucket(name, currency).add_order(status, qty, i_total, refunded, None)
    else:
        order_rows = select(
            Order.status,
            Order.tickets,
            Order.total_cents,
            Order.refunded_cents,
            Order.currency,
            Order.placed_at,
            Order.source,
        ).where(and_(*conditions))
        for status, tickets, total, refunded, currency, placed_at, source in session.execute(order_rows):
            key = placed_at.astimezone(UTC).date().isoformat() if group_by == "day" else source
            bucket(key, currency).add_order(status, tickets, total, refunded, None)
    return [{group_by: key, **groups[(key, currency)].as_dict()} for key, currency in sorted(groups)]


def sales_totals(
    session: Session,
    organization_id: int,
    *,
    event_id: int | None = None,
    placed_from: datetime | None = None,
    placed_before: datetime | None = None,
) -> list[dict[str, Any]]:
    """The same figures as `sales_report`, for all matching orders together: one entry per currency."""
    conditions = _sale_conditions(session, organization_id, event_id, placed_from, placed_before)
    totals: dict[str, Totals] = {}
    stmt = select(Order.status, Order.tickets, Order.total_cents, Order.refunded_cents, Order.currency).where(
        and_(*conditions)
    )
    for status, tickets, total, refunded, currency in session.execute(stmt):
        totals.setdefault(currency, Totals(currency)).add_order(status, tickets, total, refunded, None)
    return [totals[c].as_dict() for c in sorted(totals)]


def _sale_conditions(
    session: Session,
    organization_id: int,
    event_id: int | None,
    placed_from: datetime | None,
    placed_before: datetime | None,
) -> list[Any]:
    if event_id is not None:
        get_owned_event(session, organization_id, event_id)
    conditions: list[Any] = [Order.organization_id == organization_id, Order.status.in_(SOLD_STATUSES)]
    if event_id is not None:
        conditions.append(Order.event_id == event_id)
    if placed_from is not None:
        conditions.append(Order.placed_at >= placed_from)
    if placed_before is not None:
        conditions.append(Order.placed_at < placed_before)
    return conditions


def _share(amount: int, weights: Sequence[int]) -> list[int]:
    """Split `amount` in proportion to `weights` (integers summing to `amount`; the remainder goes last)."""
    total = sum(weights)
    if not weights:
        return []
    if total <= 0:
        return [0] * (len(weights) - 1) + [amount]
    shares = [amount * w // total for w in weights]
    shares[-1] += amount - sum(shares)
    return shares


# --- contacts -----------------------------------------------------------------------------------------


def contact_orders(session: Session, organization_id: int, contact_id: int, limit: int = 50) -> list[dict[str, Any]]:
    """A contact's most recent orders with their event names (newest first, at most `limit`)."""
    stmt = (
        select(Order, Event.name)
        .outerjoin(Event, Event.id == Order.event_id)
        .where(Order.organization_id == organization_id, Order.contact_id == contact_id)
        .order_by(Order.placed_at.desc(), Order.id.desc())
        .limit(limit)
    )
    return [
        {
            "order_id": o.id,
            "event_id": o.event_id,
            "event_name": name,
            "source": o.source,
            "status": o.status,
            "tickets": o.tickets,
            "total_price": to_major(o.total_cents, o.currency),
            "refunded_amount": to_major(o.refunded_cents, o.currency),
            "currency_code": o.currency,
            "placed_at": iso_utc(o.placed_at),
        }
        for o, name in session.execute(stmt)
    ]
