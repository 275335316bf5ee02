"""A batch's writes: the enrollments' new positions written set-wise, and a batch undone by a
broken unique key (a concurrent worker's delivery) rerun one enrollment at a time from the
positions stored, not from the undone ones."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import IntegrityError
from tests.campaigns.conftest import add_contact, order, post_orders
from tests.conftest import Tenant
from tests.flows.core_helpers import EMAIL_STEP, T0, document, enrollments, flow_deliveries, make_flow, runs, settle

from fanhub.db.engine import Database
from fanhub.flows import messages
from fanhub.flows.models import COMPLETED, RUNNING

PLACED = T0 + timedelta(days=1)
WAIT = {"type": "wait", "duration": "PT1H"}


def _two_buyers(client: TestClient, db: Database, tenant: Tenant) -> tuple[int, list[int]]:
    flow_id = make_flow(db, tenant.organization_id, document({"type": "order_placed"}, EMAIL_STEP, WAIT, EMAIL_STEP))
    contacts = [add_contact(client, db, tenant, f"fan{n}@example.com") for n in range(2)]
    for n in range(2):
        post_orders(client, db, tenant, order(f"o{n}", f"fan{n}@example.com", PLACED))
    return flow_id, contacts


def test_positions_are_written_for_the_whole_batch(client: TestClient, db: Database, tenant: Tenant) -> None:
    flow_id, contacts = _two_buyers(client, db, tenant)
    settle(db, PLACED)
    assert [(e.state, e.step_index, e.next_run_at) for e in enrollments(db, flow_id)] == [
        (RUNNING, 2, PLACED + timedelta(hours=1))
    ] * 2
    settle(db, PLACED + timedelta(hours=1))
    done = enrollments(db, flow_id)
    assert [(e.state, e.step_index, e.next_run_at, e.finished_at) for e in done] == [
        (COMPLETED, 3, None, PLACED + timedelta(hours=1))
    ] * 2
    assert sorted(runs(db, flow_id)) == sorted(
        (c, i, o) for c in contacts for i, o in enumerate(("sent", "done", "sent"))
    )


def test_a_batch_undone_by_a_unique_key_reruns_from_the_stored_positions(
    monkeypatch: pytest.MonkeyPatch, client: TestClient, db: Database, tenant: Tenant
) -> None:
    flow_id, contacts = _two_buyers(client, db, tenant)
    real = messages.insert_runs_with_deliveries
    broken: list[int] = []

    def once_broken(*args: Any) -> None:
        if not broken:
            broken.append(1)
            raise IntegrityError("INSERT", {}, Exception("a concurrent worker's delivery"))
        real(*args)

    monkeypatch.setattr(messages, "insert_runs_with_deliveries", once_broken)
    settle(db, PLACED)
    assert broken == [1]
    # Each enrollment ran its first steps once, in its own savepoint: sent, then waiting.
    assert [(e.state, e.step_index) for e in enrollments(db, flow_id)] == [(RUNNING, 2)] * 2
    assert sorted(runs(db, flow_id)) == sorted((c, i, o) for c in contacts for i, o in enumerate(("sent", "done")))
    assert len(flow_deliveries(db, flow_id)) == 2
