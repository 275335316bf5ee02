"""Revenue attribution: which campaign sold which order (Cymbal's documented last-touch model).

Added as an order listener (`ingest.apply.on_orders_changed`, by `fanhub.wiring`), so it runs inside the apply
transaction for orders from every source: Partners API, connectors, CSV imports, staff.

## Rules
- **Email**: an order is credited to an email campaign when (1) that campaign's message was the
  latest marketing message delivered to the buyer before the order, (2) the buyer opened that
  message, and (3) the order was placed within `Organization.email_attribution_days` (default 10)
  after the open. The open used is the latest counted open before the order.
- **SMS**: credited when (1) the SMS was the latest marketing message delivered to the buyer
  before the order, (2) the buyer clicked the event link in it, and (3) the order came within
  `Organization.sms_attribution_days` (default 7) after that click.

## Decisions (each one a choice the docs leave open)
1. "Latest" is judged across both channels by delivery time (`Delivery.sent_at`, the moment the
   provider accepted the message). Only messages actually delivered count: rejected messages,
   SMS reported undelivered, skipped and `unknown` (crash) rows never win "latest".
   A message delivered after the order cannot take credit for it.
2. Last touch is strict: when the latest delivered message fails its rule (e.g. a newer SMS that
   was not clicked), the order is not attributed to an older campaign that was opened. That is
   what "this campaign was the latest marketing transaction received" says.
3. Opens: machine opens never count (see `campaigns.tracking`); a click in an email counts as an
   open of it at the click's time.
4. SMS "event link": when the campaign has an event, only clicks on links to the event's URL
   qualify; a campaign without an event has no event link, so any of its links qualifies.
5. The order does not have to be for the campaign's event: Cymbal credits "the purchase", and a fan
   brought back by one show's message who buys another show's ticket was still brought back.
6. Windows are inclusive (an order exactly 10 days after the open counts), measured from the
   open/click instant to the order's `created_at` (`Order.placed_at`); an open after the order
   never counts.
7. Computed once: when an order is first applied, its attribution (campaign, delivery, rule,
   window, touch time) is stored. Later versions of the same order (re-syncs, status changes)
   never re-run the rules, so history is not rewritten by later activity; an order that was not
   attributed on arrival stays unattributed.
8. Refunds and cancellations adjust the stored attribution in place: revenue is the order's
   `total_price` in minor units minus `refunded_amount`; a `refunded` order without an amount is a
   full refund; a `canceled` order or a full refund counts 0 revenue and 0 tickets. A partial
   refund keeps the ticket count (the source does not say which tickets were refunded). The
   campaign's counters move by the difference.
9. Tickets are the sum of the order's item quantities.
10. Currency: amounts are summed in minor units as given; an organization is assumed to sell in
    one currency (each attribution row keeps the order's currency for a later per-currency split).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from fanhub.campaigns.models import (
    DELIVERED,
    EMAIL,
    Attribution,
    Campaign,
    CampaignStats,
    Click,
    Delivery,
    Open,
)
from fanhub.catalog.models import Order
from fanhub.db.base import utcnow
from fanhub.db.bulk import unindexed, values_in
from fanhub.organizations.models import Organization

_CHUNK = 500
EMAIL_RULE = "email_open"
SMS_RULE = "sms_click"


def net_value(status: str, total_cents: int, refunded_cents: int, tickets: int) -> tuple[int, int]:
    """(revenue in minor units, tickets) of an order after refunds and cancellations."""
    if status == "canceled":
        return 0, 0
    if status == "refunded" and not refunded_cents:
        return 0, 0
    revenue = max(total_cents - (refunded_cents or 0), 0)
    return revenue, (tickets if revenue > 0 or total_cents == 0 else 0)


def _bump(session: Session, campaign_id: int, **deltas: int) -> None:
    values = {name: getattr(CampaignStats, name) + delta for name, delta in deltas.items() if delta}
    if values:
        session.execute(update(CampaignStats).where(CampaignStats.campaign_id == campaign_id).values(**values))


def _latest_touch(session: Session, delivery: Any, placed_at: datetime, event_only: bool) -> datetime | None:
    if delivery.channel == EMAIL:
        opened = session.scalar(
            select(func.max(Open.occurred_at)).where(
                Open.delivery_id == delivery.id, Open.machine.is_(False), Open.occurred_at <= placed_at
            )
        )
        clicked = session.scalar(
            select(func.max(Click.occurred_at)).where(
                Click.delivery_id == delivery.id, Click.machine.is_(False), Click.occurred_at <= placed_at
            )
        )
        candidates = [_aware(t) for t in (opened, clicked) if t is not None]
        return max(candidates) if candidates else None
    query = select(func.max(Click.occurred_at)).where(
        Click.delivery_id == delivery.id, Click.machine.is_(False), Click.occurred_at <= placed_at
    )
    if event_only:
        query = query.where(Click.is_event_link.is_(True))
    value = session.scalar(query)
    return _aware(value) if value is not None else None


def _aware(value: Any) -> datetime:
    # Aggregates bypass the column type on SQLite and come back as naive text.
    from datetime import UTC

    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def attribute_orders(session: Session, organization_id: int, order_ids: Sequence[int]) -> None:
    ids = list(order_ids)
    if not ids:
        return
    sent_any = session.scalar(
        select(Campaign.id)
        .where(Campaign.organization_id == organization_id, Campaign.delivered_at.is_not(None))
        .limit(1)
    )
    if sent_any is None:  # nothing was ever sent, so nothing can be (or was) attributed: keep ingest fast
        return
    org = session.get(Organization, organization_id)
    email_days = org.email_attribution_days if org else 10
    sms_days = org.sms_attribution_days if org else 7
    for start in range(0, len(ids), _CHUNK):
        _attribute_chunk(session, organization_id, ids[start : start + _CHUNK], email_days, sms_days)


def _attribute_chunk(session: Session, organization_id: int, ids: list[int], email_days: int, sms_days: int) -> None:
    orders = _order_rows(session, organization_id, ids)
    existing = {a.order_id: a for a in session.scalars(select(Attribution).where(Attribution.order_id.in_(ids)))}
    now = utcnow()
    _follow_refunds(session, orders, existing, now)
    # 7. only an order's first version is evaluated: apply stamps created_at == updated_at on insert.
    new = [o for o in orders if o.id not in existing and o.created_at == o.updated_at]
    if not new:
        return
    reached = _reached_buyers(session, {o.contact_id for o in new})
    event_campaigns: dict[int, bool] = {}
    for order in new:
        if order.contact_id in reached:
            _attribute_new_order(session, organization_id, order, email_days, sms_days, event_campaigns, now)


def _order_rows(session: Session, organization_id: int, ids: list[int]) -> Sequence[Any]:
    """The columns of the orders that attribution reads, for the organization's orders among `ids`."""
    return session.execute(
        select(
            Order.id,
            Order.contact_id,
            Order.placed_at,
            Order.status,
            Order.total_cents,
            Order.refunded_cents,
            Order.tickets,
            Order.currency,
            Order.created_at,
            Order.updated_at,
        ).where(values_in(Order.id, ids), unindexed(Order.organization_id) == organization_id)
    ).all()


def _follow_refunds(session: Session, orders: Sequence[Any], existing: dict[int, Attribution], now: datetime) -> None:
    """8. refunds and cancellations move stored attributions; nothing else about them changes."""
    for order in orders:
        attribution = existing.get(order.id)
        if attribution is None:
            continue
        revenue, tickets = net_value(order.status, order.total_cents, order.refunded_cents, order.tickets)
        if (revenue, tickets) != (attribution.revenue_cents, attribution.tickets):
            _bump(
                session,
                attribution.campaign_id,
                attributed_revenue=revenue - attribution.revenue_cents,
                attributed_tickets=tickets - attribution.tickets,
            )
            attribution.revenue_cents, attribution.tickets, attribution.updated_at = revenue, tickets, now


def _reached_buyers(session: Session, buyers: set[int]) -> set[int]:
    """Most buyers never received a campaign: one query finds those who did."""
    return set(
        session.scalars(
            select(Delivery.contact_id).where(Delivery.contact_id.in_(buyers), Delivery.status == DELIVERED).distinct()
        )
    )


def _attribute_new_order(
    session: Session,
    organization_id: int,
    order: Any,
    email_days: int,
    sms_days: int,
    event_campaigns: dict[int, bool],
    now: datetime,
) -> None:
    """Credit an order's first version to the latest delivered message when that message passes its rule.

    `event_campaigns` caches, per campaign id, whether the campaign has an event (decision 4).
    """
    placed_at = _aware(order.placed_at)
    latest = _latest_delivery(session, order.contact_id, placed_at)
    if latest is None:
        return
    if latest.campaign_id not in event_campaigns:
        event_campaigns[latest.campaign_id] = (
            session.scalar(select(Campaign.event_id).where(Campaign.id == latest.campaign_id)) is not None
        )
    days = email_days if latest.channel == EMAIL else sms_days
    touch = _latest_touch(session, latest, placed_at, event_campaigns[latest.campaign_id])
    if touch is None or placed_at - touch > timedelta(days=days):
        return
    revenue, tickets = net_value(order.status, order.total_cents, order.refunded_cents, order.tickets)
    session.execute(
        insert(Attribution).values(
            organization_id=organization_id,
            order_id=order.id,
            campaign_id=latest.campaign_id,
            delivery_id=latest.id,
            contact_id=order.contact_id,
            channel=latest.channel,
            rule=EMAIL_RULE if latest.channel == EMAIL else SMS_RULE,
            window_days=days,
            delivered_at=_aware(latest.sent_at),
            touch_at=touch,
            placed_at=placed_at,
            tickets=tickets,
            revenue_cents=revenue,
            currency=order.currency,
            created_at=now,
            updated_at=now,
        )
    )
    _bump(session, latest.campaign_id, attributed_orders=1, attributed_tickets=tickets, attributed_revenue=revenue)


def _latest_delivery(session: Session, contact_id: int, placed_at: datetime) -> Any:
    """1. the latest message delivered to the buyer, across both channels, no later than the order (or None)."""
    return session.execute(
        select(Delivery.id, Delivery.campaign_id, Delivery.channel, Delivery.sent_at)
        .where(
            Delivery.contact_id == contact_id,
            Delivery.status == DELIVERED,
            Delivery.sent_at <= placed_at,
        )
        .order_by(Delivery.sent_at.desc(), Delivery.id.desc())
        .limit(1)
    ).first()
