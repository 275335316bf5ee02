"""Accepting batches durably, reporting their status, and applying them in arrival order.

A batch is committed before its caller is told 201. Applying claims one organization at a time
(PostgreSQL: `FOR UPDATE SKIP LOCKED` on the organization row; SQLite: the single write lock), takes
that organization's oldest queued batch, applies it and marks it applied in the same transaction.
A process killed mid-apply rolls back, so the batch is simply applied again later: exactly once in
effect.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
import weakref
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from fanhub.db.base import utcnow
from fanhub.db.engine import Database
from fanhub.db.maintenance import refresh_statistics
from fanhub.ingest.apply import ApplyContext, apply_payload
from fanhub.ingest.models import APPLIED, FAILED, QUEUED, IngestBatch, IngestPayload
from fanhub.ingest.repository import BatchRepository
from fanhub.organizations.models import Organization

log = logging.getLogger(__name__)
WORKER_NAME = f"{socket.gethostname()}:{os.getpid()}"


def enqueue_batch(
    session: Session,
    organization_id: int,
    source: str,
    kind: str,
    payload: str,
    item_count: int,
) -> IngestBatch:
    """Store a validated batch of canonical records; the caller's commit makes it durable.

    The stored payload is the apply's only input: whichever process applies the batch, and when,
    reads it from there. (Handing this process's validated records to its own worker instead saved
    ~2% of the apply but kept up to 50,000 of them alive: every young-generation GC pass walked
    them, stalling accepts 150 ms at a time.)
    """
    batch = IngestBatch(
        public_id=uuid.uuid4().hex,
        organization_id=organization_id,
        source=source,
        kind=kind,
        item_count=item_count,
        status=QUEUED,
        received_at=utcnow(),
    )
    session.add(batch)
    session.flush()
    session.add(IngestPayload(batch_id=batch.id, payload=payload))
    return batch


@dataclass(eq=False)
class _Accept:
    organization_id: int
    source: str
    kind: str
    payload: str
    item_count: int
    woken: threading.Event = field(default_factory=threading.Event)
    leads: bool = False
    public_id: str | None = None
    error: BaseException | None = None

    def result(self) -> str:
        if self.error is not None:
            raise self.error
        assert self.public_id is not None
        return self.public_id


class _GroupCommit:
    """Concurrent accepts of one process share a write transaction (group commit).

    Every write transaction has a fixed cost on top of its rows (BEGIN IMMEDIATE, COMMIT and its
    fsync, a GIL hand-off at each call) paid while holding SQLite's single write lock, and eight
    clients posting at once queued for that lock one by one. An accept that finds no commit under way
    leads: it stores every accept waiting at that moment in one transaction, wakes them, and hands the
    lead to the next one waiting, if any. Each caller still returns only after the commit that holds
    its batch.
    """

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._waiting: list[_Accept] = []
        self._leading = False

    def store(self, database: Database, accept: _Accept) -> str:
        with self._mutex:
            self._waiting.append(accept)
            accept.leads = not self._leading
            self._leading = True
        if not accept.leads:
            accept.woken.wait()
            if not accept.leads:  # a leader stored it (or failed to)
                return accept.result()
        with self._mutex:
            group, self._waiting = self._waiting, []
        try:
            with database.write() as session:
                for item in group:
                    stored = enqueue_batch(
                        session, item.organization_id, item.source, item.kind, item.payload, item.item_count
                    )
                    item.public_id = stored.public_id
        except BaseException as exc:
            for item in group:
                item.public_id, item.error = None, exc
        finally:
            with self._mutex:
                if self._waiting:
                    successor = self._waiting[0]
                    successor.leads = True
                    successor.woken.set()
                else:
                    self._leading = False
            for item in group:
                if item is not accept:
                    item.woken.set()
        return accept.result()


_group_commits: weakref.WeakKeyDictionary[Database, _GroupCommit] = weakref.WeakKeyDictionary()
_group_commits_mutex = threading.Lock()


def accept_batch(
    database: Database, organization_id: int, source: str, kind: str, payload: str, item_count: int
) -> str:
    """Store a validated batch durably (committed on return) and return its public id.

    Shares its transaction with the accepts of this process that arrive meanwhile (`_GroupCommit`).
    """
    with _group_commits_mutex:
        group_commit = _group_commits.get(database)
        if group_commit is None:
            group_commit = _group_commits[database] = _GroupCommit()
    return group_commit.store(database, _Accept(organization_id, source, kind, payload, item_count))


def get_batch(session: Session, organization_id: int, public_id: str) -> IngestBatch:
    return BatchRepository(session).get_public(organization_id, public_id)


def list_batches(session: Session, organization_id: int, limit: int = 20) -> list[IngestBatch]:
    query = (
        select(IngestBatch)
        .where(IngestBatch.organization_id == organization_id)
        .order_by(IngestBatch.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


@dataclass(frozen=True)
class Backlog:
    queued: int
    oldest_received_at: datetime | None


def backlog(session: Session) -> Backlog:
    count, oldest = session.execute(
        select(func.count(), func.min(IngestBatch.received_at)).where(IngestBatch.status == QUEUED)
    ).one()
    if isinstance(oldest, str):  # SQLite aggregate results bypass the column type
        oldest = datetime.fromisoformat(oldest)
    if oldest is not None and oldest.tzinfo is None:
        from datetime import UTC

        oldest = oldest.replace(tzinfo=UTC)
    return Backlog(int(count or 0), oldest)


# The organization this process claimed last: claims rotate through the organizations with queued
# batches in id order, so one organization's backlog of thousands of batches cannot starve the others
# (an unordered LIMIT 1 kept returning the same busy one). Per process; several workers each rotate.
_last_claimed = 0


def _claim_organization(session: Session) -> int | None:
    """The next organization after the last one claimed, with queued batches no other worker is applying."""
    global _last_claimed
    has_queued = (
        select(IngestBatch.id)
        .where(IngestBatch.organization_id == Organization.id, IngestBatch.status == QUEUED)
        .exists()
    )
    # FOR NO KEY UPDATE, not FOR UPDATE: accepts insert batches whose foreign key takes a KEY SHARE
    # lock on the organization row, and FOR UPDATE would make every accept wait for the apply.
    query = (
        select(Organization.id)
        .where(has_queued)
        .order_by(Organization.id)
        .limit(1)
        .with_for_update(skip_locked=True, key_share=True)
    )
    claimed = session.scalars(query.where(Organization.id > _last_claimed)).first()
    if claimed is None:  # past the last one: start again from the lowest id
        claimed = session.scalars(query).first()
    if claimed is not None:
        _last_claimed = claimed
    return claimed


# One transaction applies an organization's queued batches up to about this many records, but hands
# the write lock over after the current batch as soon as another writer (an accept, another process)
# waits for it or requests are in flight. Fewer commits pay on SQLite, where each commit writes every
# index page the transaction dirtied and a buyer's contact pages are dirtied again by the next batch
# (apply-only 100k orders: 91-93 us/order at 8,000, 100-101 at 2,000, which was ~25% faster than
# 500); PostgreSQL measured 7% slower at 8,000 (223 us/order vs 209 at 2,000, 50k orders).
MAX_RECORDS_PER_TRANSACTION = {"sqlite": 8000, "postgresql": 2000}


# Tables a bulk load grows fast enough to outrun autovacuum's statistics (see db.maintenance).
HOT_TABLES = ("orders", "order_items", "contacts", "contact_sources", "consent_events", "events", "ingest_batches")
STATISTICS_CHECK_SECONDS = 2.0  # the check is one small query
_next_statistics_check = 0.0


def apply_next_batches(database: Database, max_records: int | None = None) -> int:
    """Apply the oldest queued batches of one unclaimed organization; returns how many (0: none waiting)."""
    if max_records is None:
        max_records = MAX_RECORDS_PER_TRANSACTION["sqlite" if database.is_sqlite else "postgresql"]
    applied = _apply_next_batches(database, max_records)
    if applied and not database.is_sqlite:
        global _next_statistics_check
        now = time.monotonic()
        if now >= _next_statistics_check:
            _next_statistics_check = now + STATISTICS_CHECK_SECONDS
            refresh_statistics(database, HOT_TABLES)
    return applied


def _apply_next_batches(database: Database, max_records: int) -> int:
    with database.write(replayable=True) as session:
        organization_id = _claim_organization(session)
        if organization_id is None:
            return 0
        candidates = session.execute(
            select(IngestBatch.id, IngestBatch.item_count)
            .where(IngestBatch.organization_id == organization_id, IngestBatch.status == QUEUED)
            .order_by(IngestBatch.id)
            .limit(200)
        ).all()
        chosen: list[int] = []
        records = 0
        for batch_id, item_count in candidates:
            if chosen and records + item_count > max_records:
                break
            records += item_count
            chosen.append(batch_id)
        batches = session.scalars(select(IngestBatch).where(IngestBatch.id.in_(chosen)).order_by(IngestBatch.id))
        applied = 0
        for batch in batches.all():
            if applied and database.writers_waiting():
                break  # the rest stay queued, in order, for the next transaction
            _apply_one(session, batch)
            applied += 1
        return applied


# A batch holds at most 1,000 items (the Partners API's limit); a record may break several rules.
MAX_STORED_ERRORS = 2000


def _apply_one(session: Session, batch: IngestBatch) -> None:
    organization = session.get(Organization, batch.organization_id)
    region = organization.phone_region if organization is not None else None
    ctx = ApplyContext(batch.organization_id, batch.source, batch.public_id, batch.received_at, region)
    try:
        # `apply_payload` keeps every record it can, each failing one isolated in its own savepoint.
        stats = apply_payload(session, ctx, batch.kind, _payload(session, batch.id))
    except (OperationalError, InterfaceError):
        raise  # the database, not the batch: the transaction fails and the batch stays queued
    except Exception:  # an unreadable payload or a bug: keep the batch, report it without internals
        log.exception("batch %s failed to apply", batch.public_id)
        batch.status = FAILED
        message = f"the batch could not be applied; the reason is in the server log (batch {batch.public_id})"
        batch.errors = [{"index": None, "field": None, "message": message}]
        batch.applied_at = utcnow()
        return
    # Some records left out: the batch is applied (the rest are stored), its errors name them.
    rejected_records = {error["index"] for error in stats.rejected}
    batch.status = FAILED if rejected_records and len(rejected_records) >= batch.item_count else APPLIED
    batch.stats = stats.as_dict()
    batch.errors = stats.rejected[:MAX_STORED_ERRORS]
    batch.applied_at = utcnow()
    batch.applied_by = WORKER_NAME


def _payload(session: Session, batch_id: int) -> str:
    return session.execute(select(IngestPayload.payload).where(IngestPayload.batch_id == batch_id)).scalar_one()


def drain(database: Database, max_batches: int | None = None) -> int:
    """Apply queued batches until none is left (or about `max_batches`); returns how many were applied."""
    applied = 0
    while max_batches is None or applied < max_batches:
        count = apply_next_batches(database)
        if not count:
            break
        applied += count
    return applied


def requeue_failed(session: Session, organization_id: int) -> int:
    """Replay tool: put an organization's failed batches back in the queue."""
    result = session.execute(
        update(IngestBatch)
        .where(IngestBatch.organization_id == organization_id, IngestBatch.status == FAILED)
        .values(status=QUEUED, errors=[])
    )
    return int(getattr(result, "rowcount", 0) or 0)
