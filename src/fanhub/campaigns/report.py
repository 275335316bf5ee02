"""The campaign report staff read: rates of delivered, attributed orders with the buyer's name,
revenue per currency, and campaigns side by side (the recipients list: `report_recipients.py`).

## Rates (Mailchimp's definitions; listmonk shows the same counts)
- **open rate** = recipients with a counted (human) open / delivered. Machine opens (prefetchers,
  Apple Mail Privacy Protection, see `campaigns/tracking.py`) are not opens; an SMS has no open
  pixel, so an SMS campaign has no open rate.
- **click rate** = recipients who clicked / delivered.
- **unsubscribe rate** = recipients who unsubscribed through this campaign / delivered.
- **undelivered rate** = undelivered / (delivered + undelivered): Mailchimp's bounce rate is
  bounces over emails sent, "sent" being every message handed to the provider, which ended either
  delivered or bounced. Recipients skipped (unsubscribed before their turn), not reached yet, or
  lost to a crash (`unknown`) were never settled either way, so they are in neither count.
Counts are the `CampaignStats` counters, the same figures as the analytics API. A rate whose
denominator is zero (nothing delivered yet) is "—", never 0%.

## Money
Attributed revenue is summed per currency from the attribution rows (each keeps its order's
currency), so an organization selling in two currencies sees two figures, never one mixed sum.
Amounts are shown with CLDR's symbol and digits through Babel ("$1,234.00", "€12.50", "¥1,234").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal

from babel.numbers import format_currency
from pydantic import BaseModel, computed_field
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from fanhub.audience.models import Contact
from fanhub.campaigns.models import EMAIL, Attribution, Campaign, CampaignStats
from fanhub.campaigns.repository import CampaignRepository
from fanhub.catalog.models import Order
from fanhub.db.bulk import values_in
from fanhub.errors import InvalidInput, NotFound
from fanhub.money import minor_unit_exponent
from fanhub.timeutil import iso_utc

COMPARE_DEFAULT = 5
COMPARE_MAX = 20
LOCALE = "en_US"  # the manager is in English; amounts keep their own currency's symbol


class Amount(BaseModel):
    """Money in minor units of one ISO 4217 currency."""

    minor: int
    currency: str

    @computed_field  # type: ignore[prop-decorator]
    @property
    def text(self) -> str:
        return money_text(self.minor, self.currency)


def money_text(minor: int, currency: str) -> str:
    """`minor` units of `currency` as people read them: 123400 USD -> "$1,234.00", 1250 EUR -> "€12.50"."""
    major = Decimal(minor).scaleb(-minor_unit_exponent(currency))
    return str(format_currency(major, currency.upper(), locale=LOCALE))


def amounts_text(amounts: Sequence[Amount]) -> str:
    """Several currencies as one line ("$40.00 · €12.50"); none as ""."""
    return " · ".join(a.text for a in amounts)


class Rate(BaseModel):
    """`count` of `of` as a percentage; `percent` is None when there is nothing to divide by."""

    count: int
    of: int
    percent: float | None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def text(self) -> str:
        return "—" if self.percent is None else f"{self.percent:.1f}%"


def rate(count: int, of: int, applies: bool = True) -> Rate:
    return Rate(count=count, of=of, percent=(100.0 * count / of) if applies and of > 0 else None)


class CampaignReport(BaseModel):
    """One campaign's figures and rates (see the module docstring for each rate's definition)."""

    campaign_id: int
    name: str
    type: str
    status: str
    delivered_at: str | None
    recipients: int
    delivered: int
    undelivered: int
    skipped: int
    unknown: int
    opens: int
    machine_opens: int
    clickers: int
    unsubscribes: int
    open_rate: Rate
    click_rate: Rate
    unsubscribe_rate: Rate
    undelivered_rate: Rate
    attributed_orders: int
    attributed_tickets: int
    revenue: list[Amount]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def revenue_text(self) -> str:
        return amounts_text(self.revenue)


def _report(campaign: Campaign, stats: CampaignStats | None, revenue: list[Amount]) -> CampaignReport:
    def count(name: str) -> int:
        return int(getattr(stats, name) or 0) if stats is not None else 0

    delivered, undelivered = count("delivered"), count("undelivered")
    return CampaignReport(
        campaign_id=campaign.id,
        name=campaign.name,
        type=campaign.type,
        status=campaign.status,
        delivered_at=iso_utc(campaign.delivered_at),
        recipients=count("recipients"),
        delivered=delivered,
        undelivered=undelivered,
        skipped=count("skipped"),
        unknown=count("unknown"),
        opens=count("opens"),
        machine_opens=count("machine_opens"),
        clickers=count("clickers"),
        unsubscribes=count("unsubscribes"),
        open_rate=rate(count("opens"), delivered, applies=campaign.type == EMAIL),
        click_rate=rate(count("clickers"), delivered),
        unsubscribe_rate=rate(count("unsubscribes"), delivered),
        undelivered_rate=rate(undelivered, delivered + undelivered),
        attributed_orders=count("attributed_orders"),
        attributed_tickets=count("attributed_tickets"),
        revenue=revenue,
    )


def revenue_by_campaign(session: Session, organization_id: int, campaign_ids: Iterable[int]) -> dict[int, list[Amount]]:
    """Attributed revenue (net of refunds) per campaign, one amount per currency, largest first."""
    ids = list(campaign_ids)
    out: dict[int, list[Amount]] = {cid: [] for cid in ids}
    if not ids:
        return out
    rows = session.execute(
        select(Attribution.campaign_id, Attribution.currency, func.sum(Attribution.revenue_cents))
        .where(Attribution.organization_id == organization_id, values_in(Attribution.campaign_id, ids))
        .group_by(Attribution.campaign_id, Attribution.currency)
    )
    for campaign_id, currency, cents in rows:
        out[campaign_id].append(Amount(minor=int(cents or 0), currency=currency))
    for amounts in out.values():
        amounts.sort(key=lambda a: (-a.minor, a.currency))
    return out


def campaign_report(session: Session, organization_id: int, campaign_id: int) -> CampaignReport:
    """One campaign's report; another organization's campaign is NotFound."""
    campaign = CampaignRepository(session).get(organization_id, campaign_id)
    revenue = revenue_by_campaign(session, organization_id, [campaign.id])[campaign.id]
    return _report(campaign, session.get(CampaignStats, campaign.id), revenue)


class CampaignChoice(BaseModel):
    id: int
    name: str
    type: str
    delivered_at: str | None


def _sent(organization_id: int, campaign_type: str | None) -> Select[Campaign]:
    query = select(Campaign).where(Campaign.organization_id == organization_id, Campaign.delivered_at.is_not(None))
    if campaign_type:
        query = query.where(Campaign.type == campaign_type)
    return query.order_by(Campaign.delivered_at.desc(), Campaign.id.desc())


def sent_campaigns(
    session: Session, organization_id: int, limit: int = 50, campaign_type: str | None = None
) -> list[CampaignChoice]:
    """The campaigns that have gone out (sending started), newest first: what can be compared."""
    rows = session.scalars(_sent(organization_id, campaign_type).limit(limit))
    return [CampaignChoice(id=c.id, name=c.name, type=c.type, delivered_at=iso_utc(c.delivered_at)) for c in rows]


def compare_campaigns(
    session: Session,
    organization_id: int,
    *,
    campaign_ids: Sequence[int] = (),
    limit: int = COMPARE_DEFAULT,
    campaign_type: str | None = None,
) -> list[CampaignReport]:
    """Reports of the chosen campaigns, or of the last `limit` that went out, newest first.

    A chosen campaign of another organization is NotFound; one not sent yet is an InvalidInput
    naming `ids` (a draft has nothing to compare)."""
    if campaign_type not in (None, "", "email", "sms"):
        raise InvalidInput("type must be email or sms", [{"field": "type", "message": "must be email or sms"}])
    if not 1 <= limit <= COMPARE_MAX:
        message = f"must be between 1 and {COMPARE_MAX}"
        raise InvalidInput(f"n {message}", [{"field": "n", "message": message}])
    query = _sent(organization_id, campaign_type or None)
    if campaign_ids:
        chosen = list(dict.fromkeys(campaign_ids))[:COMPARE_MAX]
        missing = set(chosen) - CampaignRepository(session).owned_ids(organization_id, chosen)
        if missing:
            raise NotFound(f"campaign {min(missing)} not found")
        campaigns = list(session.scalars(query.where(Campaign.id.in_(chosen))))
        unsent = set(chosen) - {c.id for c in campaigns}
        if unsent:
            message = f"campaign {min(unsent)} has not been sent"
            raise InvalidInput(f"ids: {message}", [{"field": "ids", "message": message}])
    else:
        campaigns = list(session.scalars(query.limit(limit)))
    ids = [c.id for c in campaigns]
    stats = {s.campaign_id: s for s in session.scalars(select(CampaignStats).where(CampaignStats.campaign_id.in_(ids)))}
    revenue = revenue_by_campaign(session, organization_id, ids)
    return [_report(c, stats.get(c.id), revenue[c.id]) for c in campaigns]


def contact_name(
    first_name: str | None, last_name: str | None, full_name: str | None, email: str | None, phone: str | None
) -> str:
    """What staff call a person: first + last name, else the full name, else the email, else the phone."""
    joined = " ".join(part.strip() for part in (first_name, last_name) if part and part.strip())
    return joined or (full_name or "").strip() or email or phone or "(no name)"


class AttributedOrder(BaseModel):
    order_id: int
    external_id: str
    event_id: int | None
    contact_id: int
    contact_name: str
    tickets: int
    revenue: Amount
    placed_at: str | None


def attributed_orders(
    session: Session, organization_id: int, campaign_id: int, limit: int = 100
) -> list[AttributedOrder]:
    """The latest orders credited to the campaign with the buyer's name and the order's currency."""
    rows = session.execute(
        select(
            Order.id,
            Order.external_id,
            Order.event_id,
            Attribution.contact_id,
            Attribution.tickets,
            Attribution.revenue_cents,
            Attribution.currency,
            Attribution.placed_at,
            Contact.first_name,
            Contact.last_name,
            Contact.full_name,
            Contact.email,
            Contact.phone,
        )
        .join(Order, Order.id == Attribution.order_id)
        .join(Contact, Contact.id == Attribution.contact_id)
        .where(Attribution.campaign_id == campaign_id, Attribution.organization_id == organization_id)
        .order_by(Attribution.placed_at.desc(), Attribution.id.desc())
        .limit(limit)
    )
    return [
        AttributedOrder(
            order_id=r.id,
            external_id=r.external_id,
            event_id=r.event_id,
            contact_id=r.contact_id,
            contact_name=contact_name(r.first_name, r.last_name, r.full_name, r.email, r.phone),
            tickets=r.tickets,
            revenue=Amount(minor=r.revenue_cents, currency=r.currency),
            placed_at=iso_utc(r.placed_at),
        )
        for r in rows
    ]
