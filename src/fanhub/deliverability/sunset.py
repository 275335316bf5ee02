"""Sunset: suppress the email subscribers who stopped engaging (an organization setting, off by default).

With `organizations.sunset_enabled`, a contact is suppressed with reason `unengaged` (source
`sunset`, through `audience.suppression.suppress_many`) when, at the instant `now`:

- the contact is subscribed to email, has an address, and the address is not suppressed yet;
- its last engagement is the latest of: a counted (human) open of any of its messages, a human
  click on any of them (email or SMS), and any order it placed (whatever its status: a buyer is
  never sunset for that period). Nothing later than `now` counts;
- after that engagement (or ever, without one) it received at least `sunset_after_emails` (20)
  campaign emails (deliveries with status `sent`), and those emails span at least
  `sunset_min_days` (90) days from the first to the last.

So someone who opened, clicked or bought since is never suppressed: only what came after their
last engagement counts. Sunset suppresses; it never changes consent (no ledger entry, the contact
stays subscribed). Staff may lift such a suppression (audited as `suppression.remove`); from then
on only the emails sent after the lift count for that address, so it is not suppressed again the
next day for the same silence.

The setting itself (validated, shown) is `organizations.service.update_sunset_settings`. The worker
runs it once a day per deployment (`sunset_step`, a sweep over the contacts of the
organizations that turned it on, by id in bounded batches, its position in the
`engagement_checkpoints` row `sunset`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, union_all
from sqlalchemy.orm import Session

from fanhub.audience import suppression
from fanhub.audience.models import SUBSCRIBED, Contact
from fanhub.campaigns.models import DELIVERED, EMAIL, Delivery
from fanhub.catalog.models import Order
from fanhub.db.base import utcnow
from fanhub.db.engine import Database
from fanhub.deliverability.engagement import checkpoint
from fanhub.organizations.audit import AuditEntry
from fanhub.organizations.models import Organization

SOURCE = "sunset"
SUNSET_EVERY = timedelta(hours=24)
BATCH = 1000


@dataclass(frozen=True)
class Unengaged:
    contact_id: int
    address: str
    emails: int
    first_sent_at: datetime
    last_sent_at: datetime

    @property
    def detail(self) -> str:
        return (
            f"{self.emails} emails from {self.first_sent_at:%Y-%m-%d} to {self.last_sent_at:%Y-%m-%d}"
            " without an open, click or purchase"
        )


def find_unengaged(
    session: Session, contact_ids: list[int], after_emails: int, min_days: int, now: datetime
) -> list[Unengaged]:
    """Those of `contact_ids` the rule suppresses (their subscription and suppression checked here)."""
    if not contact_ids:
        return []
    touches = union_all(
        select(Delivery.contact_id.label("cid"), Delivery.opened_at.label("at")).where(
            Delivery.contact_id.in_(contact_ids), Delivery.opened_at.is_not(None), Delivery.opened_at <= now
        ),
        select(Delivery.contact_id, Delivery.clicked_at).where(
            Delivery.contact_id.in_(contact_ids), Delivery.clicked_at.is_not(None), Delivery.clicked_at <= now
        ),
        select(Order.contact_id, Order.placed_at).where(Order.contact_id.in_(contact_ids), Order.placed_at <= now),
    ).subquery()
    last = select(touches.c.cid, func.max(touches.c.at).label("at")).group_by(touches.c.cid).subquery()
    query = (
        select(
            Contact.id, Contact.email, func.count(Delivery.id), func.min(Delivery.sent_at), func.max(Delivery.sent_at)
        )
        .join(Delivery, Delivery.contact_id == Contact.id)
        .outerjoin(last, last.c.cid == Contact.id)
        .where(
            Contact.id.in_(contact_ids),
            Contact.email.is_not(None),
            Contact.email_status == SUBSCRIBED,
            suppression.not_suppressed(Contact.organization_id, Contact.email),
            Delivery.channel == EMAIL,
            Delivery.status == DELIVERED,
            Delivery.sent_at <= now,
            or_(last.c.at.is_(None), Delivery.sent_at > last.c.at),
        )
        .group_by(Contact.id, Contact.email)
        .having(func.count(Delivery.id) >= after_emails)
    )
    found = [
        Unengaged(int(cid), str(email), int(n), first, latest)
        for cid, email, n, first, latest in session.execute(query)
        if first is not None and latest is not None
    ]
    return [u for u in found if u.last_sent_at - u.first_sent_at >= timedelta(days=min_days)]


def _lifted(session: Session, organization_id: int, addresses: set[str], now: datetime) -> dict[str, datetime]:
    """When staff last lifted a suppression of each of these addresses (the audit log's
    `suppression.remove`), up to `now`."""
    query = select(AuditEntry.details, AuditEntry.at).where(
        AuditEntry.organization_id == organization_id,
        AuditEntry.action == "suppression.remove",
        AuditEntry.at <= now,
    )
    lifted: dict[str, datetime] = {}
    for details, at in session.execute(query):
        address = str((details or {}).get("address", ""))
        if address in addresses and (address not in lifted or at > lifted[address]):
            lifted[address] = at
    return lifted


def _since_lift(session: Session, found: Unengaged, lifted_at: datetime, now: datetime) -> Unengaged | None:
    """The same person counted only from the lift: staff who lifted a sunset meant to try again."""
    query = select(func.count(Delivery.id), func.min(Delivery.sent_at), func.max(Delivery.sent_at)).where(
        Delivery.contact_id == found.contact_id,
        Delivery.channel == EMAIL,
        Delivery.status == DELIVERED,
        Delivery.sent_at > lifted_at,
        Delivery.sent_at <= now,
    )
    n, first, latest = session.execute(query).one()
    if not n or first is None or latest is None:
        return None
    return Unengaged(found.contact_id, found.address, int(n), first, latest)


def suppress_unengaged(session: Session, organization: Organization, contact_ids: list[int], now: datetime) -> int:
    """Suppress those of the organization's `contact_ids` the rule finds; returns how many were added.
    An address staff lifted from the list counts only the emails sent after the lift."""
    after, days = organization.sunset_after_emails, organization.sunset_min_days
    found = find_unengaged(session, contact_ids, after, days, now)
    lifted = _lifted(session, organization.id, {u.address for u in found}, now) if found else {}
    if lifted:
        recounted = [_since_lift(session, u, lifted[u.address], now) if u.address in lifted else u for u in found]
        found = [
            u
            for u in recounted
            if u is not None and u.emails >= after and u.last_sent_at - u.first_sent_at >= timedelta(days=days)
        ]
    entries = {u.address: (suppression.UNENGAGED, SOURCE, u.detail) for u in found}
    return suppression.suppress_many(session, organization.id, entries) if entries else 0


def sunset_organization(
    database: Database, organization_id: int, now: datetime | None = None, batch: int = 1000
) -> int:
    """One full pass over an organization (whatever its setting: the caller decided); returns how many
    addresses were suppressed."""
    now = now or utcnow()
    added, after = 0, 0
    while True:
        with database.write() as session:
            organization = session.get(Organization, organization_id)
            if organization is None:
                return added
            ids = _subscriber_ids(session, [organization_id], after, batch)
            added += suppress_unengaged(session, organization, [cid for cid, _ in ids], now)
        if len(ids) < batch:
            return added
        after = ids[-1][0]


def _subscriber_ids(session: Session, organization_ids: list[int], after: int, limit: int) -> list[tuple[int, int]]:
    query = (
        select(Contact.id, Contact.organization_id)
        .where(
            Contact.organization_id.in_(organization_ids),
            Contact.id > after,
            Contact.email_status == SUBSCRIBED,
            Contact.email.is_not(None),
        )
        .order_by(Contact.id)
        .limit(limit)
    )
    return [(int(cid), int(org)) for cid, org in session.execute(query)]


def sunset_step(database: Database, now: datetime | None = None, limit: int = BATCH) -> dict[str, int]:
    """The next `limit` email subscribers (by id) of the organizations with sunset on; once a pass
    ends, the next starts a day later. Returns {"read", "suppressed"}."""
    now = now or utcnow()
    with database.write() as session:
        mark = checkpoint(session, SOURCE)
        if mark.last_id == 0 and mark.last_at is not None and now - mark.last_at < SUNSET_EVERY:
            return {"read": 0, "suppressed": 0}
        organizations = {
            o.id: o for o in session.scalars(select(Organization).where(Organization.sunset_enabled.is_(True)))
        }
        rows = _subscriber_ids(session, list(organizations), mark.last_id, limit) if organizations else []
        by_org: defaultdict[int, list[int]] = defaultdict(list)
        for cid, org in rows:
            by_org[org].append(cid)
        added = sum(suppress_unengaged(session, organizations[org], ids, now) for org, ids in by_org.items())
        if len(rows) < limit:
            mark.last_id, mark.last_at = 0, now
        else:
            mark.last_id = rows[-1][0]
        mark.updated_at = utcnow()
    return {"read": len(rows), "suppressed": added}


__all__ = ["Unengaged", "find_unengaged", "sunset_organization", "sunset_step"]
