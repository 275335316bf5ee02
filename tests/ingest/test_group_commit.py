"""Concurrent accepts share write transactions, and each caller hears only of its own committed batch."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from sqlalchemy import event, select

from fanhub.db.engine import Database
from fanhub.ingest.models import IngestBatch, IngestPayload
from fanhub.ingest.service import accept_batch
from tests.conftest import Tenant


def _accept_concurrently(db: Database, tenant: Tenant, count: int) -> tuple[list[str], list[BaseException]]:
    ids: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(count)

    def accept(n: int) -> None:
        start.wait()
        try:
            ids.append(accept_batch(db, tenant.organization_id, "partner:acme", "orders", f'{{"n": {n}}}', n + 1))
        except BaseException as exc:  # noqa: BLE001 - collected for the assertions
            errors.append(exc)

    threads = [threading.Thread(target=accept, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return ids, errors


def test_every_concurrent_accept_is_committed_once_with_its_own_payload(db: Database, tenant: Tenant) -> None:
    commits = Counter[str]()

    def count_commit(_connection: object) -> None:
        commits.update(["commit"])

    event.listen(db.engine, "commit", count_commit)
    try:
        ids, errors = _accept_concurrently(db, tenant, 16)
    finally:
        event.remove(db.engine, "commit", count_commit)
    assert errors == []
    assert len(set(ids)) == 16
    with db.read() as session:
        rows = session.execute(
            select(IngestBatch.public_id, IngestBatch.item_count, IngestPayload.payload).join(
                IngestPayload, IngestPayload.batch_id == IngestBatch.id
            )
        ).all()
    assert {public_id for public_id, _, _ in rows} == set(ids)
    # Each batch kept its own payload and count (n items for payload n - 1).
    assert all(count == int(payload.split(":")[1].strip(" }")) + 1 for _, count, payload in rows)
    # Sixteen accepts arriving together took fewer than sixteen transactions.
    assert 1 <= commits["commit"] < 16


def test_a_failed_group_transaction_fails_every_accept_in_it_and_stores_nothing(
    db: Database, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fanhub.ingest.service as ingest_service

    real = ingest_service.enqueue_batch
    calls = 0

    def failing_on_the_third(*args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(ingest_service, "enqueue_batch", failing_on_the_third)
    ids, errors = _accept_concurrently(db, tenant, 8)
    assert errors, "the accept whose transaction failed must hear of it"
    assert all(isinstance(e, RuntimeError) for e in errors)
    assert len(ids) + len(errors) == 8
    with db.read() as session:
        stored = set(session.scalars(select(IngestBatch.public_id)))
    # Whoever got an id has a stored batch; whoever got the error has none.
    assert stored == set(ids)
