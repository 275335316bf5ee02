"""Campaign analytics as `GET /v1/partners/campaigns/analytics` documents them.

Counts come from the delivery and tracking tables and attributed revenue from the attribution
table (see `campaigns.attribution`); a campaign that has not been delivered is not listed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fanhub.campaigns.models import Campaign
from fanhub.pagination import Page, PageRequest, paginate
from fanhub.timeutil import iso_utc

# Filled in by the sending/tracking layer: campaign ids -> per-campaign figures.
FigureSource = Callable[[Session, Sequence[int]], dict[int, dict[str, int]]]
_figure_sources: list[FigureSource] = []

FIGURES = (
    "num_recipients",
    "num_opens",
    "num_links_clicked",
    "num_unsubscribes",
    "num_undelivered",
    "attributed_tickets_sold",
    "attributed_revenue",
)


def register_figures(source: FigureSource) -> FigureSource:
    _figure_sources.append(source)
    return source


def campaign_analytics(
    session: Session, organization_id: int, request: PageRequest, campaign_type: str | None = None
) -> Page[dict[str, Any]]:
    query = select(Campaign).where(Campaign.organization_id == organization_id, Campaign.delivered_at.is_not(None))
    if campaign_type:
        query = query.where(Campaign.type == campaign_type)
    page = paginate(session, query.order_by(Campaign.delivered_at.desc(), Campaign.id.desc()), request)
    return Page(analytics_rows(session, page.items), page.page, page.per_page, page.has_more)


def analytics_rows(session: Session, campaigns: Sequence[Campaign]) -> list[dict[str, Any]]:
    ids = [c.id for c in campaigns]
    figures: dict[int, dict[str, int]] = {cid: dict.fromkeys(FIGURES, 0) for cid in ids}
    for source in _figure_sources:
        for cid, values in source(session, ids).items():
            figures[cid].update(values)
    return [
        {
            "campaign_id": c.id,
            "campaign_name": c.name,
            "campaign_subject_line": c.subject or "",
            "campaign_type": c.type,
            "delivered_at": iso_utc(c.delivered_at),
            **figures[c.id],
        }
        for c in campaigns
    ]
