"""An event's attendees: the contacts holding completed orders for it, with their orders and consent."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from fanhub.audience.models import Contact
from fanhub.catalog.models import Order, OrderItem
from fanhub.catalog.reports import get_owned_event
from fanhub.money import to_major
from fanhub.pagination import Page, PageRequest, paginate
from fanhub.timeutil import iso_utc

# -------------------------------------------------------------------------------------------


def _attendee_ids_query(organization_id: int, event_id: int) -> Select[Any]:
    return (
        select(Order.contact_id)
        .where(Order.organization_id == organization_id, Order.event_id == event_id, Order.status == "completed")
        .distinct()
    )


def list_attendees(session: Session, organization_id: int, event_id: int, request: PageRequest) -> Page[dict[str, Any]]:
    """Buyers holding completed orders for the event, by contact id, with their orders and consent."""
    get_owned_event(session, organization_id, event_id)
    ids = _attendee_ids_query(organization_id, event_id).subquery()
    stmt = select(Contact).where(Contact.organization_id == organization_id, Contact.id.in_(select(ids.c.contact_id)))
    page = paginate(session, stmt.order_by(Contact.id), request)
    return Page(attendee_views(session, organization_id, event_id, page.items), page.page, page.per_page, page.has_more)


def attendee_views(
    session: Session, organization_id: int, event_id: int, contacts: Sequence[Contact]
) -> list[dict[str, Any]]:
    ids = [c.id for c in contacts]
    orders: dict[int, list[Order]] = defaultdict(list)
    items: dict[int, list[OrderItem]] = defaultdict(list)
    if ids:
        for order in session.scalars(
            select(Order)
            .where(Order.organization_id == organization_id, Order.event_id == event_id, Order.contact_id.in_(ids))
            .order_by(Order.placed_at, Order.id)
        ):
            orders[order.contact_id].append(order)
        order_ids = [o.id for group in orders.values() for o in group]
        for item in session.scalars(select(OrderItem).where(OrderItem.order_id.in_(order_ids)).order_by(OrderItem.id)):
            items[item.order_id].append(item)
    views = []
    for c in contacts:
        own = orders[c.id]
        views.append(
            {
                "contact_id": c.id,
                "email": c.email,
                "phone": c.phone,
                "first_name": c.first_name,
                "last_name": c.last_name,
                "tickets": sum(o.tickets for o in own if o.status == "completed"),
                "email_subscription": c.email_status,
                "sms_subscription": c.sms_status,
                "orders": [
                    {
                        "order_id": o.id,
                        "source": o.source,
                        "external_id": o.external_id,
                        "status": o.status,
                        "tickets": o.tickets,
                        "total_price": to_major(o.total_cents, o.currency),
                        "refunded_amount": to_major(o.refunded_cents, o.currency),
                        "currency_code": o.currency,
                        "placed_at": iso_utc(o.placed_at),
                        "ticket_types": [{"name": i.ticket_type_name, "quantity": i.quantity} for i in items[o.id]],
                    }
                    for o in own
                ],
            }
        )
    return views


ATTENDEE_CSV_COLUMNS = (
    "contact_id",
    "email",
    "phone",
    "first_name",
    "last_name",
    "tickets",
    "ticket_types",
    "total_paid",
    "currency_code",
    "sources",
    "first_order_at",
    "email_subscription",
    "sms_subscription",
)


def attendee_csv(session: Session, organization_id: int, event_id: int, chunk: int = 500) -> tuple[str, int]:
    """The event's attendees as CSV text (one row per contact) and the row count."""
    get_owned_event(session, organization_id, event_id)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(ATTENDEE_CSV_COLUMNS)
    count = 0
    ids = sorted(session.scalars(_attendee_ids_query(organization_id, event_id)))
    for start in range(0, len(ids), chunk):
        contacts = list(
            session.scalars(select(Contact).where(Contact.id.in_(ids[start : start + chunk])).order_by(Contact.id))
        )
        for view in attendee_views(session, organization_id, event_id, contacts):
            completed = [o for o in view["orders"] if o["status"] == "completed"]
            currencies = sorted({o["currency_code"] for o in completed})
            ticket_types: dict[str, int] = defaultdict(int)
            for o in completed:
                for t in o["ticket_types"]:
                    ticket_types[t["name"] or "(unnamed)"] += t["quantity"]
            paid = sum((o["total_price"] or 0) - (o["refunded_amount"] or 0) for o in completed)
            writer.writerow(
                [
                    view["contact_id"],
                    view["email"] or "",
                    view["phone"] or "",
                    view["first_name"] or "",
                    view["last_name"] or "",
                    view["tickets"],
                    "; ".join(f"{name} x{qty}" for name, qty in sorted(ticket_types.items())),
                    f"{paid:.2f}" if len(currencies) == 1 else "",
                    "/".join(currencies),
                    "; ".join(sorted({o["source"] for o in completed})),
                    completed[0]["placed_at"] if completed else "",
                    view["email_subscription"],
                    view["sms_subscription"],
                ]
            )
            count += 1
    return out.getvalue(), count
