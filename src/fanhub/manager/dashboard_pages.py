"""The dashboard and the events pages (list with sales; event page with sales per day and orders)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup

from fanhub import timeseries
from fanhub.audience.reports import audience_figures, consent_series
from fanhub.auth.users import ADMIN
from fanhub.campaigns.analytics import event_campaigns
from fanhub.catalog.queries import event_views, get_event, list_orders, upcoming_event_rows
from fanhub.catalog.reports import event_sales, sales_report, search_events
from fanhub.deliverability.queries import sender_warning
from fanhub.errors import InvalidInput
from fanhub.imports.review import needs_review
from fanhub.ingest.service import list_batches
from fanhub.manager import charts
from fanhub.manager.web import Staff, database, html, org_zone, page, path_int, query_int
from fanhub.pagination import PageRequest
from fanhub.timeutil import iso_utc


def register(router: APIRouter) -> None:
    page(router, "/")(dashboard)
    page(router, "/events")(events)
    page(router, "/events/{event_id}")(event_detail)


def _campaign_rows(session: Any, organization_id: int, limit: int) -> list[dict[str, Any]]:
    from fanhub.campaigns.analytics import campaign_analytics

    return list(campaign_analytics(session, organization_id, PageRequest(1, limit)).items)


def dashboard(request: Request, user: Staff) -> Response:
    org = user.organization_id
    with database(request).read() as session:
        figures = audience_figures(session, org)
        series = consent_series(session, org)
        batches = list_batches(session, org, limit=8)
        upcoming = event_views(session, upcoming_event_rows(session, org))
        campaigns = _campaign_rows(session, org, 5)
        sms_review = user.can(ADMIN) and needs_review(session, org)
        first_steps = _first_steps(session, org)
        warning = sender_warning(session, org)  # a rejection about the sender's own domain, last 7 days
    chart = charts.line_chart(
        series["labels"],
        [("New subscriptions", series["subscribed"]), ("Unsubscribes", series["unsubscribed"])],
        "Subscriptions and unsubscribes per day, last 30 days",
    )
    return html(
        request,
        "dashboard.html",
        {
            "figures": figures,
            "series": series,
            "chart": chart,
            "batches": batches,
            "upcoming": upcoming,
            "campaigns": campaigns,
            "sms_review": sms_review,
            "warning": warning,
            # Shown until every first step is done: what an empty organization does first.
            "first_steps": first_steps if not all(step["done"] for step in first_steps) else [],
        },
        user=user,
        zone=org_zone(request, org),
    )


def _first_steps(session: Any, organization_id: int) -> list[dict[str, Any]]:
    """The four things a new organization does first, each ticked off once done."""
    from fanhub.auth.service import list_keys
    from fanhub.auth.users import list_members
    from fanhub.connectors.service import list_connections
    from fanhub.imports.service import list_imports

    return [
        {
            "key": "connect",
            "label": "Connect a ticketing platform",
            "hint": "Eventbrite, Ticket Tailor or Ticketor: events, orders and buyers sync on their own.",
            "href": "/manager/settings/connections",
            "done": bool(list_connections(session, organization_id)),
        },
        {
            "key": "import",
            "label": "Import your existing contacts",
            "hint": "A CSV file from your previous tool, with a subscription choice per channel.",
            "href": "/manager/imports",
            "done": bool(list_imports(session, organization_id, limit=1)),
        },
        {
            "key": "key",
            "label": "Create a Partners API key",
            "hint": "For a ticketing partner or your website to send orders and sign-ups.",
            "href": "/manager/settings/keys",
            "done": any(key.revoked_at is None for key in list_keys(session, organization_id)),
        },
        {
            "key": "invite",
            "label": "Invite a colleague",
            "hint": "Marketers and viewers get their own sign-in.",
            "href": "/manager/settings/users",
            "done": len(list_members(session, organization_id)) > 1,
        },
    ]


STATUSES = ("live", "canceled")


def events(request: Request, user: Staff) -> Response:
    from fanhub.catalog.reports import parse_bound

    org = user.organization_id
    q = request.query_params.get("q", "").strip()[:200]
    status = request.query_params.get("status", "")
    status = status if status in STATUSES else ""
    source = request.query_params.get("source", "").strip()[:120]
    when = request.query_params.get("when", "upcoming")
    when = when if when in ("upcoming", "past", "all") else "upcoming"
    date_from = request.query_params.get("from", "").strip()[:40]
    page_no = max(1, min(query_int(request, "page", 1) or 1, 100000))
    error = None
    try:
        starts_from = parse_bound(date_from, "from") if date_from else None
    except InvalidInput as exc:
        starts_from, error = None, exc.message
    with database(request).read() as session:
        from datetime import UTC, datetime

        now = datetime.now(UTC)
        kwargs: dict[str, Any] = {"status": status or None, "source": source or None, "query": q or None}
        if starts_from is not None:
            kwargs["starts_from"] = starts_from
        elif when == "upcoming":
            kwargs["starts_from"] = now
        if when == "past":
            kwargs["starts_before"] = now
        result = search_events(session, org, PageRequest(page_no, 25), **kwargs)
    params = {"q": q, "status": status, "source": source, "when": when, "from": date_from}
    return html(
        request,
        "events.html",
        {"events": result.items, "page": result, "params": params, "statuses": STATUSES, "error": error},
        user=user,
        zone=org_zone(request, org),
    )


def event_detail(request: Request, user: Staff) -> Response:
    org = user.organization_id
    event_id = path_int(request, "event_id")
    with database(request).read() as session:
        event = get_event(session, org, event_id)
        sales = event_sales(session, org, event_id)
        per_day = sales_report(session, org, group_by="day", event_id=event_id)
        orders = list_orders(session, org, PageRequest(1, 50), event_id=event_id)
        drivers = event_campaigns(session, org, event_id)
    chart = _sales_chart(per_day, event["end_datetime"] or event["start_datetime"])
    return html(
        request,
        "event.html",
        {
            "e": event,
            "sales": sales,
            "chart": chart,
            "orders": orders.items,
            "drivers": drivers,
            "has_sales": bool(per_day),
        },
        user=user,
        zone=org_zone(request, org),
    )


__all__ = ["register", "iso_utc"]


def _sales_chart(per_day: list[dict[str, Any]], event_end: str | None) -> Markup | None:
    """Tickets sold per day from the first sale up to today (or the show, if it is over), quiet days
    at zero; per week when that is more than two months of bars."""
    if not per_day:
        return None
    sold: dict[date, float] = defaultdict(float)
    for row in per_day:
        sold[date.fromisoformat(row["day"])] += row["tickets_sold"]
    last = datetime.now(UTC).date()
    if event_end:
        last = min(last, datetime.fromisoformat(event_end).date())
    days = timeseries.calendar_days(min(sold), max(last, max(sold)))
    bucket = timeseries.bucket_for(days)
    starts, values = timeseries.by_bucket(days, timeseries.zero_filled(sold, days), bucket)
    title = f"Tickets sold per {bucket}"
    return charts.bar_chart([timeseries.label(d, bucket) for d in starts], values, title, title)
