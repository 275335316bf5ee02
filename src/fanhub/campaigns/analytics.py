"""Campaign analytics as `GET /v1/partners/campaigns/analytics` documents them, plus one campaign's detail.

Figures come from `CampaignStats`, the counters kept in step with the delivery, tracking and
attribution rows in the same transactions that write those rows, so a page of campaigns costs one
indexed lookup per page, however many millions of deliveries and orders exist. A campaign that
has not gone out yet (`delivered_at` empty) is not listed.

- `status`: `sending`, `paused`, `sent` or `cancelled` (see `campaigns/lifecycle.py`);
- `num_recipients`: recipients fixed when sending started; `num_undelivered`: deliveries that
  finally failed (SMTP rejections, hard bounces, soft bounces after retries; an `unknown` crash
  casualty is not counted); `num_suppressed`: addresses left out because they were suppressed;
  `num_hard_bounces` / `num_soft_bounces` / `num_complaints`: see `fanhub.deliverability`;
- `num_opens` / `num_links_clicked`: unique recipients (machine opens excluded, see `tracking`);
- `attributed_tickets_sold` / `attributed_revenue` (minor units, net of refunds): see `attribution`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fanhub.campaigns.models import Attribution, Campaign, CampaignLink, CampaignStats, Click, Delivery
from fanhub.campaigns.repository import CampaignRepository
from fanhub.catalog.models import Order
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
    # fanhub's additions (deliverability, issue 19): bounces and complaints reported for the
    # campaign's deliveries, and addresses left out because they were suppressed (never recipients).
    "num_hard_bounces",
    "num_soft_bounces",
    "num_complaints",
    "num_suppressed",
)


def register_figures(source: FigureSource) -> FigureSource:
    _figure_sources.append(source)
    return source


def campaign_analytics(
    session: Session, organization_id: int, request: PageRequest, campaign_type: str | None = None
) -> Page[dict[str, Any]]:
    query = select(Campaign).where(
        Campaign.organization_id == organization_id,
        Campaign.delivered_at.is_not(None),
        Campaign.flow_id.is_(None),  # a flow's step campaigns are in the flows analytics
    )
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
            "status": c.status,  # sending | paused | sent | cancelled (campaigns/lifecycle.py)
            # Why the reputation guard paused it (campaigns/guard.py), while it is paused.
            "paused_reason": c.paused_reason if c.status == "paused" else None,
            "delivered_at": iso_utc(c.delivered_at),
            **figures[c.id],
        }
        for c in campaigns
    ]


@register_figures
def _stats_figures(session: Session, campaign_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    if not campaign_ids:
        return {}
    rows = session.scalars(select(CampaignStats).where(CampaignStats.campaign_id.in_(list(campaign_ids))))
    return {s.campaign_id: _figures(s) for s in rows}


def _figures(stats: CampaignStats) -> dict[str, int]:
    return {
        "num_recipients": stats.recipients,
        "num_opens": stats.opens,
        "num_links_clicked": stats.clickers,
        "num_unsubscribes": stats.unsubscribes,
        "num_undelivered": stats.undelivered,
        "attributed_tickets_sold": stats.attributed_tickets,
        "attributed_revenue": stats.attributed_revenue,
        "num_hard_bounces": stats.hard_bounces,
        "num_soft_bounces": stats.soft_bounces,
        "num_complaints": stats.complaints,
        "num_suppressed": stats.suppressed,
    }


def _bucket_sql(column: Any, interval: str, dialect: str) -> Any:
    """The UTC hour or day of `column` as RFC 3339 text (`2026-01-15T00:00:00Z`), computed by the database."""
    if dialect == "sqlite":  # stored as naive UTC text
        return func.strftime("%Y-%m-%dT%H:00:00Z" if interval == "hour" else "%Y-%m-%dT00:00:00Z", column)
    return func.to_char(
        func.date_trunc(interval, func.timezone("UTC", column)),
        'YYYY-MM-DD"T"HH24:00:00"Z"',
    )


def campaign_detail(session: Session, organization_id: int, campaign_id: int, interval: str = "day") -> dict[str, Any]:
    """One campaign: the list row, raw counts, and time series (first open / first click per recipient,
    attributed orders with their tickets and revenue), bucketed by UTC hour or day."""
    campaign = CampaignRepository(session).get(organization_id, campaign_id)
    stats = session.get(CampaignStats, campaign_id)
    row = analytics_rows(session, [campaign])[0]
    series: dict[str, dict[str, dict[str, int]]] = {"opens": {}, "clicks": {}, "attributed_orders": {}}

    dialect = session.get_bind().dialect.name
    # Bucketing happens in SQL: a large campaign has tens of thousands of engaged recipients.
    for name, column in (("opens", Delivery.opened_at), ("clicks", Delivery.clicked_at)):
        bucket = _bucket_sql(column, interval, dialect)
        for at, count in session.execute(
            select(bucket, func.count())
            .where(Delivery.campaign_id == campaign_id, column.is_not(None))
            .group_by(bucket)
        ):
            series[name][str(at)] = {"count": int(count)}
    bucket = _bucket_sql(Attribution.placed_at, interval, dialect)
    for at, count, tickets, revenue in session.execute(
        select(bucket, func.count(), func.sum(Attribution.tickets), func.sum(Attribution.revenue_cents))
        .where(Attribution.campaign_id == campaign_id)
        .group_by(bucket)
    ):
        series["attributed_orders"][str(at)] = {
            "count": int(count),
            "tickets": int(tickets or 0),
            "revenue": int(revenue or 0),
        }
    return {
        **row,
        "status": campaign.status,
        "event_id": campaign.event_id,
        "num_delivered": stats.delivered if stats else 0,
        "num_skipped": stats.skipped if stats else 0,
        "num_unknown": stats.unknown if stats else 0,
        "num_machine_opens": stats.machine_opens if stats else 0,
        "num_open_events": stats.open_events if stats else 0,
        "num_click_events": stats.click_events if stats else 0,
        "attributed_orders": stats.attributed_orders if stats else 0,
        "finished_at": iso_utc(stats.finished_at) if stats else None,
        "interval": interval,
        "series": {
            name: [{"at": at, **values} for at, values in sorted(buckets.items())] for name, buckets in series.items()
        },
    }


def links_clicked(session: Session, organization_id: int, campaign_id: int) -> list[tuple[str, int]]:
    """The campaign's links by distinct clickers (top 50); another organization's campaign has none."""
    rows = session.execute(
        select(CampaignLink.url, func.count(func.distinct(Click.delivery_id)))
        .join(Click, Click.link_id == CampaignLink.id)
        .join(Campaign, Campaign.id == CampaignLink.campaign_id)
        .where(CampaignLink.campaign_id == campaign_id, Campaign.organization_id == organization_id)
        .group_by(CampaignLink.url)
        .order_by(func.count(func.distinct(Click.delivery_id)).desc())
        .limit(50)
    )
    return [(str(url), int(n)) for url, n in rows]


def attributed_orders(session: Session, organization_id: int, campaign_id: int) -> list[dict[str, Any]]:
    rows = session.execute(
        select(
            Order.id,
            Order.external_id,
            Order.contact_id,
            Order.event_id,
            Attribution.placed_at,
            Attribution.tickets,
            Attribution.revenue_cents,
            Order.currency,
        )
        .join(Attribution, Attribution.order_id == Order.id)
        .where(Attribution.campaign_id == campaign_id, Order.organization_id == organization_id)
        .order_by(Attribution.placed_at.desc())
        .limit(100)
    )
    return [
        {
            "id": r[0],
            "external_id": r[1],
            "contact_id": r[2],
            "event_id": r[3],
            "placed_at": r[4],
            "tickets": r[5],
            "revenue": (r[6] or 0) / 100,
            "currency": r[7],
        }
        for r in rows
    ]


def event_campaigns(session: Session, organization_id: int, event_id: int) -> list[dict[str, Any]]:
    """Campaigns credited with this event's orders (from the attribution table)."""
    rows = session.execute(
        select(
            Campaign.id, Campaign.name, Campaign.type, func.count(), func.sum(Order.total_cents - Order.refunded_cents)
        )
        .join(Attribution, Attribution.campaign_id == Campaign.id)
        .join(Order, Order.id == Attribution.order_id)
        .where(Order.organization_id == organization_id, Order.event_id == event_id)
        .group_by(Campaign.id, Campaign.name, Campaign.type)
    )
    return [
        {"id": cid, "name": name, "type": kind, "orders": int(n), "revenue_cents": int(cents or 0)}
        for cid, name, kind, n, cents in rows
    ]
