"""Worker jobs: process webhook deliveries, and run due scheduled syncs.

A sync job works on one due connection for a bounded time (its checkpoints make stopping safe), so
a big backfill never starves batch applying or other jobs, and each turn takes the connection
that has waited longest. A failing connection records its error and is rescheduled with backoff,
never blocking the others.
"""

from __future__ import annotations

import logging
import time

from sqlalchemy import select

from fanhub.connectors.models import ACTIVE, Connection
from fanhub.connectors.service import SyncBusy, run_sync
from fanhub.connectors.webhooks import process_due
from fanhub.db.base import utcnow
from fanhub.db.engine import Database

log = logging.getLogger(__name__)
SYNC_SLICE_SECONDS = 20.0


def process_webhooks(database: Database) -> bool:
    return process_due(database) > 0


def due_connections(database: Database, limit: int = 10) -> list[int]:
    now = utcnow()
    with database.read() as session:
        return list(
            session.scalars(
                select(Connection.id)
                .where(
                    Connection.status == ACTIVE, Connection.next_sync_at.is_not(None), Connection.next_sync_at <= now
                )
                .where((Connection.lease_until.is_(None)) | (Connection.lease_until < now))
                .order_by(Connection.next_sync_at, Connection.id)
                .limit(limit)
            )
        )


def run_due_syncs(database: Database) -> bool:
    for connection_id in due_connections(database):
        try:
            run_sync(database, connection_id, deadline=time.monotonic() + SYNC_SLICE_SECONDS)
        except SyncBusy:
            continue  # another worker took it between our read and our claim
        except Exception as exc:
            # Recorded on the connection by run_sync; the next due connection still gets its turn.
            log.warning("sync of connection %s failed: %s", connection_id, exc)
        return True
    return False
