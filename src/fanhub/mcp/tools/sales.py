"""Sales tools: tickets and revenue grouped by day, ticket type or source, and the same as a PNG chart."""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Literal

from mcp_types import CallToolResult, ImageContent, TextContent
from pydantic import Field
from sqlalchemy.orm import Session

from fanhub.auth.actor import Actor
from fanhub.catalog.reports import check_range, get_owned_event, parse_bound, sales_totals
from fanhub.catalog.reports import sales_report as report
from fanhub.mcp import schemas as s
from fanhub.mcp.tools.base import bad, read_tool
from fanhub.mcp.tools.charts import Series, campaign_series, day_series, render_chart
from fanhub.timeutil import iso_utc


@read_tool()
def sales_report(
    session: Session,
    actor: Actor,
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
    start = parse_bound(start_date, "start_date")
    end = parse_bound(end_date, "end_date", end=True)
    check_range(start, end, "start_date", "end_date")
    org = actor.organization_id
    rows = report(session, org, group_by=group_by, event_id=event_id, placed_from=start, placed_before=end)
    totals = sales_totals(session, org, event_id=event_id, placed_from=start, placed_before=end)
    return s.SalesReport(
        group_by=group_by,
        event_id=event_id,
        start_date=iso_utc(start),
        end_date=iso_utc(end),
        rows=[s.SalesRow.model_validate({**row, "group": row[group_by]}) for row in rows],
        totals=[s.SalesFigures.model_validate(t) for t in totals],
    )


@read_tool()
def sales_chart(
    session: Session,
    actor: Actor,
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
    if event_id is not None and campaign_id is not None:
        raise bad("campaign_id", "give event_id or campaign_id, not both")
    org = actor.organization_id
    series: tuple[Series, str | None]
    today = datetime.now(UTC).date()
    # Every chart runs up to today (an event's, up to the show if it is over), quiet days at zero.
    window: tuple[date | None, date | None] = (None, today)
    if campaign_id is not None:
        subject, (title, series) = "campaign", campaign_series(session, org, campaign_id)
    else:
        since = None
        if event_id is not None:
            subject = "event"
            event = get_owned_event(session, org, event_id)
            title = f"Sales: {event.name}"
            show_end = event.end_at or event.start_at
            window = (None, min(today, show_end.date()) if show_end else today)
        else:
            subject = "organization"
            since = datetime.combine(
                datetime.now(UTC).date() - timedelta(days=days - 1), datetime.min.time(), tzinfo=UTC
            )
            title = f"Sales, last {days} days"
            window = (since.date(), today)
        series = day_series(report(session, org, group_by="day", event_id=event_id, placed_from=since))
    png, info = render_chart(title, subject, series, window)
    return CallToolResult(
        content=[
            ImageContent(type="image", data=base64.b64encode(png).decode(), mime_type="image/png"),
            TextContent(type="text", text=info.summary()),
        ],
        structured_content=info.model_dump(mode="json"),
    )
