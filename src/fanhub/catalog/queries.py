"""Read side of the catalog: events and orders as the read API, manager and MCP show them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fanhub.catalog.models import Event, Order, OrderItem, TicketType
from fanhub.catalog.repository import EventRepository
from fanhub.money import to_major
from fanhub.pagination import Page, PageRequest, paginate
from fanhub.timeutil import iso_utc


def list_events(
    session: Session,
    organization_id: int,
    request: PageRequest,
    *,
    status: str | None = None,
    source: str | None = None,
    external_id: str | None = None,
) -> Page[dict[str, Any]]:
    query = select(Event).where(Event.organization_id == organization_id)
    if status:
        query = query.where(Event.status == status)
    if source:
        query = query.where(Event.source == source)
    if external_id:
        query = query.where(Event.external_id == external_id)
    page = paginate(session, query.order_by(Event.start_at.desc(), Event.id.desc()), request)
    return Page(event_views(session, page.items), page.page, page.per_page, page.has_more)


def get_event(session: Session, organization_id: int, event_id: int) -> dict[str, Any]:
    event = EventRepository(session).get(organization_id, event_id)
    return event_views(session, [event])[0]


def event_views(session: Session, events: Sequence[Event]) -> list[dict[str, Any]]:
    ids = [e.id for e in events]
    ticket_types: dict[int, list[TicketType]] = defaultdict(list)
    sold: dict[int, tuple[int, int]] = {}
    if ids:
        for tt in session.scalars(select(TicketType).where(TicketType.event_id.in_(ids)).order_by(TicketType.id)):
            ticket_types[tt.event_id].append(tt)
        totals = (
            select(Order.event_id, func.sum(Order.tickets), func.sum(Order.total_cents - Order.refunded_cents))
            .where(Order.event_id.in_(ids), Order.status == "completed")
            .group_by(Order.event_id)
        )
        sold = {int(row[0] or 0): (int(row[1] or 0), int(row[2] or 0)) for row in session.execute(totals)}
    views = []
    for e in events:
        tickets, revenue = sold.get(e.id, (0, 0))
        currency = ticket_types[e.id][0].currency if ticket_types[e.id] else "USD"
        views.append(
            {
                "id": e.id,
                "source": e.source,
                "external_id": e.external_id,
                "name": e.name,
                "url": e.url,
                "image_url": e.image_url,
                "description": e.description,
                "tags": e.tags,
                "status": e.status,
                "start_datetime": iso_utc(e.start_at),
                "end_datetime": iso_utc(e.end_at),
                "doors_open_datetime": iso_utc(e.doors_open_at),
                "time_zone": e.time_zone,
                "location": {"name": e.location_name, "address": e.location_address},
                "performers": e.performers,
                "ticket_types": [
                    {
                        "name": t.name,
                        "prefee_price": to_major(t.prefee_cents, t.currency),
                        "total_price": to_major(t.total_cents, t.currency),
                        "currency_code": t.currency,
                        "quantity": t.quantity,
                    }
                    for t in ticket_types[e.id]
                ],
                "tickets_sold": tickets,
                "revenue": to_major(revenue, currency),
                "currency_code": currency,
                "created_at": iso_utc(e.created_at),
                "updated_at": iso_utc(e.updated_at),
            }
        )
    return views


def list_orders(
    session: Session,
    organization_id: int,
    request: PageRequest,
    *,
    event_id: int | None = None,
    contact_id: int | None = None,
) -> Page[dict[str, Any]]:
    query = select(Order).where(Order.organization_id == organization_id)
    if event_id is not None:
        query = query.where(Order.event_id == event_id)
    if contact_id is not None:
        query = query.where(Order.contact_id == contact_id)
    page = paginate(session, query.order_by(Order.placed_at.desc(), Order.id.desc()), request)
    return Page(order_views(session, page.items), page.page, page.per_page, page.has_more)


def order_views(session: Session, orders: Sequence[Order]) -> list[dict[str, Any]]:
    items: dict[int, list[OrderItem]] = defaultdict(list)
    ids = [o.id for o in orders]
    if ids:
        for item in session.scalars(select(OrderItem).where(OrderItem.order_id.in_(ids)).order_by(OrderItem.id)):
            items[item.order_id].append(item)
    return [
        {
            "id": o.id,
            "source": o.source,
            "external_id": o.external_id,
            "event_id": o.event_id,
            "event_external_id": o.event_external_id,
            "contact_id": o.contact_id,
            "status": o.status,
            "currency_code": o.currency,
            "total_price": to_major(o.total_cents, o.currency),
            "prefee_price": to_major(o.prefee_cents, o.currency),
            "refunded_amount": to_major(o.refunded_cents, o.currency),
            "tickets": o.tickets,
            "marketing_opt_ins": {"email": o.email_opt_in, "sms": o.sms_opt_in},
            "items": [
                {
                    "ticket_type_name": i.ticket_type_name,
                    "quantity": i.quantity,
                    "prefee_price": to_major(i.prefee_cents, i.currency),
                    "total_price": to_major(i.total_cents, i.currency),
                    "currency_code": i.currency,
                }
                for i in items[o.id]
            ],
            "created_at": iso_utc(o.placed_at),
            "updated_at": iso_utc(o.updated_at),
        }
        for o in orders
    ]


def event_currency(session: Session, organization_id: int, event_id: int) -> str | None:
    """The currency the event's tickets are priced in (its first ticket type's), None without ticket types."""
    query = (
        select(TicketType.currency)
        .join(Event, Event.id == TicketType.event_id)
        .where(Event.organization_id == organization_id, TicketType.event_id == event_id)
        .order_by(TicketType.id)
        .limit(1)
    )
    return session.scalar(query)


def upcoming_event_rows(session: Session, organization_id: int, limit: int = 5) -> list[Event]:
    now = datetime.now(UTC)
    query = (
        select(Event)
        .where(Event.organization_id == organization_id, Event.start_at >= now)
        .order_by(Event.start_at, Event.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def event_choices(session: Session, organization_id: int, limit: int = 200) -> list[tuple[int, str, datetime]]:
    """The organization's latest events (id, name, start) for filter and segment pickers."""
    query = (
        select(Event.id, Event.name, Event.start_at)
        .where(Event.organization_id == organization_id)
        .order_by(Event.start_at.desc())
        .limit(limit)
    )
    return [(int(i), str(n), s) for i, n, s in session.execute(query)]
