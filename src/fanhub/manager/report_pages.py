"""Campaign report pages: the report section of a campaign's page (rates of delivered, revenue per
currency, attributed orders and the recipients list by name), the recipients as CSV, and campaigns
compared side by side.

The figures and their definitions are `fanhub.campaigns.report` and `report_recipients`; these
pages parse the query and render. Registered before `campaign_pages`, so `/campaigns/compare` is
not read as a campaign id.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy.orm import Session

from fanhub.campaigns.report import (
    COMPARE_DEFAULT,
    attributed_orders,
    campaign_report,
    compare_campaigns,
    sent_campaigns,
)
from fanhub.campaigns.report_recipients import FILTERS, iter_recipients, parse_filter, recipients_csv, recipients_page
from fanhub.errors import InvalidInput
from fanhub.manager.web import Staff, database, html, org_zone, page, path_int, query_int

COMPARE_CHOICES = (2, 3, 5, 10, 20)


def register(router: APIRouter) -> None:
    page(router, "/campaigns/compare")(compare_page)
    page(router, "/campaigns/{campaign_id}/recipients.csv")(recipients_csv_download)


def report_context(request: Request, session: Session, organization_id: int, campaign_id: int) -> dict[str, Any]:
    """What the campaign page's report section shows: `report` (counts, rates, revenue per currency),
    `named_orders` (attributed orders with the buyer's name), and once sending has started the
    `recipients` page chosen by the query (`filter`, `after` or `before` a delivery id)."""
    report = campaign_report(session, organization_id, campaign_id)
    chosen = parse_filter(request.query_params.get("filter"))
    recipients = None
    if report.delivered_at is not None:
        recipients = recipients_page(
            session,
            organization_id,
            campaign_id,
            chosen,
            after=query_int(request, "after"),
            before=query_int(request, "before"),
        )
    return {
        "report": report,
        "named_orders": attributed_orders(session, organization_id, campaign_id),
        "recipients": recipients,
        "filters": FILTERS,
        "recipient_filter": chosen,
    }


def recipients_csv_download(request: Request, user: Staff) -> Response:
    """Every recipient matching `filter` (all pages), streamed as CSV."""
    campaign_id = path_int(request, "campaign_id")
    chosen = parse_filter(request.query_params.get("filter"))
    rows = iter_recipients(database(request), user.organization_id, campaign_id, chosen)
    name = f"campaign-{campaign_id}-recipients" + ("" if chosen == "all" else f"-{chosen.replace('_', '-')}")
    return StreamingResponse(
        recipients_csv(rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"', "Cache-Control": "no-store"},
    )


def _ids(request: Request) -> list[int]:
    ids: list[int] = []
    for raw in request.query_params.getlist("ids"):
        value = raw.strip()
        if not value.isdigit() or len(value) > 18:
            message = f"{value[:20]!r} is not a campaign id"
            raise InvalidInput(f"ids: {message}", [{"field": "ids", "message": message}])
        ids.append(int(value))
    return ids


def compare_page(request: Request, user: Staff) -> Response:
    """The chosen campaigns (`ids`), or the last `n` that went out (`type` email or sms), side by side."""
    org = user.organization_id
    raw_n = request.query_params.get("n", "").strip()
    if raw_n and not raw_n.isdigit():
        raise InvalidInput("n must be a whole number", [{"field": "n", "message": "must be a whole number"}])
    limit = int(raw_n[:3]) if raw_n else COMPARE_DEFAULT
    kind = request.query_params.get("type", "").strip()
    ids = _ids(request)
    with database(request).read() as session:
        reports = compare_campaigns(session, org, campaign_ids=ids, limit=limit, campaign_type=kind or None)
        choices = sent_campaigns(session, org, limit=50)
    shown = {r.campaign_id for r in reports}
    return html(
        request,
        "campaign_compare.html",
        {
            "reports": reports,
            "choices": choices,
            "shown": shown,
            "n": limit,
            "n_choices": sorted({*COMPARE_CHOICES, limit}),
            "kind": kind,
            "chosen_ids": ids,
        },
        user=user,
        zone=org_zone(request, org),
    )
