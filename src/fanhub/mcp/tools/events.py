"""Event tools: find events, one event in full, its attendees (paged or as a CSV file)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp_types import CallToolResult, EmbeddedResource, TextContent, TextResourceContents
from pydantic import Field
from sqlalchemy.orm import Session

from fanhub.audience.attendees import ATTENDEE_CSV_COLUMNS, attendee_csv
from fanhub.audience.attendees import list_attendees as attendees_page
from fanhub.auth.actor import Actor
from fanhub.catalog.event_queries import EventFilter, find_events
from fanhub.catalog.queries import get_event
from fanhub.catalog.reports import check_range, event_sales, get_owned_event, parse_bound
from fanhub.mcp import schemas as s
from fanhub.mcp.tools.base import DEFAULT_PAGE_SIZE, EventId, Page, PageSize, page_request, read_tool
from fanhub.mcp.tools.lookups import Source, resolve_source


def event_summary(view: dict[str, Any]) -> dict[str, Any]:
    return {
        **view,
        "venue": (view.get("location") or {}).get("name"),
        "net_revenue": view["revenue"],
    }


def event_details(session: Session, organization_id: int, event_id: int) -> s.EventDetails:
    """The event with its sales figures (get_event_details and the fanhub://events/{id} resource)."""
    view = get_event(session, organization_id, event_id)
    sales = event_sales(session, organization_id, event_id)
    return s.EventDetails.model_validate(
        {
            **event_summary(view),
            "venue_address": (view.get("location") or {}).get("address"),
            "doors_open_datetime": view.get("doors_open_datetime"),
            "attendees": sales["attendees"],
            "sales": sales["by_currency"],
            "resource_uri": f"fanhub://events/{event_id}",
        }
    )


@read_tool()
def list_events(
    session: Session,
    actor: Actor,
    status: Annotated[Literal["live", "canceled"] | None, Field(description="Only live or canceled events.")] = None,
    start_date: Annotated[
        str | None, Field(description="Events starting on/after this date or instant (UTC unless offset).")
    ] = None,
    end_date: Annotated[
        str | None,
        Field(description="Events starting before the end of this day (a date) or before this instant."),
    ] = None,
    source: Source = None,
    query: Annotated[
        str | None, Field(description="Words to find in the event name, venue, description or external id.")
    ] = None,
    page: Page = 1,
    page_size: PageSize = DEFAULT_PAGE_SIZE,
) -> s.EventList:
    """Find the organization's events across every ticketing source, soonest start first.

    Each event comes with tickets sold and net revenue. Use the returned `id` as event_id for
    get_event_details, list_attendees, export_attendee_data, sales_report and sales_chart.
    """
    start = parse_bound(start_date, "start_date")
    end = parse_bound(end_date, "end_date", end=True)
    check_range(start, end, "start_date", "end_date")
    wanted = EventFilter(
        status=status,
        sources=resolve_source(session, actor.organization_id, source, "events"),
        query=query,
        starts_from=start,
        starts_before=end,
    )
    found = find_events(session, actor.organization_id, page_request(page, page_size), wanted)
    return s.EventList(
        events=[s.EventSummary.model_validate(event_summary(v)) for v in found.items],
        paging=s.paging("list_events", page, page_size, found.has_more),
    )


@read_tool()
def get_event_details(session: Session, actor: Actor, event_id: EventId) -> s.EventDetails:
    """One event in full: ticket types and prices, source, tickets sold, gross and net revenue, refunds.

    Sales are per currency: gross = completed + refunded orders, refunds = partial refunds + refunded
    orders, net = gross - refunds; tickets sold and attendees count completed orders only.
    """
    return event_details(session, actor.organization_id, event_id)


@read_tool()
def list_attendees(
    session: Session, actor: Actor, event_id: EventId, page: Page = 1, page_size: PageSize = DEFAULT_PAGE_SIZE
) -> s.AttendeeList:
    """Buyers of an event (contacts with a completed order for it), with their tickets and consent state.

    One entry per person even if they placed several orders; each order is listed with its source.
    For the whole list as a file use export_attendee_data.
    """
    event = get_owned_event(session, actor.organization_id, event_id)
    found = attendees_page(session, actor.organization_id, event_id, page_request(page, page_size))
    return s.AttendeeList(
        event_id=event_id,
        event_name=event.name,
        attendees=[s.Attendee.model_validate(a) for a in found.items],
        paging=s.paging("list_attendees", page, page_size, found.has_more),
    )


@read_tool()
def export_attendee_data(session: Session, actor: Actor, event_id: EventId) -> Annotated[CallToolResult, s.ExportInfo]:
    """All buyers of an event as a CSV file, returned as an embedded resource (text/csv).

    One row per contact: contact_id, email, phone, names, tickets, ticket types, total paid, currency,
    sources, first order time, email and SMS subscription. Use it instead of paging list_attendees
    when the user wants a file or a spreadsheet.
    """
    event = get_owned_event(session, actor.organization_id, event_id)
    text, rows = attendee_csv(session, actor.organization_id, event_id)
    name = event.name
    uri = f"fanhub://events/{event_id}/attendees.csv"
    info = s.ExportInfo(
        event_id=event_id, event_name=name, rows=rows, columns=list(ATTENDEE_CSV_COLUMNS), resource_uri=uri
    )
    return CallToolResult(
        content=[
            TextContent(type="text", text=info.summary()),
            EmbeddedResource(type="resource", resource=TextResourceContents(uri=uri, mime_type="text/csv", text=text)),
        ],
        structured_content=info.model_dump(mode="json"),
    )
