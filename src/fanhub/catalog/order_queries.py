"""Finding orders: one page of the organization's orders, filtered by event, contact, status, source
and when they were placed, as `catalog.queries.order_views` shows them (with the event's name)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fanhub.catalog.models import Event, Order
from fanhub.catalog.queries import order_views
from fanhub.catalog.repository import OrderRepository
from fanhub.db.bulk import values_in
from fanhub.pagination import Page, PageRequest

ORDER_STATUSES = ("completed", "refunded", "canceled")


@dataclass(frozen=True)
class OrderFilter:
    """Conditions that combine with AND; `sources` is a list of full sources (any of them)."""

    event_id: int | None = None
    contact_id: int | None = None
    status: str | None = None
    sources: Sequence[str] | None = None
    placed_from: datetime | None = None
    placed_before: datetime | None = None


def search_orders(
    session: Session, organization_id: int, request: PageRequest, wanted: OrderFilter
) -> Page[dict[str, Any]]:
    """One page of orders, most recently placed first."""
    repository = OrderRepository(session)
    query = repository.readable(organization_id)
    if wanted.event_id is not None:
        query = query.where(Order.event_id == wanted.event_id)
    if wanted.contact_id is not None:
        query = query.where(Order.contact_id == wanted.contact_id)
    if wanted.status is not None:
        query = query.where(Order.status == wanted.status)
    if wanted.sources is not None:
        query = query.where(values_in(Order.source, sorted(set(wanted.sources))))
    if wanted.placed_from is not None:
        query = query.where(Order.placed_at >= wanted.placed_from)
    if wanted.placed_before is not None:
        query = query.where(Order.placed_at < wanted.placed_before)
    page: Page[Order] = repository.paginate(query.order_by(Order.placed_at.desc(), Order.id.desc()), request)
    views = order_views(session, page.items)
    names = event_names(session, organization_id, [v["event_id"] for v in views if v["event_id"] is not None])
    for view in views:
        view["event_name"] = names.get(view["event_id"]) if view["event_id"] is not None else None
        view["placed_at"] = view["created_at"]
    return Page(views, page.page, page.per_page, page.has_more)


def event_names(session: Session, organization_id: int, event_ids: Sequence[int]) -> dict[int, str]:
    wanted = sorted(set(event_ids))
    if not wanted:
        return {}
    query = select(Event.id, Event.name).where(Event.organization_id == organization_id, values_in(Event.id, wanted))
    return {int(event_id): str(name) for event_id, name in session.execute(query)}
