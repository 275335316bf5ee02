"""Engagement ratings: 1 to 5 stars for each contact's email subscription and SMS subscription.

The rule (one place; `rating` computes it, everything else only gathers its inputs). For one
contact, one channel, at an instant `now`, over the window of the last `WINDOW_DAYS` (90) days:

- received R = the channel's campaign deliveries with status `sent` and `sent_at` in the window
  (failed, skipped, suppressed and unsent messages are not received);
- points P = 3 for each of those messages with a human click (`clicked_at`), else 1 for each with a
  counted human open (`opened_at`; machine opens, e.g. Apple Mail Privacy Protection prefetches and
  link scanners, only ever set `machine_opened_at` and count nothing: campaigns/tracking.py); a
  click or open later than `now` counts nothing;
- bought = an order placed by the contact in the window that is not canceled or refunded.

The score e = (P + 1) / (R + 2) is the points per message smoothed towards 1/2, so a few messages
move a new subscriber only a little: a contact who received nothing has e = 1/2, the neutral 3.
Stars: e < 0.1 → 1, e < 0.25 → 2, e < 0.6 → 3, e < 1 → 4, else 5; then a purchase adds one star
(at most 5). So clicks weigh three opens and a purchase more than any open rate.
Worked examples: 9 emails, none opened: 1/11 → 1. 3 unopened: 1/5 → 2. 10 with 1 open: 2/12 → 2.
10 with 3 opens: 4/12 → 3. 10 all opened: 11/12 → 4. 10 with 2 clicks and 3 other opens: 10/12 →
4. 10 with 4 clicks: 13/12 → 5. Nothing received but a recent order: 3 + 1 = 4.

The ratings are stored on `contacts` (`email_rating`, `sms_rating`) so the contacts table, segments
(`{"min_rating": 3}`) and the API read them without recomputing. They are recomputed:

- as events arrive, by the worker (`recompute_changes`): four streams, each read past its own
  durable checkpoint in `engagement_checkpoints` in bounded batches (new opens and clicks by id, new
  orders by id, deliveries by (`sent_at`, id) among campaigns sending recently), and only the
  contacts they name are recomputed, set-based, in the same transaction that moves the checkpoint
  (a stream's first run only places it at the present: the past is the sweep's);
- by a slow sweep over every contact (`sweep_step`, once a day), because ratings also change when
  messages leave the window, and because an order's refund or a row committed out of id order is
  not seen by the streams;
- on demand for one organization (`recompute_organization`, `fanhub engagement recompute`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, and_, case, func, or_, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from fanhub.audience.models import Contact
from fanhub.campaigns.models import DELIVERED, EMAIL, SMS, CampaignStats, Click, Delivery, Open
from fanhub.catalog.models import Order
from fanhub.db.base import Base, BigId, utcnow
from fanhub.db.engine import Database

WINDOW_DAYS = 90
NEUTRAL = 3
CLICK_POINTS = 3
OPEN_POINTS = 1
NOT_BOUGHT = ("canceled", "refunded")
# Deliveries are read a little behind `now`: a delivery's `sent_at` is set before its transaction
# commits, so one committing late with an earlier time would fall behind the checkpoint.
DELIVERY_LAG = timedelta(seconds=60)
CHUNK = 500
STREAMS = ("opens", "clicks", "orders", "deliveries")


class EngagementCheckpoint(Base):
    """How far a worker stream has read (`name`: opens, clicks, orders, deliveries, sweep, sunset)."""

    __tablename__ = "engagement_checkpoints"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    last_id: Mapped[int] = mapped_column(BigId, default=0)
    last_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


def rating(received: int, points: int, bought: bool) -> int:
    """The stars for one subscription (see the module docstring), in integer arithmetic."""
    num, den = points + 1, received + 2
    if 10 * num < den:
        stars = 1
    elif 4 * num < den:
        stars = 2
    elif 5 * num < 3 * den:
        stars = 3
    elif num < den:
        stars = 4
    else:
        stars = 5
    return min(5, stars + 1) if bought else stars


@dataclass
class Recomputed:
    contacts: int = 0
    changed: int = 0

    def add(self, other: Recomputed) -> None:
        self.contacts += other.contacts
        self.changed += other.changed


def _chunks(ids: Sequence[int], size: int = CHUNK) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _delivery_figures(session: Session, ids: Sequence[int], now: datetime) -> dict[tuple[int, str], tuple[int, int]]:
    """{(contact, channel): (received, points)} over the window, one grouped query."""
    since = now - timedelta(days=WINDOW_DAYS)
    points = case(
        (and_(Delivery.clicked_at.is_not(None), Delivery.clicked_at <= now), CLICK_POINTS),
        (and_(Delivery.opened_at.is_not(None), Delivery.opened_at <= now), OPEN_POINTS),
        else_=0,
    )
    query = (
        select(Delivery.contact_id, Delivery.channel, func.count(), func.sum(points))
        .where(
            Delivery.contact_id.in_(ids),
            Delivery.status == DELIVERED,
            Delivery.sent_at > since,
            Delivery.sent_at <= now,
        )
        .group_by(Delivery.contact_id, Delivery.channel)
    )
    return {(cid, channel): (int(n), int(p or 0)) for cid, channel, n, p in session.execute(query)}


def _buyers(session: Session, ids: Sequence[int], now: datetime) -> set[int]:
    since = now - timedelta(days=WINDOW_DAYS)
    query = select(Order.contact_id).where(
        Order.contact_id.in_(ids),
        Order.status.not_in(NOT_BOUGHT),
        Order.placed_at > since,
        Order.placed_at <= now,
    )
    return set(session.scalars(query.distinct()))


def recompute_contacts(session: Session, contact_ids: Iterable[int], now: datetime | None = None) -> Recomputed:
    """Recompute the ratings of these contacts (any organizations); writes only the ones that changed."""
    now = now or utcnow()
    ids = sorted(set(contact_ids))
    result = Recomputed()
    for chunk in _chunks(ids):
        figures = _delivery_figures(session, chunk, now)
        buyers = _buyers(session, chunk, now)
        current = session.execute(
            select(Contact.id, Contact.email_rating, Contact.sms_rating).where(Contact.id.in_(chunk))
        )
        changes: list[dict[str, Any]] = []
        for cid, email_now, sms_now in current:
            result.contacts += 1
            bought = cid in buyers
            email = rating(*figures.get((cid, EMAIL), (0, 0)), bought)
            sms = rating(*figures.get((cid, SMS), (0, 0)), bought)
            if (email, sms) != (email_now, sms_now):
                changes.append({"id": cid, "email_rating": email, "sms_rating": sms})
        if changes:
            # ORM bulk UPDATE by primary key: one executemany per chunk.
            session.execute(update(Contact), changes)
            result.changed += len(changes)
    return result


def checkpoint(session: Session, name: str) -> EngagementCheckpoint:
    """The stream's checkpoint row, created at zero the first time (locked on PostgreSQL, so two
    workers do not read the same batch twice)."""
    row = session.scalar(select(EngagementCheckpoint).where(EngagementCheckpoint.name == name).with_for_update())
    if row is None:
        # Not flushed yet: the caller sees a stream that just started as `row in session.new`.
        row = EngagementCheckpoint(name=name, last_id=0, last_at=None)
        session.add(row)
    return row


def _stream_batch(
    session: Session, name: str, mark: EngagementCheckpoint, now: datetime, limit: int
) -> tuple[list[int], int, datetime | None]:
    """(contact ids named by the next events of the stream, new last_id, new last_at)."""
    if name in ("opens", "clicks"):
        table: Any = Open if name == "opens" else Click
        rows = list(
            session.execute(
                select(table.id, Delivery.contact_id)
                .join(Delivery, Delivery.id == table.delivery_id)
                .where(table.id > mark.last_id)
                .order_by(table.id)
                .limit(limit)
            )
        )
        return [r[1] for r in rows], (rows[-1][0] if rows else mark.last_id), mark.last_at
    if name == "orders":
        rows = list(
            session.execute(
                select(Order.id, Order.contact_id).where(Order.id > mark.last_id).order_by(Order.id).limit(limit)
            )
        )
        return [r[1] for r in rows], (rows[-1][0] if rows else mark.last_id), mark.last_at
    return _delivery_batch(session, mark, now, limit)


def _delivery_batch(
    session: Session, mark: EngagementCheckpoint, now: datetime, limit: int
) -> tuple[list[int], int, datetime | None]:
    """Deliveries sent since the checkpoint, keyset on (sent_at, id). Only campaigns still sending
    (started within the window) or finished since the checkpoint are read, through the deliveries'
    (campaign_id, status, id) index, so old campaigns cost nothing."""
    since = mark.last_at or (now - timedelta(days=WINDOW_DAYS))
    upto = now - DELIVERY_LAG
    campaigns = select(CampaignStats.campaign_id).where(
        CampaignStats.started_at.is_not(None),
        or_(
            and_(CampaignStats.finished_at.is_(None), CampaignStats.started_at > now - timedelta(days=WINDOW_DAYS)),
            CampaignStats.finished_at >= since,
        ),
    )
    after = (
        or_(Delivery.sent_at > since, and_(Delivery.sent_at == since, Delivery.id > mark.last_id))
        if mark.last_at
        else Delivery.sent_at > since
    )
    rows = list(
        session.execute(
            select(Delivery.sent_at, Delivery.id, Delivery.contact_id)
            .where(Delivery.campaign_id.in_(campaigns), Delivery.status == DELIVERED, after, Delivery.sent_at <= upto)
            .order_by(Delivery.sent_at, Delivery.id)
            .limit(limit)
        )
    )
    if not rows:
        return [], mark.last_id, mark.last_at
    return [r[2] for r in rows], rows[-1][1], rows[-1][0]


def _start_at_present(session: Session, name: str, mark: EngagementCheckpoint, now: datetime) -> None:
    """A new stream starts after what exists (the sweep rates the past): reading every open, click,
    order and delivery of an existing deployment through the streams would take hours."""
    if name == "deliveries":
        mark.last_id, mark.last_at = 0, now - DELIVERY_LAG
    else:
        table: Any = {"opens": Open, "clicks": Click, "orders": Order}[name]
        mark.last_id = int(session.scalar(select(func.max(table.id))) or 0)
    mark.updated_at = utcnow()


def recompute_changes(database: Database, now: datetime | None = None, limit: int = 2000) -> dict[str, int]:
    """One bounded step of every stream: the contacts named by up to `limit` new events each are
    recomputed and the stream's checkpoint moves past them, in one transaction per stream.
    Returns {stream: events read}; a stream that read `limit` has more waiting. The first call
    only places each stream at the present."""
    now = now or utcnow()
    read: dict[str, int] = {}
    for name in STREAMS:
        with database.write() as session:
            mark = checkpoint(session, name)
            if mark in session.new:
                _start_at_present(session, name, mark, now)
                read[name] = 0
                continue
            contact_ids, last_id, last_at = _stream_batch(session, name, mark, now, limit)
            read[name] = len(contact_ids)
            if contact_ids:
                recompute_contacts(session, contact_ids, now)
                mark.last_id, mark.last_at, mark.updated_at = last_id, last_at, utcnow()
    return read


SWEEP_EVERY = timedelta(hours=24)


def sweep_step(database: Database, now: datetime | None = None, limit: int = 2000) -> int:
    """Recompute the next `limit` contacts (by id, every organization) of the daily sweep; returns
    how many were read (0 while the last sweep finished less than a day ago)."""
    now = now or utcnow()
    with database.write() as session:
        mark = checkpoint(session, "sweep")
        if mark.last_id == 0 and mark.last_at is not None and now - mark.last_at < SWEEP_EVERY:
            return 0
        ids = list(
            session.scalars(select(Contact.id).where(Contact.id > mark.last_id).order_by(Contact.id).limit(limit))
        )
        recompute_contacts(session, ids, now)
        if len(ids) < limit:
            mark.last_id, mark.last_at = 0, now  # done: the next sweep starts in a day
        else:
            mark.last_id = ids[-1]
        mark.updated_at = utcnow()
        return len(ids)


def recompute_organization(
    database: Database, organization_id: int, now: datetime | None = None, batch: int = 2000
) -> dict[str, Any]:
    """Recompute every contact of one organization, `batch` contacts per transaction; returns
    {"organization_id", "contacts", "changed", "email_ratings", "sms_ratings"} (stars → contacts)."""
    now = now or utcnow()
    total = Recomputed()
    after = 0
    while True:
        with database.write() as session:
            ids = list(
                session.scalars(
                    select(Contact.id)
                    .where(Contact.organization_id == organization_id, Contact.id > after)
                    .order_by(Contact.id)
                    .limit(batch)
                )
            )
            total.add(recompute_contacts(session, ids, now))
        if len(ids) < batch:
            break
        after = ids[-1]
    with database.read() as session:
        distribution = rating_counts(session, organization_id)
    return {"organization_id": organization_id, "contacts": total.contacts, "changed": total.changed, **distribution}


def rating_counts(session: Session, organization_id: int) -> dict[str, dict[str, int]]:
    """{"email_ratings": {"1": n, ..., "5": n}, "sms_ratings": {...}} over the organization's contacts."""
    result: dict[str, dict[str, int]] = {}
    for key, column in (("email_ratings", Contact.email_rating), ("sms_ratings", Contact.sms_rating)):
        counts = {str(stars): 0 for stars in range(1, 6)}
        query = select(column, func.count()).where(Contact.organization_id == organization_id).group_by(column)
        for stars, n in session.execute(query):
            counts[str(stars)] = int(n)
        result[key] = counts
    return result
