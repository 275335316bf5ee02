"""fanhub's MCP server (official `mcp` SDK 2.x, `MCPServer`): tools and resources for AI assistants.

Everything is scoped to one organization: the `--org` of `fanhub mcp` (stdio), or the organization of
the bearer token on `/mcp` (Streamable HTTP; see `fanhub.mcp.endpoints`, which puts the `Caller` into
the request scope). Read tools need `mcp:read`, write tools `mcp:write`; every write tool call is
recorded in `mcp_audit_log` with the key that made it. No tool sends a campaign or changes consent.

Tools are plain synchronous functions (the SDK runs them on a worker thread), which read through the
domain services (`catalog.queries`, `catalog.reports`, `audience.queries`, ...). Domain errors become
tool errors (`is_error` results with a message naming the argument), never a crash.
"""

from __future__ import annotations

import base64
import functools
import io
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal, TypeVar

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceNotFoundError, ToolError
from mcp_types import CallToolResult, EmbeddedResource, ImageContent, TextContent, TextResourceContents, ToolAnnotations
from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from fanhub import __version__
from fanhub.auth.actor import Actor
from fanhub.auth.service import MCP_READ_SCOPE, MCP_WRITE_SCOPE
from fanhub.db.engine import Database
from fanhub.errors import FanhubError, InvalidInput, NotFound
from fanhub.mcp import schemas as s
from fanhub.mcp.models import McpAuditEntry
from fanhub.money import to_major, to_minor
from fanhub.pagination import PageRequest
from fanhub.timeutil import iso_utc

CALLER_SCOPE_KEY = "fanhub.mcp.caller"
DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 100
F = TypeVar("F", bound=Callable[..., Any])

INSTRUCTIONS = """\
fanhub is a venue's audience hub: events, ticket orders and contacts from every ticketing platform
(Partners API, Eventbrite, Ticket Tailor, Ticketor, imports) in one model, for one organization.
Start with list_events or search_contacts to find ids, then get_event_details, list_attendees,
sales_report or get_contact. Lists are paged (page_size at most 100); follow paging.next_page.
Money is in major units with its currency code. Write tools (create_campaign_draft, tag_contacts,
untag_contacts, sync_connection) need an mcp:write token and are audited; nothing here sends a
campaign or changes anyone's consent.
"""

Page = Annotated[int, Field(ge=1, le=100_000, description="Page number, from 1.")]
PageSize = Annotated[
    int, Field(ge=1, le=MAX_PAGE_SIZE, description=f"Items per page, 1-{MAX_PAGE_SIZE} (default {DEFAULT_PAGE_SIZE}).")
]
EventId = Annotated[int, Field(ge=1, description="fanhub event id (from list_events).")]
ContactId = Annotated[int, Field(ge=1, description="fanhub contact id (from search_contacts or list_attendees).")]
CampaignId = Annotated[int, Field(ge=1, description="fanhub campaign id (from list_campaigns).")]
DateArg = Annotated[
    str | None,
    Field(description="YYYY-MM-DD (a whole UTC day) or an ISO 8601 datetime; UTC unless it carries an offset."),
]

ContactIds = Annotated[
    list[Annotated[int, Field(ge=1)]], Field(min_length=1, max_length=500, description="1-500 contact ids.")
]
TagName = Annotated[str, Field(min_length=1, max_length=200, description="An existing tag's name.")]


@dataclass(frozen=True)
class Caller:
    """Who is calling: the organization everything is scoped to, the key (None on stdio) and its scopes."""

    organization_id: int
    key_id: int | None
    scopes: frozenset[str]
    transport: str

    @property
    def can_write(self) -> bool:
        return MCP_WRITE_SCOPE in self.scopes


def stdio_caller(organization_id: int, *, read_only: bool = False) -> Caller:
    scopes = {MCP_READ_SCOPE} if read_only else {MCP_READ_SCOPE, MCP_WRITE_SCOPE}
    return Caller(organization_id, None, frozenset(scopes), "stdio")


def _tool_errors(fn: F) -> F:
    """Turn domain errors into tool errors the model can read and act on."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except NotFound as exc:
            raise ToolError(str(exc)) from None
        except InvalidInput as exc:
            raise ToolError(exc.message) from None
        except FanhubError as exc:
            raise ToolError(str(exc)) from None

    return wrapper  # type: ignore[return-value]


def _bad(argument: str, message: str) -> ToolError:
    return ToolError(f"invalid argument {argument!r}: {message}")


def _event_summary(view: dict[str, Any]) -> dict[str, Any]:
    return {
        **view,
        "venue": (view.get("location") or {}).get("name"),
        "net_revenue": view["revenue"],
    }


def _contact_summary(view: dict[str, Any]) -> dict[str, Any]:
    return {
        **view,
        "email_subscription": view["subscriptions"]["email"]["status"],
        "sms_subscription": view["subscriptions"]["sms"]["status"],
        "lists": [item["name"] for item in view["lists"]],
    }


def _campaign_view(campaign: Any) -> dict[str, Any]:
    return {
        "id": campaign.id,
        "type": campaign.type,
        "name": campaign.name,
        "subject": campaign.subject,
        "status": campaign.status,
        "event_id": campaign.event_id,
        "audience": campaign.audience or {},
        "created_by": campaign.created_by,
        "created_at": iso_utc(campaign.created_at),
        "scheduled_at": iso_utc(campaign.scheduled_at),
        "delivered_at": iso_utc(campaign.delivered_at),
        "resource_uri": f"fanhub://campaigns/{campaign.id}",
    }


def build_server(database: Database, *, caller: Caller | None = None) -> MCPServer:
    """The MCP server over `database`; `caller` fixes the organization (stdio), else each request brings one."""
    mcp: MCPServer = MCPServer(
        "fanhub",
        title="fanhub audience hub",
        description="Events, buyers, audience and campaigns of one venue organization.",
        instructions=INSTRUCTIONS,
        version=__version__,
        log_level="WARNING",
    )
    read_only = ToolAnnotations(read_only_hint=True, open_world_hint=False)

    def current(ctx: Context | None) -> Caller:
        if caller is not None:
            return caller
        request = ctx.request_context.request if ctx is not None else None
        scope = getattr(request, "scope", None)
        found = scope.get(CALLER_SCOPE_KEY) if isinstance(scope, dict) else None
        if not isinstance(found, Caller):
            raise ToolError("not authenticated: send Authorization: Bearer <token> with an mcp:read token")
        return found

    def writer(ctx: Context, tool: str) -> Caller:
        who = current(ctx)
        if not who.can_write:
            raise ToolError(
                f"{tool} changes data and needs a token with the mcp:write scope; this token has only mcp:read "
                "(create one with: fanhub key create --org ORG_ID --partner NAME --scope mcp:write)"
            )
        return who

    def record(
        who: Caller, tool: str, arguments: dict[str, Any], outcome: str, result: dict[str, Any], exc: Exception | None
    ) -> None:
        """Audit one write tool call in its own transaction."""
        message = None
        if exc is not None:
            message = (str(exc) if isinstance(exc, FanhubError | ToolError) else type(exc).__name__)[:2000]
        with database.write() as session:
            session.add(_audit(who, tool, arguments, outcome, result, message))

    @contextmanager
    def audited(who: Caller, tool: str, arguments: dict[str, Any]) -> Iterator[tuple[Session, dict[str, Any]]]:
        """A write transaction that also records the call; failures are recorded in their own transaction."""
        result: dict[str, Any] = {}
        try:
            with database.write() as session:
                yield session, result
                session.add(_audit(who, tool, arguments, "ok", result, None))
        except Exception as exc:
            record(who, tool, arguments, "error", {}, exc)
            raise

    def page_request(page: int, page_size: int) -> PageRequest:
        return PageRequest(page, page_size)

    # --- events --------------------------------------------------------------------------------------

    @mcp.tool(annotations=read_only)
    @_tool_errors
    def list_events(
        ctx: Context,
        status: Annotated[
            Literal["live", "canceled"] | None, Field(description="Only live or canceled events.")
        ] = None,
        start_date: Annotated[
            str | None, Field(description="Events starting on/after this date or instant (UTC unless offset).")
        ] = None,
        end_date: Annotated[
            str | None,
            Field(description="Events starting before the end of this day (a date) or before this instant."),
        ] = None,
        source: Annotated[
            str | None, Field(description="Only events from this source, e.g. partner:acme or eventbrite:3.")
        ] = None,
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
        from fanhub.catalog.reports import check_range, parse_bound, search_events

        who = current(ctx)
        start = parse_bound(start_date, "start_date")
        end = parse_bound(end_date, "end_date", end=True)
        check_range(start, end, "start_date", "end_date")
        with database.read() as session:
            found = search_events(
                session,
                who.organization_id,
                page_request(page, page_size),
                status=status,
                source=source,
                query=query,
                starts_from=start,
                starts_before=end,
            )
        return s.EventList(
            events=[s.EventSummary.model_validate(_event_summary(v)) for v in found.items],
            paging=s.paging("list_events", page, page_size, found.has_more),
        )

    def event_details(session: Session, organization_id: int, event_id: int) -> s.EventDetails:
        from fanhub.catalog.queries import get_event
        from fanhub.catalog.reports import event_sales

        view = get_event(session, organization_id, event_id)
        sales = event_sales(session, organization_id, event_id)
        return s.EventDetails.model_validate(
            {
                **_event_summary(view),
                "venue_address": (view.get("location") or {}).get("address"),
                "doors_open_datetime": view.get("doors_open_datetime"),
                "attendees": sales["attendees"],
                "sales": sales["by_currency"],
                "resource_uri": f"fanhub://events/{event_id}",
            }
        )

    @mcp.tool(annotations=read_only)
    @_tool_errors
    def get_event_details(ctx: Context, event_id: EventId) -> s.EventDetails:
        """One event in full: ticket types and prices, source, tickets sold, gross and net revenue, refunds.

        Sales are per currency: gross = completed + refunded orders, refunds = partial refunds + refunded
        orders, net = gross - refunds; tickets sold and attendees count completed orders only.
        """
        who = current(ctx)
        with database.read() as session:
            return event_details(session, who.organization_id, event_id)

    # --- attendees -----------------------------------------------------------------------------------

    @mcp.tool(annotations=read_only)
    @_tool_errors
    def list_attendees(
        ctx: Context, event_id: EventId, page: Page = 1, page_size: PageSize = DEFAULT_PAGE_SIZE
    ) -> s.AttendeeList:
        """Buyers of an event (contacts with a completed order for it), with their tickets and consent state.

        One entry per person even if they placed several orders; each order is listed with its source.
        For the whole list as a file use export_attendee_data.
        """
        from fanhub.catalog.reports import get_owned_event
        from fanhub.catalog.reports import list_attendees as attendees_page

        who = current(ctx)
        with database.read() as session:
            event = get_owned_event(session, who.organization_id, event_id)
            found = attendees_page(session, who.organization_id, event_id, page_request(page, page_size))
            name = event.name
        return s.AttendeeList(
            event_id=event_id,
            event_name=name,
            attendees=[s.Attendee.model_validate(a) for a in found.items],
            paging=s.paging("list_attendees", page, page_size, found.has_more),
        )

    def contact_details(session: Session, organization_id: int, contact_id: int) -> s.ContactDetails:
        from fanhub.audience.queries import get_contact as contact_view
        from fanhub.catalog.reports import contact_campaign_touches, contact_orders

        view = contact_view(session, organization_id, contact_id, with_ledger=True)
        return s.ContactDetails.model_validate(
            {
                **_contact_summary(view),
                "orders": contact_orders(session, organization_id, contact_id),
                "campaign_touches": contact_campaign_touches(session, organization_id, contact_id),
                "resource_uri": f"fanhub://contacts/{contact_id}",
            }
        )

    @mcp.tool(annotations=read_only)
    @_tool_errors
    def get_attendee_details(
        ctx: Context,
        contact_id: Annotated[int | None, Field(ge=1, description="fanhub contact id; give this or email.")] = None,
        email: Annotated[str | None, Field(description="The buyer's email address; give this or contact_id.")] = None,
    ) -> s.ContactDetails:
        """One buyer in full, found by contact_id or email: identities, consent, orders across all events."""
        from fanhub.audience.queries import find_contact_id_by_email

        who = current(ctx)
        if (contact_id is None) == (email is None or not email.strip()):
            raise _bad("contact_id", "give exactly one of contact_id or email")
        with database.read() as session:
            if contact_id is None:
                assert email is not None
                contact_id = find_contact_id_by_email(session, who.organization_id, email)
            return contact_details(session, who.organization_id, contact_id)

    @mcp.tool(annotations=read_only)
    @_tool_errors
    def export_attendee_data(ctx: Context, event_id: EventId) -> Annotated[CallToolResult, s.ExportInfo]:
        """All buyers of an event as a CSV file, returned as an embedded resource (text/csv).

        One row per contact: contact_id, email, phone, names, tickets, ticket types, total paid, currency,
        sources, first order time, email and SMS subscription. Use it instead of paging list_attendees
        when the user wants a file or a spreadsheet.
        """
        from fanhub.catalog.reports import ATTENDEE_CSV_COLUMNS, attendee_csv, get_owned_event

        who = current(ctx)
        with database.read() as session:
            event = get_owned_event(session, who.organization_id, event_id)
            text, rows = attendee_csv(session, who.organization_id, event_id)
            name = event.name
        uri = f"fanhub://events/{event_id}/attendees.csv"
        info = s.ExportInfo(
            event_id=event_id, event_name=name, rows=rows, columns=list(ATTENDEE_CSV_COLUMNS), resource_uri=uri
        )
        return CallToolResult(
            content=[
                TextContent(type="text", text=f"{rows} attendee(s) of {name!r} (event {event_id}) as CSV: {uri}"),
                EmbeddedResource(
                    type="resource", resource=TextResourceContents(uri=uri, mime_type="text/csv", text=text)
                ),
            ],
            structured_content=info.model_dump(mode="json"),
        )

    # --- sales ---------------------------------------------------------------------------------------

    @mcp.tool(annotations=read_only)
    @_tool_errors
    def sales_report(
        ctx: Context,
        group_by: Annotated[
            Literal["day", "ticket_type", "source"],
            Field(description="day (UTC day of the order), ticket_type, or source (platform)."),
        ] = "day",
        event_id: Annotated[int | None, Field(ge=1, description="Only this event's orders; omit for all.")] = None,
        start_date: Annotated[str | None, Field(description="Orders placed on/after this date or instant.")] = None,
        end_date: Annotated[
            str | None, Field(description="Orders placed before the end of this day (a date) or this instant.")
        ] = None,
    ) -> s.SalesReport:
        """Tickets and revenue with currency, grouped by day, ticket type or source, for one event or all.

        Dates filter on when orders were placed (UTC unless an offset is given). Rows are per group and
        currency (for ticket_type, `orders` counts orders holding that type); `totals` adds everything up
        per currency. Canceled orders are ignored; refunded orders count
        in gross revenue and refunds but not in tickets sold.
        """
        from fanhub.catalog.reports import check_range, parse_bound, sales_totals
        from fanhub.catalog.reports import sales_report as report

        who = current(ctx)
        start = parse_bound(start_date, "start_date")
        end = parse_bound(end_date, "end_date", end=True)
        check_range(start, end, "start_date", "end_date")
        with database.read() as session:
            rows = report(
                session, who.organization_id, group_by=group_by, event_id=event_id, placed_from=start, placed_before=end
            )
            totals = sales_totals(session, who.organization_id, event_id=event_id, placed_from=start, placed_before=end)
        return s.SalesReport(
            group_by=group_by,
            event_id=event_id,
            start_date=iso_utc(start),
            end_date=iso_utc(end),
            rows=[s.SalesRow.model_validate({**row, "group": row[group_by]}) for row in rows],
            totals=[s.SalesFigures.model_validate(t) for t in totals],
        )

    @mcp.tool(annotations=read_only)
    @_tool_errors
    def sales_chart(
        ctx: Context,
        event_id: Annotated[int | None, Field(ge=1, description="Chart this event's sales.")] = None,
        campaign_id: Annotated[
            int | None, Field(ge=1, description="Chart this campaign's attributed sales over time.")
        ] = None,
        days: Annotated[
            int, Field(ge=1, le=366, description="Without event_id/campaign_id: chart the last N days (default 30).")
        ] = 30,
    ) -> Annotated[CallToolResult, s.ChartInfo]:
        """A PNG chart of tickets sold per day and cumulative net revenue, returned as image content.

        Give event_id (that event), or campaign_id (that campaign's attributed orders per day), or neither
        (the whole organization over the last `days` days). Show the image to the user.
        """
        who = current(ctx)
        if event_id is not None and campaign_id is not None:
            raise _bad("campaign_id", "give event_id or campaign_id, not both")
        with database.read() as session:
            if campaign_id is not None:
                subject, title, series = "campaign", *_campaign_series(session, who.organization_id, campaign_id)
            else:
                from fanhub.catalog.reports import get_owned_event
                from fanhub.catalog.reports import sales_report as report

                since = None
                if event_id is not None:
                    subject = "event"
                    title = f"Sales: {get_owned_event(session, who.organization_id, event_id).name}"
                else:
                    subject = "organization"
                    since = datetime.combine(
                        datetime.now(UTC).date() - timedelta(days=days - 1), datetime.min.time(), tzinfo=UTC
                    )
                    title = f"Sales, last {days} days"
                rows = report(session, who.organization_id, group_by="day", event_id=event_id, placed_from=since)
                series = _day_series(rows)
        png, info = _render_chart(title, subject, series)
        return CallToolResult(
            content=[
                ImageContent(type="image", data=base64.b64encode(png).decode(), mime_type="image/png"),
                TextContent(type="text", text=info.model_dump_json()),
            ],
            structured_content=info.model_dump(mode="json"),
        )

    # --- contacts ------------------------------------------------------------------------------------

    @mcp.tool(annotations=read_only)
    @_tool_errors
    def search_contacts(
        ctx: Context,
        query: Annotated[str | None, Field(description="Text found in the name, email or phone.")] = None,
        email: Annotated[str | None, Field(description="Exact email (any case).")] = None,
        phone: Annotated[str | None, Field(description="Exact phone, any format (normalised to E.164).")] = None,
        tag: Annotated[str | None, Field(description="Tag name.")] = None,
        list_id: Annotated[int | None, Field(ge=1, description="List id.")] = None,
        genre: Annotated[str | None, Field(description="Genre, e.g. Rock.")] = None,
        subscribed_to: Annotated[
            Literal["email", "sms"] | None, Field(description="Only contacts currently subscribed on this channel.")
        ] = None,
        bought_event_id: Annotated[
            int | None, Field(ge=1, description="Only contacts holding a completed order for this event.")
        ] = None,
        page: Page = 1,
        page_size: PageSize = DEFAULT_PAGE_SIZE,
    ) -> s.ContactList:
        """Find contacts (the organization's audience, merged across all sources); filters combine with AND.

        Returns each contact's id, identities, subscription state, tags, lists and genres; call get_contact
        for consent history, orders and campaign touches.
        """
        from fanhub.audience.models import SUBSCRIBED
        from fanhub.audience.queries import ContactFilter, find_contacts
        from fanhub.audience.vocabulary import canonical_genre
        from fanhub.catalog.reports import get_owned_event

        who = current(ctx)
        contact_filter = ContactFilter(
            q=(query or "").strip(),
            email=email,
            phone=phone,
            tag_name=tag,
            list_id=list_id,
            genre=canonical_genre(genre) if genre else "",
            email_status=SUBSCRIBED if subscribed_to == "email" else "",
            sms_status=SUBSCRIBED if subscribed_to == "sms" else "",
            bought_event_id=bought_event_id,
        )
        with database.read() as session:
            if bought_event_id is not None:
                get_owned_event(session, who.organization_id, bought_event_id)
            found = find_contacts(session, who.organization_id, page_request(page, page_size), contact_filter)
        return s.ContactList(
            contacts=[s.ContactSummary.model_validate(_contact_summary(v)) for v in found.items],
            paging=s.paging("search_contacts", page, page_size, found.has_more),
        )

    @mcp.tool(annotations=read_only)
    @_tool_errors
    def get_contact(ctx: Context, contact_id: ContactId) -> s.ContactDetails:
        """One contact in full: identities, the source records merged into it, consent history, orders and
        campaign touches."""
        who = current(ctx)
        with database.read() as session:
            return contact_details(session, who.organization_id, contact_id)

    @mcp.tool(annotations=read_only)
    @_tool_errors
    def count_audience(
        ctx: Context,
        segment: Annotated[
            s.Segment,
            Field(description='The audience, e.g. {"tags": ["VIP"], "bought_event_ids": [12]}; {} is everyone.'),
        ],
    ) -> s.AudienceCount:
        """How many contacts a campaign to this segment would reach on each channel (email, SMS).

        Only contacts currently subscribed on a channel count for it. Use before create_campaign_draft.
        """
        who = current(ctx)
        from fanhub.audience.segments import count_audience as counter

        wanted = segment.as_dict()
        with database.read() as session:
            counts = counter(session, who.organization_id, wanted)
        return s.AudienceCount(segment=wanted, email=int(counts["email"]), sms=int(counts["sms"]))

    # --- campaigns -----------------------------------------------------------------------------------

    @mcp.tool(annotations=read_only)
    @_tool_errors
    def list_campaigns(
        ctx: Context,
        type: Annotated[Literal["email", "sms"] | None, Field(description="Only email or SMS campaigns.")] = None,
        status: Annotated[
            Literal["draft", "scheduled", "sending", "sent"] | None, Field(description="Only campaigns in this state.")
        ] = None,
        page: Page = 1,
        page_size: PageSize = DEFAULT_PAGE_SIZE,
    ) -> s.CampaignList:
        """The organization's email and SMS campaigns, newest first, drafts included."""
        from fanhub.campaigns.models import Campaign
        from fanhub.pagination import paginate

        who = current(ctx)
        stmt = select(Campaign).where(Campaign.organization_id == who.organization_id)
        if type is not None:
            stmt = stmt.where(Campaign.type == type)
        if status is not None:
            stmt = stmt.where(Campaign.status == status)
        with database.read() as session:
            found = paginate(session, stmt.order_by(Campaign.id.desc()), page_request(page, page_size))
            views = [_campaign_view(c) for c in found.items]
        return s.CampaignList(
            campaigns=[s.CampaignSummary.model_validate(v) for v in views],
            paging=s.paging("list_campaigns", page, page_size, found.has_more),
        )

    @mcp.tool(annotations=read_only)
    @_tool_errors
    def campaign_analytics(
        ctx: Context,
        campaign_id: CampaignId,
        interval: Annotated[Literal["day", "hour"], Field(description="Time series bucket (UTC).")] = "day",
    ) -> s.CampaignAnalytics:
        """A campaign's results: recipients, unique opens and clicks, unsubscribes, undelivered, attributed
        tickets and revenue (the same figures as the analytics endpoint), plus time series."""
        from fanhub.campaigns.analytics import campaign_detail

        who = current(ctx)
        with database.read() as session:
            campaign = _owned_campaign(session, who.organization_id, campaign_id)
            detail = campaign_detail(session, who.organization_id, campaign_id, interval=interval)
            view = _campaign_view(campaign)
        figures = {k: v for k, v in detail.items() if k.startswith(("num_", "attributed_"))}
        return s.CampaignAnalytics(
            campaign=s.CampaignSummary.model_validate(view),
            figures=figures,
            interval=interval,
            time_series=detail.get("series", {}),
        )

    # --- writes --------------------------------------------------------------------------------------

    @mcp.tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False))
    @_tool_errors
    def create_campaign_draft(
        ctx: Context,
        type: Annotated[Literal["email", "sms"], Field(description="email or sms.")],
        name: Annotated[str, Field(min_length=1, max_length=300, description="Internal campaign name.")],
        body: Annotated[str, Field(min_length=1, description="Message body (email HTML/text or SMS text).")],
        segment: Annotated[
            s.Segment, Field(description="Audience, same format as count_audience; {} is everyone subscribed.")
        ],
        subject: Annotated[str | None, Field(description="Email subject line (required for email).")] = None,
        event_id: Annotated[int | None, Field(ge=1, description="The event this campaign promotes.")] = None,
    ) -> s.CampaignDraft:
        """Create a campaign DRAFT for staff to review; it is not scheduled and nothing is sent.

        Needs an mcp:write token; the call is audited. A person sends it later from the manager or CLI.
        """
        who = writer(ctx, "create_campaign_draft")
        from fanhub.campaigns.service import create_campaign as create

        arguments = {"type": type, "name": name, "subject": subject, "segment": segment.as_dict(), "event_id": event_id}
        with audited(who, "create_campaign_draft", arguments) as (session, result):
            # The campaigns domain validates type, subject, body, segment and event_id (naming the field).
            campaign = create(
                session,
                who.organization_id,
                type=type,
                name=name,
                body=body,
                subject=subject,
                audience=segment.as_dict(),
                event_id=event_id,
                created_by=_actor(who),
            )
            session.flush()
            view = _campaign_view(campaign)
            result["campaign_id"] = campaign.id
        return s.CampaignDraft(
            campaign=s.CampaignSummary.model_validate(view),
            note="Draft only: nothing was scheduled or sent. Staff review and send it from the manager or CLI.",
        )

    def change_tags(ctx: Context, tool: str, contact_ids: list[int], tag: str, add: bool) -> s.TagChange:
        from fanhub.audience.labels import TAG, change_labels
        from fanhub.audience.service import tag_ids_by_name

        who = writer(ctx, tool)
        name = tag.strip()
        if not name:
            raise _bad("tag", "must not be empty")
        ids = sorted(set(contact_ids))
        actor = Actor.mcp(who.organization_id, who.key_id, who.scopes)
        with audited(who, tool, {"contact_ids": ids, "tag": name}) as (session, result):
            tag_id = tag_ids_by_name(session, who.organization_id, [name]).get(name)
            if tag_id is None:
                raise _bad("tag", f"no tag named {name!r} in this organization (staff create tags in the manager)")
            change = change_labels(session, actor, TAG, tag_id, ids, add)
            result.update({"changed": change.changed})
        return s.TagChange(tag=name, contact_ids=ids, changed=change.changed)

    write_hint = ToolAnnotations(
        read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False
    )

    @mcp.tool(annotations=write_hint)
    @_tool_errors
    def tag_contacts(ctx: Context, contact_ids: ContactIds, tag: TagName) -> s.TagChange:
        """Add an existing tag to contacts (mcp:write; audited). Does not touch consent."""
        return change_tags(ctx, "tag_contacts", contact_ids, tag, True)

    @mcp.tool(annotations=write_hint)
    @_tool_errors
    def untag_contacts(ctx: Context, contact_ids: ContactIds, tag: TagName) -> s.TagChange:
        """Remove a tag from contacts (mcp:write; audited). Does not touch consent."""
        return change_tags(ctx, "untag_contacts", contact_ids, tag, False)

    @mcp.tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=True))
    @_tool_errors
    def sync_connection(
        ctx: Context,
        connection_id: Annotated[int, Field(ge=1, description="Id of a ticketing platform connection.")],
    ) -> s.SyncStarted:
        """Sync one ticketing platform connection (Eventbrite, Ticket Tailor, Ticketor) now.

        Runs one bounded slice of the sync (at most about 20 seconds); a longer sync continues in the
        background worker. New orders are applied by the worker shortly after. mcp:write; audited.
        """
        from fanhub.connectors.base import ConnectorError
        from fanhub.connectors.jobs import SYNC_SLICE_SECONDS
        from fanhub.connectors.models import Connection
        from fanhub.connectors.service import run_sync

        who = writer(ctx, "sync_connection")
        arguments = {"connection_id": connection_id}
        try:
            with database.read() as session:
                connection = session.get(Connection, connection_id)
                if connection is None or connection.organization_id != who.organization_id:
                    raise NotFound(f"connection {connection_id} not found")
                platform = connection.platform
            # The connectors domain claims the connection, syncs from its checkpoints and records the outcome.
            try:
                outcome = run_sync(database, connection_id, deadline=time.monotonic() + SYNC_SLICE_SECONDS)
            except ConnectorError as exc:
                raise ToolError(f"the sync of connection {connection_id} failed: {exc}") from None
        except Exception as exc:
            record(who, "sync_connection", arguments, "error", {}, exc)
            raise
        summary = {**outcome.summary(), "finished": outcome.finished}
        record(who, "sync_connection", arguments, "ok", summary, None)
        return s.SyncStarted(
            connection_id=connection_id,
            platform=platform,
            finished=outcome.finished,
            events=outcome.events,
            orders=outcome.orders,
            contacts=outcome.contacts,
            note="Finished." if outcome.finished else "Stopped after its time slice; the worker continues it.",
        )

    # --- resources -----------------------------------------------------------------------------------

    def resource_id(value: str, kind: str) -> int:
        if not value.isdigit() or int(value) < 1:
            raise ResourceNotFoundError(f"{kind} {value!r} not found")
        return int(value)

    def resource_read(fn: Callable[[Session, int], s.Out], kind: str, raw: str, ctx: Context) -> str:
        who = current(ctx)
        with database.read() as session:
            try:
                return fn(session, who.organization_id).model_dump_json(indent=2)
            except NotFound:
                raise ResourceNotFoundError(f"{kind} {raw} not found") from None

    @mcp.resource("fanhub://events/{id}", name="event", mime_type="application/json")
    def event_resource(id: str, ctx: Context) -> str:
        """An event with ticket types and sales figures (as get_event_details)."""
        event_id = resource_id(id, "event")
        return resource_read(lambda session, org: event_details(session, org, event_id), "event", id, ctx)

    @mcp.resource("fanhub://events/{id}/attendees.csv", name="event_attendees_csv", mime_type="text/csv")
    def attendees_resource(id: str, ctx: Context) -> str:
        """The event's buyers as CSV (as export_attendee_data)."""
        from fanhub.catalog.reports import attendee_csv

        event_id = resource_id(id, "event")
        who = current(ctx)
        with database.read() as session:
            try:
                return attendee_csv(session, who.organization_id, event_id)[0]
            except NotFound:
                raise ResourceNotFoundError(f"event {id} not found") from None

    @mcp.resource("fanhub://contacts/{id}", name="contact", mime_type="application/json")
    def contact_resource(id: str, ctx: Context) -> str:
        """A contact with identities, consent history, orders and campaign touches (as get_contact)."""
        contact_id = resource_id(id, "contact")
        return resource_read(lambda session, org: contact_details(session, org, contact_id), "contact", id, ctx)

    @mcp.resource("fanhub://campaigns/{id}", name="campaign", mime_type="application/json")
    def campaign_resource(id: str, ctx: Context) -> str:
        """A campaign with its body and audience."""
        campaign_id = resource_id(id, "campaign")
        who = current(ctx)
        with database.read() as session:
            try:
                campaign = _owned_campaign(session, who.organization_id, campaign_id)
            except NotFound:
                raise ResourceNotFoundError(f"campaign {id} not found") from None
            return json.dumps({**_campaign_view(campaign), "body": campaign.body}, indent=2)

    return mcp


# --- helpers ---------------------------------------------------------------------------------------------


def _actor(who: Caller) -> str:
    return f"mcp:key:{who.key_id}" if who.key_id is not None else "mcp:stdio"


def _audit(
    who: Caller, tool: str, arguments: dict[str, Any], outcome: str, result: dict[str, Any], error: str | None
) -> McpAuditEntry:
    return McpAuditEntry(
        organization_id=who.organization_id,
        key_id=who.key_id,
        transport=who.transport,
        tool=tool,
        arguments=json.loads(json.dumps(arguments, default=str)),
        outcome=outcome,
        result=json.loads(json.dumps(result, default=str)),
        error=error,
    )


def _owned_campaign(session: Session, organization_id: int, campaign_id: int) -> Any:
    from fanhub.campaigns.models import Campaign

    campaign = session.get(Campaign, campaign_id)
    if campaign is None or campaign.organization_id != organization_id:
        raise NotFound(f"campaign {campaign_id} not found")
    return campaign


Series = list[tuple[date, int, int]]


def _day_series(rows: list[dict[str, Any]]) -> tuple[Series, str | None]:
    """Daily (day, tickets, net minor units) of the dominant currency, and that currency."""
    if not rows:
        return [], None
    by_currency: dict[str, int] = {}
    for row in rows:
        by_currency[row["currency_code"]] = by_currency.get(row["currency_code"], 0) + row["tickets_sold"]
    currency = max(sorted(by_currency), key=lambda c: by_currency[c])
    series = [
        (date.fromisoformat(r["day"]), r["tickets_sold"], to_minor(r["net_revenue"], currency) or 0)
        for r in rows
        if r["currency_code"] == currency
    ]
    return series, currency


def _campaign_series(session: Session, organization_id: int, campaign_id: int) -> tuple[str, tuple[Series, str | None]]:
    """Attributed tickets and revenue per UTC day, from the campaigns domain's detail time series."""
    from fanhub.campaigns.analytics import campaign_detail

    campaign = _owned_campaign(session, organization_id, campaign_id)
    detail = campaign_detail(session, organization_id, campaign_id, interval="day")
    series: Series = [
        (date.fromisoformat(str(point["at"])[:10]), int(point.get("tickets", 0)), int(point.get("revenue", 0)))
        for point in detail["series"].get("attributed_orders", [])
    ]
    currency = None
    if campaign.event_id is not None:
        from fanhub.catalog.models import TicketType

        currency = session.scalar(select(TicketType.currency).where(TicketType.event_id == campaign.event_id).limit(1))
    return f"Attributed sales: {campaign.name}", (series, currency or "USD")


def _render_chart(title: str, subject: str, data: tuple[Series, str | None]) -> tuple[bytes, s.ChartInfo]:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    series, currency = data
    # Fill the days without sales so the bars sit on a real calendar.
    filled: Series = []
    if series:
        by_day = {d: (t, c) for d, t, c in series}
        day, last = series[0][0], series[-1][0]
        while day <= last:
            tickets, cents = by_day.get(day, (0, 0))
            filled.append((day, tickets, cents))
            day += timedelta(days=1)
    figure = Figure(figsize=(8, 4), dpi=100)
    axis = figure.add_subplot(1, 1, 1)
    axis.set_title(title)
    total_tickets = sum(t for _, t, _ in filled)
    total_cents = sum(c for _, _, c in filled)
    if filled:
        days: Any = [d for d, _, _ in filled]  # matplotlib plots dates; its stubs say numbers
        axis.bar(days, [t for _, t, _ in filled], color="#4C72B0", label="tickets sold")
        axis.set_ylabel("tickets sold per day")
        cumulative, running = [], 0
        for _, _, cents in filled:
            running += cents
            cumulative.append(to_major(running, currency or "USD") or 0.0)
        revenue_axis = axis.twinx()
        revenue_axis.plot(days, cumulative, color="#DD8452", marker="o", label="cumulative net revenue")
        revenue_axis.set_ylabel(f"cumulative net revenue ({currency})")
        figure.autofmt_xdate()
    else:
        axis.text(0.5, 0.5, "no sales in this period", ha="center", va="center", transform=axis.transAxes)
        axis.set_xticks([])
        axis.set_yticks([])
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    png = buffer.getvalue()
    info = s.ChartInfo(
        title=title,
        subject=subject,
        days=len(filled),
        currency_code=currency,
        tickets_sold=total_tickets,
        net_revenue=to_major(total_cents, currency or "USD"),
        png_bytes=len(png),
    )
    return png, info
