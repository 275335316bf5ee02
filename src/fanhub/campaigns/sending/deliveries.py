"""The deliveries repository: every statement that reads or writes `campaign_deliveries` while sending.

States: `pending` → `reserved` (this worker's slice, committed) → `sending` (claimed, committed
BEFORE the provider call) → `sent` | `failed` | `unknown`; `skipped` for contacts who unsubscribed
meanwhile. See the package docstring for why (at-most-once).

Two kinds of access:
- session functions (`create_deliveries`, `recover_stale`, `reserve`, `recipients`, ...) run in
  the caller's `database.write()` / `read()` transaction;
- `OutcomeWriter`, the sender's own connection, commits each message's claim together with the
  outcomes settled since, without waiting for the disk ("Durability" in the package docstring),
  with dialect-specific single-statement paths for the steady state.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, insert, literal, or_, select, text, update
from sqlalchemy.orm import Session

from fanhub.audience import suppression
from fanhub.audience.models import Contact
from fanhub.audience.segments import segment_query
from fanhub.campaigns.models import (
    ATTEMPTING,
    DEFERRED,
    DELIVERED,
    EMAIL,
    FAILED,
    PENDING,
    RESERVED,
    UNKNOWN,
    Campaign,
    CampaignStats,
    Delivery,
    DeliveryFailure,
)
from fanhub.config import Settings
from fanhub.db.base import UTCDateTime, utcnow
from fanhub.db.engine import Database

LEASE_SECONDS = 600
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"
# Still to be sent, or in some worker's hands.
WAITING = (PENDING, RESERVED, ATTEMPTING)


@dataclass
class Mark:
    """An outcome to write for one delivery."""

    delivery_id: int
    status: str
    sent_at: Any = None
    provider_id: str | None = None
    error: str | None = None
    failure: DeliveryFailure | None = None
    attempts: int | None = None
    counters: dict[str, int] = field(default_factory=dict)
    next_attempt_at: datetime | None = None  # DEFERRED
    deferred_since: datetime | None = None  # DEFERRED


def failure_mark(delivery_id: int, campaign_id: int, kind: str, code: str | None, detail: str) -> Mark:
    return Mark(
        delivery_id,
        FAILED,
        error=f"{kind} {code or ''} {detail}".strip()[:2000],
        failure=DeliveryFailure(
            delivery_id=delivery_id, campaign_id=campaign_id, kind=kind, code=code, detail=detail[:2000]
        ),
        counters={"undelivered": 1},
    )


# --- in the caller's session ---------------------------------------------------------------------


def create_deliveries(session: Session, campaign: Campaign) -> int:
    """One pending delivery per subscribed contact in the campaign's segment, in one INSERT ... SELECT
    (the recipient list is fixed at this moment); returns how many."""
    address = Contact.email if campaign.type == EMAIL else Contact.phone
    ids = segment_query(campaign.organization_id, campaign.audience, campaign.type).subquery()
    source = select(
        literal(campaign.organization_id),
        literal(campaign.id),
        Contact.id,
        literal(campaign.type),
        address,
        literal(PENDING),
        literal(0),
    ).where(Contact.id.in_(select(ids.c.id)))
    # In contact order: deliveries are sent in id order, so recipients go out in a stable order
    # whatever plan the database picks for the segment (PostgreSQL's anti-join reorders rows).
    source = source.order_by(Contact.id)
    result = session.execute(
        insert(Delivery).from_select(
            ["organization_id", "campaign_id", "contact_id", "channel", "address", "status", "attempts"], source
        )
    )
    count = int(getattr(result, "rowcount", 0) or 0)
    if count < 0:  # some drivers do not report INSERT ... SELECT counts
        count = int(session.scalar(select(func.count()).where(Delivery.campaign_id == campaign.id)) or 0)
    return count


def _pid_gone(worker: str | None) -> bool:
    """A reservation by a process of this host that no longer exists is stale at once."""
    if not worker or ":" not in worker:
        return False
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def recover_stale(session: Session, campaign_id: int, lease_seconds: float = LEASE_SECONDS) -> tuple[int, int]:
    """Reservations of dead workers: `reserved` rows go back to pending, `sending` rows become unknown."""
    cutoff = utcnow() - timedelta(seconds=lease_seconds)
    rows = session.execute(
        select(Delivery.id, Delivery.status, Delivery.reserved_by, Delivery.reserved_at).where(
            Delivery.campaign_id == campaign_id, Delivery.status.in_((RESERVED, ATTEMPTING))
        )
    ).all()
    released: list[int] = []
    unknown: list[int] = []
    for row in rows:
        if (row.reserved_at is not None and row.reserved_at <= cutoff) or _pid_gone(row.reserved_by):
            (released if row.status == RESERVED else unknown).append(row.id)
    if released:
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(released), Delivery.status == RESERVED)
            .values(status=PENDING, reserved_by=None, reserved_at=None)
        )
    if unknown:
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(unknown), Delivery.status == ATTEMPTING)
            .values(status=UNKNOWN, error="worker stopped during the provider call; not retried (at-most-once)")
        )
        bump_stats(session, campaign_id, unknown=len(unknown))
    return len(released), len(unknown)


def bump_stats(session: Session | Connection, campaign_id: int, **deltas: int) -> None:
    values = {name: getattr(CampaignStats, name) + delta for name, delta in deltas.items() if delta}
    if values:
        session.execute(update(CampaignStats).where(CampaignStats.campaign_id == campaign_id).values(**values))


def reserve(session: Session, campaign_id: int, limit: int, worker: str) -> list[int]:
    """Up to `limit` pending deliveries become `reserved` by `worker`; several workers share a
    campaign on PostgreSQL (SKIP LOCKED)."""
    now = utcnow()
    due = or_(Delivery.status == PENDING, and_(Delivery.status == DEFERRED, Delivery.next_attempt_at <= now))
    candidates = (
        select(Delivery.id)
        .where(Delivery.campaign_id == campaign_id, due)
        .order_by(Delivery.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = list(session.scalars(candidates))
    if ids:
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(ids), due)
            .values(status=RESERVED, reserved_by=worker, reserved_at=now)
        )
    return ids


def recipients(session: Session, channel: str, ids: list[int]) -> Sequence[Any]:
    """The reserved deliveries with their contact's merge fields, current consent (`status`) and
    whether the address was suppressed since the campaign started (`suppressed`)."""
    status_column = Contact.email_status if channel == EMAIL else Contact.sms_status
    return session.execute(
        select(
            Delivery.id,
            Delivery.address,
            Delivery.attempts,
            Delivery.deferred_since,
            Delivery.contact_id,
            (~suppression.not_suppressed(Delivery.organization_id, Delivery.address)).label("suppressed"),
            Contact.first_name,
            Contact.last_name,
            Contact.full_name,
            Contact.email,
            Contact.phone,
            status_column.label("status"),
        )
        .join(Contact, Contact.id == Delivery.contact_id)
        .where(Delivery.id.in_(ids))
        .order_by(Delivery.id)
    ).all()


def waiting(session: Session, campaign_id: int) -> int:
    """Deliveries still to be sent or in some worker's hands (deferred ones not counted)."""
    return int(
        session.scalar(select(func.count()).where(Delivery.campaign_id == campaign_id, Delivery.status.in_(WAITING)))
        or 0
    )


def deferred(session: Session, campaign_id: int) -> int:
    """Deliveries waiting for a scheduled retry."""
    return int(
        session.scalar(select(func.count()).where(Delivery.campaign_id == campaign_id, Delivery.status == DEFERRED))
        or 0
    )


def delivered(session: Session, campaign_id: int) -> int:
    return int(
        session.scalar(select(func.count()).where(Delivery.campaign_id == campaign_id, Delivery.status == DELIVERED))
        or 0
    )


def progress(session: Session, campaign_id: int) -> tuple[int, int]:
    """(settled, total) deliveries of a campaign."""
    total = session.scalar(select(func.count()).where(Delivery.campaign_id == campaign_id)) or 0
    left = (
        session.scalar(
            select(func.count()).where(and_(Delivery.campaign_id == campaign_id, Delivery.status.in_(WAITING)))
        )
        or 0
    )
    return int(total - left), int(total)


# --- the sender's connection ---------------------------------------------------------------------

# Plain SQL for the per-message statements: building SQLAlchemy constructs per message costs more
# than executing them.
_MARK_SENT = text(
    "UPDATE campaign_deliveries SET status = 'sent', sent_at = :sent_at, provider_id = :provider_id WHERE id = :id"
).bindparams(bindparam("sent_at", type_=UTCDateTime()))
_CLAIM = text(
    "UPDATE campaign_deliveries SET status = 'sending', reserved_at = :now, attempts = attempts + 1"
    " WHERE id = :id AND status = 'reserved' AND reserved_by = :worker"
).bindparams(bindparam("now", type_=UTCDateTime()))

_SQLITE_MARK_AND_CLAIM = """
UPDATE campaign_deliveries SET
    status = CASE WHEN id = :claim THEN 'sending' ELSE 'sent' END,
    sent_at = CASE WHEN id = :claim THEN sent_at ELSE :sent_at END,
    provider_id = CASE WHEN id = :claim THEN provider_id ELSE :provider_id END,
    reserved_at = CASE WHEN id = :claim THEN :now ELSE reserved_at END,
    attempts = CASE WHEN id = :claim THEN attempts + 1 ELSE attempts END
WHERE id = :prev OR (id = :claim AND status = 'reserved' AND reserved_by = :worker)
RETURNING id
"""

_PG_MARK_AND_CLAIM = """
UPDATE campaign_deliveries SET
    status = CASE WHEN id = %(claim)s THEN 'sending' ELSE 'sent' END,
    sent_at = CASE WHEN id = %(claim)s THEN sent_at ELSE %(sent_at)s END,
    provider_id = CASE WHEN id = %(claim)s THEN provider_id ELSE %(provider_id)s END,
    reserved_at = CASE WHEN id = %(claim)s THEN %(now)s ELSE reserved_at END,
    attempts = CASE WHEN id = %(claim)s THEN attempts + 1 ELSE attempts END
WHERE id = %(prev)s OR (id = %(claim)s AND status = 'reserved' AND reserved_by = %(worker)s)
RETURNING id
"""


def _sqlite_time(value: datetime) -> str:
    # The text UTCDateTime/SQLAlchemy store on SQLite: naive UTC with microseconds.
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _driver(conn: Connection) -> Any:
    """The DB-API connection under SQLAlchemy (sqlite3 or psycopg)."""
    return conn.connection.driver_connection


class OutcomeWriter:
    """Writes one campaign's outcomes and claims on the sender's own connection (see `open`)."""

    def __init__(self, conn: Connection, campaign_id: int, worker: str) -> None:
        self.conn, self.campaign_id, self.worker = conn, campaign_id, worker
        self.sqlite = conn.dialect.name == "sqlite"

    @classmethod
    @contextlib.contextmanager
    def open(cls, database: Database, settings: Settings, campaign_id: int, worker: str) -> Iterator[OutcomeWriter]:
        engine = database.engine.execution_options(sqlite_immediate=True)
        with engine.connect() as conn, _relaxed_commits(conn, database, settings):
            yield cls(conn, campaign_id, worker)

    def commit(self, marks: list[Mark], *, claim: int | None) -> bool:
        """One transaction: write the outcomes in `marks`, then claim `claim` as `sending`. False if the claim lost."""
        if len(marks) <= 1 and all(m.status == DELIVERED for m in marks):
            return self._mark_and_claim(marks[0] if marks else None, claim)
        if self.sqlite and all(m.status == DELIVERED for m in marks):
            return self._sqlite_sent_and_claim(marks, claim)
        return self._general(marks, claim)

    def add_delivered(self, count: int) -> None:
        """Running total for progress displays; recounted exactly when the campaign finishes."""
        with _transaction(self.conn):
            bump_stats(self.conn, self.campaign_id, delivered=count)

    def _mark_and_claim(self, mark: Mark | None, claim: int | None) -> bool:
        # The steady state: one statement in autocommit mode (see _relaxed_commits), atomic on its
        # own. One round trip instead of four (BEGIN, mark, claim, COMMIT) on PostgreSQL; on
        # SQLite each call gives up the GIL and must win it back from the connection threads.
        now = utcnow()
        sqlite = self.sqlite
        sent_at = mark.sent_at if mark else None
        returned = (
            _driver(self.conn)
            .execute(
                _SQLITE_MARK_AND_CLAIM if sqlite else _PG_MARK_AND_CLAIM,
                {
                    "prev": mark.delivery_id if mark else -1,
                    "sent_at": _sqlite_time(sent_at) if sqlite and sent_at else sent_at,
                    "provider_id": mark.provider_id if mark else None,
                    "claim": claim if claim is not None else -1,
                    "now": _sqlite_time(now) if sqlite else now,
                    "worker": self.worker,
                },
            )
            .fetchall()
        )
        return claim is None or any(row[0] == claim for row in returned)

    def _sqlite_sent_and_claim(self, marks: list[Mark], claim: int | None) -> bool:
        # Several outcomes settled at once (one per connection), straight on the driver:
        # SQLAlchemy's per-statement work costs as much as SQLite's (same SQL as _MARK_SENT and _CLAIM).
        now = utcnow()
        raw = _driver(self.conn)
        raw.execute("BEGIN IMMEDIATE")
        try:
            if marks:
                raw.executemany(
                    "UPDATE campaign_deliveries SET status = 'sent', sent_at = ?, provider_id = ? WHERE id = ?",
                    [(_sqlite_time(m.sent_at), m.provider_id, m.delivery_id) for m in marks],
                )
            claimed = True
            if claim is not None:
                cursor = raw.execute(
                    "UPDATE campaign_deliveries SET status = 'sending', reserved_at = ?, attempts = attempts + 1"
                    " WHERE id = ? AND status = 'reserved' AND reserved_by = ?",
                    (_sqlite_time(now), claim, self.worker),
                )
                claimed = cursor.rowcount == 1
            raw.execute("COMMIT")
        except BaseException:
            raw.execute("ROLLBACK")
            raise
        return claimed

    def _general(self, marks: list[Mark], claim: int | None) -> bool:
        """Any mix of outcomes (failures, retries, skips) with their counters, in one transaction."""
        now = utcnow()
        conn = self.conn
        claimed = True
        with _transaction(conn):
            counters: dict[str, int] = {}
            for mark in marks:
                self._write(mark, now)
                for name, delta in mark.counters.items():
                    counters[name] = counters.get(name, 0) + delta
            bump_stats(conn, self.campaign_id, **counters)
            if claim is not None:
                claimed = conn.execute(_CLAIM, {"id": claim, "now": now, "worker": self.worker}).rowcount == 1
        return claimed

    def _write(self, mark: Mark, now: datetime) -> None:
        conn = self.conn
        if mark.status == DELIVERED:
            conn.execute(_MARK_SENT, {"id": mark.delivery_id, "sent_at": mark.sent_at, "provider_id": mark.provider_id})
            return
        values: dict[str, Any] = {"status": mark.status, "error": mark.error}
        if mark.status in (PENDING, DEFERRED):
            values |= {"reserved_by": None, "reserved_at": None}
        if mark.status == DEFERRED:
            values |= {"next_attempt_at": mark.next_attempt_at, "deferred_since": mark.deferred_since}
        if mark.attempts is not None:
            values["attempts"] = mark.attempts
        conn.execute(update(Delivery).where(Delivery.id == mark.delivery_id).values(**values))
        if mark.failure is not None:
            conn.execute(
                insert(DeliveryFailure).values(
                    delivery_id=mark.failure.delivery_id,
                    campaign_id=mark.failure.campaign_id,
                    kind=mark.failure.kind,
                    code=mark.failure.code,
                    detail=mark.failure.detail,
                    permanent=True,
                    occurred_at=now,
                )
            )


@contextlib.contextmanager
def _transaction(conn: Connection) -> Iterator[None]:
    """A real transaction on the sender's connection, which runs in autocommit mode on PostgreSQL."""
    if conn.dialect.name != "postgresql":
        with conn.begin():
            yield
        return
    raw = _driver(conn)
    raw.autocommit = False
    try:
        with conn.begin():
            yield
    finally:
        raw.autocommit = True


@contextlib.contextmanager
def _relaxed_commits(conn: Connection, database: Database, settings: Settings) -> Iterator[None]:
    """Per-message commits without waiting for the disk (see "Durability" in the package docstring)."""
    if database.is_sqlite:
        # Outside any transaction (SQLite refuses the change inside one); the driver is in autocommit mode.
        _driver(conn).execute("PRAGMA synchronous=NORMAL")
    else:
        with conn.begin():
            conn.exec_driver_sql("SET synchronous_commit TO OFF")
        _driver(conn).autocommit = True
    try:
        yield
    finally:
        # The connection goes back to the pool: restore the process-wide durability setting.
        if database.is_sqlite:
            _driver(conn).execute(f"PRAGMA synchronous={settings.sqlite_synchronous}")
            conn.connection.info["synchronous"] = settings.sqlite_synchronous  # what db.engine's writes read
        else:
            raw = _driver(conn)
            if raw.info.transaction_status != 0:  # not idle: a statement failed mid-way
                raw.rollback()
            raw.autocommit = False
            with conn.begin():
                conn.exec_driver_sql("RESET synchronous_commit")
