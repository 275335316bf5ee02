"""The sync engine shared by all platforms: checkpoints committed with the records they cover.

`SyncWriter` buffers canonical records per stream and, on flush, enqueues them as ingest batches
and upserts the stream's checkpoint in ONE `database.write()` transaction. A sync killed between
two flushes loses only uncommitted work, which the next run fetches again from the last committed
checkpoint: no gap, and (since ingest upserts on external id) no duplicate.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from fanhub.catalog.models import Order
from fanhub.connectors.models import Checkpoint, Connection
from fanhub.db.base import utcnow
from fanhub.db.engine import Database
from fanhub.ingest.records import (
    ContactBatch,
    ContactRecord,
    EventBatch,
    EventRecord,
    OrderBatch,
    OrderRecord,
    locate,
    record_digest,
    validate_record,
)
from fanhub.ingest.service import enqueue_batch

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LEASE_SECONDS = 900


@dataclass(frozen=True)
class ConnectionInfo:
    """What a connector needs to know about its connection, detached from any session."""

    id: int
    organization_id: int
    platform: str
    base_url: str
    credentials: dict[str, Any]
    settings: dict[str, Any]

    @property
    def source(self) -> str:
        return f"{self.platform}:{self.id}"


@dataclass
class SyncResult:
    """What one run queued: events, orders, and the people (buyers and contacts) in those records."""

    events: int = 0
    orders: int = 0
    contacts: int = 0
    calls: int = 0
    seconds: float = 0.0
    rate_limited: int = 0
    skipped: int = 0
    finished: bool = True
    # True when this report includes a run of another process that this sync waited for.
    joined: bool = False

    def summary(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "orders": self.orders,
            "contacts": self.contacts,
            "calls": self.calls,
            "seconds": round(self.seconds, 3),
        }

    def plus(self, other: SyncResult) -> SyncResult:
        """This run and `other` (a run this one waited for) as one report."""
        return SyncResult(
            events=self.events + other.events,
            orders=self.orders + other.orders,
            contacts=self.contacts + other.contacts,
            calls=self.calls + other.calls,
            seconds=max(self.seconds, other.seconds),
            rate_limited=self.rate_limited + other.rate_limited,
            skipped=self.skipped + other.skipped,
            finished=other.finished,
        )


Progress = Callable[[SyncResult], None]


def build(model: Any, data: dict[str, Any], fallbacks: Sequence[Callable[[dict[str, Any]], None]] = ()) -> Any:
    """Validate `data` into `model`; on failure apply each fallback (e.g. drop an unparseable phone) and retry.

    Returns None when the record cannot be made valid: the platform gave too little to keep it.
    """
    try:
        return validate_record(model, data)
    except ValidationError as exc:
        error = exc
        for fallback in fallbacks:
            fallback(data)
            try:
                return validate_record(model, data)
            except ValidationError as again:
                error = again
    # Never stored altered (an amount rounded, a currency guessed): the record is left out, and why is logged.
    first = error.errors(include_url=False, include_input=False)[0]
    loc, message = locate(first)
    log.warning("%s %s left out: %s: %s", model.__name__, data.get("id"), ".".join(map(str, loc)), message)
    return None


@dataclass
class _Buffer:
    stream: str | None = None
    state: dict[str, Any] | None = None
    events: list[EventRecord] = field(default_factory=list)
    orders: list[OrderRecord] = field(default_factory=list)
    contacts: list[ContactRecord] = field(default_factory=list)
    since: float = field(default_factory=time.monotonic)

    def size(self) -> int:
        return len(self.events) + len(self.orders) + len(self.contacts)


class SyncWriter:
    """Loads checkpoints and commits records together with the checkpoint that covers them."""

    flush_records: ClassVar[int] = 2000
    flush_seconds: ClassVar[float] = 2.0

    def __init__(self, database: Database, info: ConnectionInfo, result: SyncResult | None = None) -> None:
        self.database = database
        self.info = info
        self.result = result or SyncResult()
        self._buffer = _Buffer()
        # Digests of orders queued by this run: a later stream (a rescan) need not queue them again.
        self._queued: dict[str, OrderRecord] = {}
        # The people (email, else phone) in the records this run queued: buyers count, not only
        # contact records (an Eventbrite buyer is a contact too).
        self._people: set[str] = set()
        self.progress: Progress | None = None
        # Test hook: called after every commit (raise here to simulate a kill between commits).
        self.after_commit: Callable[[SyncWriter], None] | None = None

    # -- checkpoints --------------------------------------------------------------------------
    def load(self, stream: str) -> dict[str, Any]:
        with self.database.read() as session:
            row = session.scalars(
                select(Checkpoint).where(Checkpoint.connection_id == self.info.id, Checkpoint.stream == stream)
            ).first()
            return dict(row.state) if row is not None else {}

    @staticmethod
    def _save(session: Session, connection_id: int, stream: str, state: dict[str, Any]) -> None:
        row = session.scalars(
            select(Checkpoint).where(Checkpoint.connection_id == connection_id, Checkpoint.stream == stream)
        ).first()
        if row is None:
            session.add(Checkpoint(connection_id=connection_id, stream=stream, state=state, updated_at=utcnow()))
        else:
            row.state = state
            row.updated_at = utcnow()

    # -- records ------------------------------------------------------------------------------
    def add(
        self,
        stream: str,
        state: dict[str, Any],
        events: Sequence[EventRecord] = (),
        orders: Sequence[OrderRecord] = (),
        contacts: Sequence[ContactRecord] = (),
    ) -> None:
        """Buffer records and the state that covers them; flushed by size, age or stream change."""
        if self._buffer.stream is not None and self._buffer.stream != stream:
            self.flush()
        self._buffer.stream = stream
        self._buffer.state = state
        self._buffer.events.extend(events)
        self._buffer.orders.extend(orders)
        self._queued.update((o.id, o) for o in orders)
        self._buffer.contacts.extend(contacts)
        if self._buffer.size() >= self.flush_records or time.monotonic() - self._buffer.since >= self.flush_seconds:
            self.flush()

    def flush(self) -> None:
        buffer = self._buffer
        self._buffer = _Buffer()
        if buffer.stream is None or buffer.state is None:
            return
        self.commit(buffer.stream, buffer.state, buffer.events, buffer.orders, buffer.contacts)

    def commit(
        self,
        stream: str | None,
        state: dict[str, Any] | None,
        events: Sequence[EventRecord] = (),
        orders: Sequence[OrderRecord] = (),
        contacts: Sequence[ContactRecord] = (),
    ) -> None:
        info = self.info
        with self.database.write() as session:
            # Arrival order is apply order: events before the orders that point at them.
            if events:
                payload = EventBatch(events=list(events)).model_dump_json()
                enqueue_batch(session, info.organization_id, info.source, "events", payload, len(events))
            if orders:
                payload = OrderBatch(orders=list(orders)).model_dump_json()
                enqueue_batch(session, info.organization_id, info.source, "orders", payload, len(orders))
            contacts = _latest_per_person(contacts)
            if contacts:
                payload = ContactBatch(contacts=list(contacts)).model_dump_json()
                enqueue_batch(session, info.organization_id, info.source, "contacts", payload, len(contacts))
            if stream is not None and state is not None:
                self._save(session, info.id, stream, state)
            connection = session.get(Connection, info.id)
            if connection is not None:
                # Still working: keep other workers off this connection.
                connection.lease_until = utcnow() + timedelta(seconds=LEASE_SECONDS)
                counts = dict(connection.counts or {})
                for key, value in (("events", len(events)), ("orders", len(orders))):
                    counts[key] = int(counts.get(key, 0)) + value
                connection.counts = counts
        self._people.update(o.customer.email or o.customer.phone or "" for o in orders)
        self._people.update(c.contact.email or c.contact.phone or "" for c in contacts)
        self._people.discard("")
        self.result.events += len(events)
        self.result.orders += len(orders)
        self.result.contacts = len(self._people)
        if self.progress is not None:
            self.progress(self.result)
        if self.after_commit is not None:
            self.after_commit(self)

    def unchanged_orders(self, records: Sequence[OrderRecord]) -> set[str]:
        """Ids of orders whose stored (or queued this run) digest equals this record's: nothing new."""
        if not records:
            return set()
        same = {r.id for r in records if r.id in self._queued and record_digest(self._queued[r.id]) == record_digest(r)}
        records = [r for r in records if r.id not in same]
        ids = [r.id for r in records]
        with self.database.read() as session:
            stored = dict(
                session.execute(
                    select(Order.external_id, Order.record_hash).where(
                        Order.organization_id == self.info.organization_id,
                        Order.source == self.info.source,
                        Order.external_id.in_(ids),
                    )
                ).all()
            )
        return same | {r.id for r in records if stored.get(r.id) == record_digest(r)}


def _latest_per_person(contacts: Sequence[ContactRecord]) -> list[ContactRecord]:
    """One consent statement per email (or phone) per batch: the latest observed wins anyway."""
    latest: dict[str, ContactRecord] = {}
    for contact in contacts:
        key = contact.contact.email or contact.contact.phone or ""
        known = latest.get(key)
        if known is None or (known.observed_at or _EPOCH) <= (contact.observed_at or _EPOCH):
            latest[key] = contact
    return list(latest.values())


@dataclass
class WebhookOutcome:
    """Records a processed delivery produced; `recheck_after` asks for one more look later (staleness)."""

    events: list[EventRecord] = field(default_factory=list)
    orders: list[OrderRecord] = field(default_factory=list)
    contacts: list[ContactRecord] = field(default_factory=list)
    recheck_after: float | None = None
    note: str | None = None
