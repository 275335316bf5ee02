"""One busy organization does not starve the others: claims rotate through organizations with a backlog."""

from __future__ import annotations

from sqlalchemy import select

from fanhub.db.engine import Database
from fanhub.ingest.models import APPLIED, IngestBatch
from fanhub.ingest.records import OrderBatch
from fanhub.ingest.service import apply_next_batches, enqueue_batch
from tests.conftest import make_tenant
from tests.examples import order


def _enqueue(db: Database, organization_id: int, order_id: str) -> str:
    payload = OrderBatch.model_validate({"orders": [order(order_id, f"{order_id}@x.co")]}).model_dump_json()
    with db.write() as session:
        return enqueue_batch(session, organization_id, "partner:acme", "orders", payload, 1).public_id


def _applied(db: Database, public_id: str) -> bool:
    with db.read() as session:
        return session.scalars(select(IngestBatch.status).where(IngestBatch.public_id == public_id)).one() == APPLIED


def test_a_quiet_organization_is_applied_within_two_claims_of_a_busy_ones_backlog(db: Database) -> None:
    busy, quiet = make_tenant(db, "Busy"), make_tenant(db, "Quiet", partner="other")
    backlog = [_enqueue(db, busy.organization_id, f"busy{i}") for i in range(12)]  # queued first
    single = _enqueue(db, quiet.organization_id, "quiet")
    claims = 0
    # One batch per claim (max_records=1), so each claim is one organization's turn.
    while not _applied(db, single):
        assert apply_next_batches(db, max_records=1) == 1
        claims += 1
        assert claims <= 2, "the quiet organization waited behind the busy one's backlog"
    # The busy organization keeps its arrival order and is finished too.
    while apply_next_batches(db, max_records=1):
        pass
    assert all(_applied(db, batch) for batch in backlog)
