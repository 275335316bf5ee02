"""A batch that fails in the apply keeps its valid records; its errors name the item, never internals."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from fanhub.catalog.models import Order
from fanhub.db.engine import Database
from fanhub.ingest import apply
from fanhub.ingest.service import enqueue_batch
from tests.conftest import Tenant, drain
from tests.examples import order


def _status(client: TestClient, tenant: Tenant, batch_id: str) -> dict[str, object]:
    response = client.get(f"/v1/partners/batches/{batch_id}", headers=tenant.headers)
    status: dict[str, object] = response.json()["response"]
    return status


def _stored_ids(db: Database) -> list[str]:
    with db.read() as session:
        return sorted(session.scalars(select(Order.external_id)))


def _enqueue(db: Database, tenant: Tenant, orders: list[dict[str, object]]) -> str:
    """Store a payload as an older fanhub (before today's rules) would have accepted it."""
    with db.write() as session:
        batch = enqueue_batch(
            session, tenant.organization_id, "partner:acme", "orders", json.dumps({"orders": orders}), len(orders)
        )
        return batch.public_id


def test_a_stored_record_that_no_longer_validates_is_left_out_alone(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    orders = [order(f"o{i}", f"b{i}@x.co") for i in range(5)]
    orders[3]["customer"]["last_name"] = "\u0000"  # type: ignore[index]
    batch_id = _enqueue(db, tenant, orders)
    drain(db)
    status = _status(client, tenant, batch_id)
    assert status["status"] == "applied"
    assert _stored_ids(db) == ["o0", "o1", "o2", "o4"]
    errors = status["errors"]
    assert isinstance(errors, list) and len(errors) == 1
    assert errors[0]["index"] == 3 and errors[0]["field"] == "orders[3].customer.last_name"
    assert "control characters" in errors[0]["message"]
    assert status["stats"] == {**status["stats"], "created": 4, "rejected": 1}  # type: ignore[dict-item]


@pytest.fixture
def refuse_order_o7(db: Database) -> Iterator[None]:
    """A listener that fails on one order, standing for a record the database refuses."""

    def refuse(session: Session, organization_id: int, order_ids: Sequence[int]) -> None:
        names = session.scalars(select(Order.external_id).where(Order.id.in_(order_ids)))
        if "o7" in set(names):
            raise RuntimeError("INSERT INTO secret_table VALUES ('internal detail')")

    apply.on_orders_changed(refuse)
    yield
    apply._order_listeners.remove(refuse)


def test_a_record_the_database_refuses_is_isolated_and_the_rest_are_kept(
    client: TestClient, db: Database, tenant: Tenant, refuse_order_o7: None, caplog: pytest.LogCaptureFixture
) -> None:
    batch_id = _enqueue(db, tenant, [order(f"o{i}", f"b{i}@x.co") for i in range(10)])
    with caplog.at_level(logging.ERROR, logger="fanhub.ingest.apply"):
        drain(db)
    status = _status(client, tenant, batch_id)
    assert status["status"] == "applied"
    assert _stored_ids(db) == sorted(f"o{i}" for i in range(10) if i != 7)
    assert status["errors"] == [
        {
            "index": 7,
            "field": "orders[7]",
            "message": f"could not be stored; the reason is in the server log (batch {batch_id}, orders[7])",
        }
    ]
    # The exception is in the server log, not in what the partner reads.
    assert "secret_table" in caplog.text
    assert "secret_table" not in json.dumps(status)


def test_a_batch_whose_every_record_fails_is_failed_without_internals(
    client: TestClient, db: Database, tenant: Tenant, refuse_order_o7: None
) -> None:
    batch_id = _enqueue(db, tenant, [order("o7", "b7@x.co")])
    other = _enqueue(db, tenant, [order("o8", "b8@x.co")])
    drain(db)
    status = _status(client, tenant, batch_id)
    assert status["status"] == "failed" and status["errors"][0]["index"] == 0  # type: ignore[index]
    assert "secret_table" not in json.dumps(status)
    assert _status(client, tenant, other)["status"] == "applied"


def test_an_unreadable_payload_fails_the_batch_with_a_plain_message(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    with db.write() as session:
        broken = enqueue_batch(session, tenant.organization_id, "partner:acme", "orders", '{"orders": 7}', 1)
    drain(db)
    status = _status(client, tenant, broken.public_id)
    assert status["status"] == "failed"
    assert status["errors"] == [
        {
            "index": None,
            "field": None,
            "message": f"the batch could not be applied; the reason is in the server log (batch {broken.public_id})",
        }
    ]
