"""The apply path: idempotent upserts, later arrival wins, orders before events, batch status."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from fanhub.catalog.models import Order, OrderItem
from fanhub.db.engine import Database
from fanhub.ingest.records import OrderBatch
from fanhub.ingest.service import enqueue_batch
from tests.conftest import Tenant, drain, post_and_apply
from tests.examples import EVENTS, ORDERS, fresh, order


def _count(db: Database, model: type) -> int:
    with db.read() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_resending_a_batch_changes_nothing(client: TestClient, db: Database, tenant: Tenant) -> None:
    post_and_apply(client, db, tenant, "events", fresh(EVENTS))
    post_and_apply(client, db, tenant, "orders", fresh(ORDERS))
    before_order = client.get("/v1/partners/orders", headers=tenant.headers).json()["response"]
    before_contact = client.get("/v1/partners/contacts", headers=tenant.headers).json()["response"]

    batch_id = post_and_apply(client, db, tenant, "orders", fresh(ORDERS))
    status = client.get(f"/v1/partners/batches/{batch_id}", headers=tenant.headers).json()["response"]
    assert status["stats"]["unchanged"] == 1 and status["stats"]["created"] == 0
    assert client.get("/v1/partners/orders", headers=tenant.headers).json()["response"] == before_order
    assert client.get("/v1/partners/contacts", headers=tenant.headers).json()["response"] == before_contact
    assert _count(db, Order) == 1 and _count(db, OrderItem) == 1


def test_changed_record_updates_in_place_and_later_arrival_wins(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    first = {"orders": [order("A", "a@x.co", total=40.0, quantity=1)]}
    second = {"orders": [order("A", "a@x.co", total=100.0, quantity=2, status="refunded", refunded_amount=100.0)]}
    for body in (first, second):
        assert client.post("/v1/partners/orders", json=body, headers=tenant.headers).status_code == 201
    drain(db)
    orders = client.get("/v1/partners/orders", headers=tenant.headers).json()["response"]
    assert len(orders) == 1
    assert orders[0]["total_price"] == 100.0 and orders[0]["tickets"] == 2
    assert orders[0]["status"] == "refunded" and orders[0]["refunded_amount"] == 100.0
    assert _count(db, OrderItem) == 1


def test_duplicate_ids_within_one_batch_keep_the_last(client: TestClient, db: Database, tenant: Tenant) -> None:
    # The Partners API refuses such a batch (tests/partners/test_strict_input.py); a platform's may hold one.
    body = {"orders": [order("A", "a@x.co", total=10.0), order("A", "a@x.co", total=20.0)]}
    with db.write() as session:
        enqueue_batch(
            session,
            tenant.organization_id,
            "eventbrite:7",
            "orders",
            OrderBatch.model_validate(body).model_dump_json(),
            2,
        )
    drain(db)
    orders = client.get("/v1/partners/orders", headers=tenant.headers).json()["response"]
    assert [o["total_price"] for o in orders] == [20.0]


def test_order_before_its_event_is_linked_when_the_event_arrives(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    post_and_apply(client, db, tenant, "orders", fresh(ORDERS))
    assert client.get("/v1/partners/orders", headers=tenant.headers).json()["response"][0]["event_id"] is None
    post_and_apply(client, db, tenant, "events", fresh(EVENTS))
    event_id = client.get("/v1/partners/events", headers=tenant.headers).json()["response"][0]["id"]
    linked = client.get("/v1/partners/orders", params={"event_id": event_id}, headers=tenant.headers).json()
    assert [o["external_id"] for o in linked["response"]] == ["12345"]


def test_same_external_id_from_two_sources_are_two_records(client: TestClient, db: Database, tenant: Tenant) -> None:
    post_and_apply(client, db, tenant, "orders", {"orders": [order("1", "a@x.co")]})
    with db.write() as session:
        batch = OrderBatch.model_validate({"orders": [order("1", "a@x.co")]})
        enqueue_batch(session, tenant.organization_id, "eventbrite:7", "orders", batch.model_dump_json(), 1)
    drain(db)
    orders = client.get("/v1/partners/orders", headers=tenant.headers).json()["response"]
    assert sorted(o["source"] for o in orders) == ["eventbrite:7", "partner:acme"]
    assert len({o["contact_id"] for o in orders}) == 1
    contact = client.get("/v1/partners/contacts", headers=tenant.headers).json()["response"][0]
    assert sorted(s["source"] for s in contact["sources"]) == ["eventbrite:7", "partner:acme"]


def test_batches_apply_in_arrival_order(client: TestClient, db: Database, tenant: Tenant) -> None:
    for total in (10.0, 20.0, 30.0, 40.0):
        body = {"orders": [order("A", "a@x.co", total=total)]}
        assert client.post("/v1/partners/orders", json=body, headers=tenant.headers).status_code == 201
    assert drain(db) == 4
    assert client.get("/v1/partners/orders", headers=tenant.headers).json()["response"][0]["total_price"] == 40.0


def test_batch_status_counts_and_failure_is_reported(client: TestClient, db: Database, tenant: Tenant) -> None:
    response = client.post(
        "/v1/partners/orders", json={"orders": [order("A", "a@x.co"), order("B", "b@x.co")]}, headers=tenant.headers
    )
    batch_id = response.json()["batch_id"]
    queued = client.get(f"/v1/partners/batches/{batch_id}", headers=tenant.headers).json()["response"]
    assert queued["status"] == "queued" and queued["item_count"] == 2 and queued["applied_at"] is None
    health = client.get("/healthz").json()
    assert health["backlog"]["queued_batches"] == 1 and health["backlog"]["oldest_age_seconds"] >= 0
    drain(db)
    applied = client.get(f"/v1/partners/batches/{batch_id}", headers=tenant.headers).json()["response"]
    assert applied["status"] == "applied" and applied["stats"]["created"] == 2 and applied["errors"] == []
    assert client.get("/healthz").json()["backlog"]["queued_batches"] == 0

    # A stored payload the apply path cannot read is marked failed with the reason (item and field), and
    # does not block others.
    with db.write() as session:
        broken = enqueue_batch(session, tenant.organization_id, "partner:acme", "orders", '{"orders": [{}]}', 1)
        broken_id = broken.public_id
    post_and_apply(client, db, tenant, "orders", {"orders": [order("C", "c@x.co")]})
    failed = client.get(f"/v1/partners/batches/{broken_id}", headers=tenant.headers).json()["response"]
    assert failed["status"] == "failed"
    assert {"index": 0, "field": "orders[0].id", "message": "Field required"} in failed["errors"]


def test_read_pagination_is_consistent(client: TestClient, db: Database, tenant: Tenant) -> None:
    post_and_apply(client, db, tenant, "orders", {"orders": [order(str(i), f"p{i}@x.co") for i in range(25)]})
    seen: list[int] = []
    page = 1
    while True:
        body = client.get("/v1/partners/contacts", params={"page": page, "per_page": 10}, headers=tenant.headers).json()
        assert body["page"] == page and body["per_page"] == 10
        seen += [c["id"] for c in body["response"]]
        if not body["has_more"]:
            break
        page += 1
    assert page == 3 and len(seen) == len(set(seen)) == 25
    too_big = client.get("/v1/partners/contacts", params={"per_page": 101}, headers=tenant.headers)
    assert too_big.status_code == 422 and too_big.json()["errors"][0]["field"] == "per_page"


def _email_status(db: Database, email: str) -> str:
    from fanhub.audience.models import Contact

    with db.read() as session:
        return str(session.scalars(select(Contact.email_status).where(Contact.email == email)).one())


def _enqueue_orders(db: Database, tenant: Tenant, source: str, orders: list[dict[str, object]]) -> None:
    with db.write() as session:
        batch = OrderBatch.model_validate({"orders": orders})
        enqueue_batch(session, tenant.organization_id, source, "orders", batch.model_dump_json(), len(orders))
    drain(db)


def _list_reading(order_id: str, opted_in: bool, observed_at: str) -> dict[str, object]:
    return order(order_id, "fan@x.co", list_email_opt_in=opted_in, list_observed_at=observed_at)


def test_a_platform_list_state_on_orders_keeps_the_latest_reading_per_buyer(db: Database, tenant: Tenant) -> None:
    # Two orders of one buyer in one batch: the later reading (opted in) wins, whatever the batch order.
    newer = _list_reading("A", True, "2024-03-05T00:00:00Z")
    older = _list_reading("B", False, "2024-03-01T00:00:00Z")
    _enqueue_orders(db, tenant, "eventbrite:7", [newer, older])
    assert _email_status(db, "fan@x.co") == "subscribed"
    # A later reading of "not in the list any more" unsubscribes...
    _enqueue_orders(db, tenant, "eventbrite:7", [_list_reading("B", False, "2024-03-09T00:00:00Z")])
    assert _email_status(db, "fan@x.co") == "unsubscribed"
    # ...and no list state, from a platform or a partner, ever re-subscribes an opt-out.
    _enqueue_orders(db, tenant, "eventbrite:7", [_list_reading("C", True, "2024-04-01T00:00:00Z")])
    _enqueue_orders(db, tenant, "partner:acme", [_list_reading("D", True, "2024-04-02T00:00:00Z")])
    assert _email_status(db, "fan@x.co") == "unsubscribed"


def test_a_contact_links_each_source_once_counting_its_records(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    def named(order_id: str, first_name: str, phone: str | None = None) -> dict[str, object]:
        body = order(order_id, "a@x.co", phone)
        body["customer"]["first_name"] = first_name
        return body

    first = {"orders": [named("A", "Ada"), named("B", "Ada")]}
    post_and_apply(client, db, tenant, "orders", first)
    contact = client.get("/v1/partners/contacts", headers=tenant.headers).json()["response"][0]
    [link] = contact["sources"]
    assert link["records"] == 2 and link["email"] == "a@x.co"
    first_seen = link["first_seen_at"]

    later = {"orders": [named("C", "Adele", "+13035550100")]}
    post_and_apply(client, db, tenant, "orders", later)
    contact = client.get("/v1/partners/contacts", headers=tenant.headers).json()["response"][0]
    [link] = contact["sources"]  # the same source again: still one link, its count and latest view updated
    assert link["records"] == 3
    assert link["first_seen_at"] == first_seen and link["last_seen_at"] >= first_seen
    assert link["phone"] == "+13035550100" and link["name"] == "Adele"
