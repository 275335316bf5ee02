"""Lookup tools: the ids other tools take (connections, tags, lists) and the orders themselves.

Sources: a `source` argument is a full source (`eventbrite:3`, `partner:acme`) or a platform's name
(`eventbrite`: every connection of that platform). One this organization has no record from and no
connection for is an error naming the argument and listing the known sources, never an empty page.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field
from sqlalchemy.orm import Session

from fanhub.audience.label_queries import page_lists, page_tags
from fanhub.audience.repository import ContactRepository
from fanhub.auth.actor import Actor
from fanhub.catalog.order_queries import OrderFilter, search_orders
from fanhub.catalog.reports import check_range, get_owned_event, parse_bound
from fanhub.catalog.source_queries import matching_sources, record_sources
from fanhub.connectors.service import list_connections as connection_views
from fanhub.mcp import schemas as s
from fanhub.mcp.tools.base import DEFAULT_PAGE_SIZE, Page, PageSize, bad, page_request, read_tool

Source = Annotated[
    str | None,
    Field(
        max_length=200,
        description="A source such as eventbrite:3 or partner:acme, or a platform's name (eventbrite: all its "
        "connections); see list_connections.",
    ),
]
NameQuery = Annotated[str | None, Field(max_length=200, description="Text found in the name (any case).")]


def _connections(session: Session, organization_id: int) -> list[dict[str, Any]]:
    views = connection_views(session, organization_id)
    return [{**view, "source": f"{view['platform']}:{view['id']}"} for view in views]


def resolve_source(session: Session, organization_id: int, source: str | None, what: str) -> list[str] | None:
    """The full sources `source` stands for (None: no filter); an unknown source is an error on `source`."""
    if source is None or not source.strip():
        return None
    known = set(record_sources(session, organization_id))
    known |= {c["source"] for c in _connections(session, organization_id)}
    found = matching_sources(source, known)
    if not found:
        listed = ", ".join(sorted(known)) or "none yet"
        raise bad(
            "source",
            f"no {what} come from {source.strip()!r} in this organization; its sources are: {listed} "
            "(a platform's name such as eventbrite covers all its connections)",
        )
    return found


@read_tool()
def list_connections(session: Session, actor: Actor) -> s.ConnectionList:
    """The organization's ticketing platform connections (Eventbrite, Ticket Tailor, Ticketor).

    Each has its id (for sync_connection), its `source` (as events and orders carry it; pass it as
    `source` to list_events or list_orders), its status, last sync and counts of records so far.
    """
    views = _connections(session, actor.organization_id)
    return s.ConnectionList(connections=[s.ConnectionOut.model_validate(v) for v in views])


@read_tool()
def list_tags(
    session: Session, actor: Actor, query: NameQuery = None, page: Page = 1, page_size: PageSize = DEFAULT_PAGE_SIZE
) -> s.TagList:
    """The organization's tags by name, each with how many contacts carry it.

    Use a tag's name in search_contacts (tag), count_audience and create_campaign_draft (segment.tags),
    tag_contacts and untag_contacts.
    """
    found = page_tags(session, actor.organization_id, page_request(page, page_size), query)
    return s.TagList(
        tags=[s.LabelOut.model_validate(v) for v in found.items],
        paging=s.paging("list_tags", page, page_size, found.has_more),
    )


@read_tool()
def list_lists(
    session: Session, actor: Actor, query: NameQuery = None, page: Page = 1, page_size: PageSize = DEFAULT_PAGE_SIZE
) -> s.ListList:
    """The organization's contact lists by name, each with how many contacts are on it.

    Use a list's id in search_contacts (list_id), count_audience and create_campaign_draft
    (segment.list_ids).
    """
    found = page_lists(session, actor.organization_id, page_request(page, page_size), query)
    return s.ListList(
        lists=[s.LabelOut.model_validate(v) for v in found.items],
        paging=s.paging("list_lists", page, page_size, found.has_more),
    )


@read_tool()
def list_orders(
    session: Session,
    actor: Actor,
    event_id: Annotated[int | None, Field(ge=1, description="Only this event's orders.")] = None,
    contact_id: Annotated[int | None, Field(ge=1, description="Only this contact's orders.")] = None,
    status: Annotated[
        Literal["completed", "refunded", "canceled"] | None, Field(description="Only orders in this state.")
    ] = None,
    source: Source = None,
    start_date: Annotated[str | None, Field(description="Orders placed on/after this date or instant.")] = None,
    end_date: Annotated[
        str | None, Field(description="Orders placed before the end of this day (a date) or this instant.")
    ] = None,
    page: Page = 1,
    page_size: PageSize = DEFAULT_PAGE_SIZE,
) -> s.OrderList:
    """Orders across every ticketing source, most recently placed first; filters combine with AND.

    Each order has its source and external id, event, contact, status, tickets, total and refund with
    currency, and its ticket lines. For totals use sales_report instead of adding pages up.
    """
    org = actor.organization_id
    if event_id is not None:
        get_owned_event(session, org, event_id)  # another organization's event is not found
    if contact_id is not None:
        ContactRepository(session).get(org, contact_id)
    start = parse_bound(start_date, "start_date")
    end = parse_bound(end_date, "end_date", end=True)
    check_range(start, end, "start_date", "end_date")
    wanted = OrderFilter(
        event_id=event_id,
        contact_id=contact_id,
        status=status,
        sources=resolve_source(session, org, source, "orders"),
        placed_from=start,
        placed_before=end,
    )
    found = search_orders(session, org, page_request(page, page_size), wanted)
    return s.OrderList(
        orders=[s.OrderOut.model_validate(v) for v in found.items],
        paging=s.paging("list_orders", page, page_size, found.has_more),
    )
