"""Bad input gets a clear 4xx naming the item and field, and nothing is queued."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from fanhub.audience.service import create_tag
from fanhub.db.engine import Database
from fanhub.ingest.models import IngestBatch
from tests.conftest import Tenant
from tests.examples import CONTACT, EVENTS, ORDERS, fresh


def _queued(db: Database) -> int:
    with db.read() as session:
        return int(session.scalar(select(func.count()).select_from(IngestBatch)) or 0)


def _post(client: TestClient, tenant: Tenant, path: str, body: Any) -> Any:
    return client.post(f"/v1/partners/{path}", json=body, headers=tenant.headers)


@pytest.mark.parametrize("field", ["id", "url", "name", "image_url", "start_datetime", "location"])
def test_each_required_event_field(client: TestClient, db: Database, tenant: Tenant, field: str) -> None:
    body = fresh(EVENTS)
    body["events"].insert(0, fresh(EVENTS)["events"][0] | {"id": "ok-1"})
    del body["events"][1][field]
    response = _post(client, tenant, "events", body)
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert errors == [{"index": 1, "field": f"events[1].{field}", "message": "Field required"}]
    assert response.json()["code"] != 0
    assert _queued(db) == 0


@pytest.mark.parametrize("field", ["id", "event_id", "customer", "marketing_opt_ins", "items"])
def test_each_required_order_field(client: TestClient, db: Database, tenant: Tenant, field: str) -> None:
    body = fresh(ORDERS)
    del body["orders"][0][field]
    response = _post(client, tenant, "orders", body)
    assert response.status_code == 422
    assert {"index": 0, "field": f"orders[0].{field}", "message": "Field required"} in response.json()["errors"]
    assert _queued(db) == 0


@pytest.mark.parametrize(
    ("mutate", "field", "fragment"),
    [
        (lambda o: o["customer"].pop("email") and o["customer"].pop("phone"), "orders[3].customer", "email or a phone"),
        (lambda o: o["customer"].update(email="not-an-email"), "orders[3].customer.email", "not a valid email"),
        (lambda o: o["customer"].update(phone="call me"), "orders[3].customer.phone", "phone"),
        (lambda o: o.update(items=[]), "orders[3].items", "at least 1"),
        (lambda o: o["items"][0].update(quantity="two"), "orders[3].items[0].quantity", "integer"),
        (lambda o: o["items"][0].update(total_price="80"), "orders[3].items[0].total_price", "number"),
        (lambda o: o["items"][0].update(total_price=-1), "orders[3].items[0].total_price", "greater than"),
        (lambda o: o["items"][0].update(currency_code="dollars"), "orders[3].items[0].currency_code", "ISO 4217"),
        (lambda o: o.update(created_at="2024-03-02T15:30:00"), "orders[3].created_at", "offset"),
        (lambda o: o.update(created_at="2024-03-02"), "orders[3].created_at", "offset"),
        (lambda o: o.update(created_at=1709393400), "orders[3].created_at", "RFC 3339"),
        (lambda o: o.update(created_at="yesterday"), "orders[3].created_at", "RFC 3339"),
        (lambda o: o["marketing_opt_ins"].update(email="yes please"), "orders[3].marketing_opt_ins.email", "boolean"),
        (lambda o: o.update(id=""), "orders[3].id", "empty"),
        (lambda o: o.update(id={"x": 1}), "orders[3].id", "string"),
        (lambda o: o.update(customer="john@x.co"), "orders[3].customer", "object"),
    ],
)
def test_bad_order_fields_name_item_and_field(
    client: TestClient, db: Database, tenant: Tenant, mutate: Any, field: str, fragment: str
) -> None:
    orders = [fresh(ORDERS)["orders"][0] | {"id": f"o{i}"} for i in range(5)]
    mutate(orders[3])
    response = _post(client, tenant, "orders", {"orders": orders})
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert [e["index"] for e in errors] == [3]
    assert errors[0]["field"] == field
    assert fragment.lower() in errors[0]["message"].lower()
    assert _queued(db) == 0


def test_bad_event_enum_and_datetime(client: TestClient, tenant: Tenant) -> None:
    body = fresh(EVENTS)
    body["events"][0]["status"] = "postponed"
    body["events"][0]["end_datetime"] = "2024-03-02 18:00"
    errors = _post(client, tenant, "events", body).json()["errors"]
    assert {e["field"] for e in errors} == {"events[0].status", "events[0].end_datetime"}
    assert "live" in next(e for e in errors if e["field"] == "events[0].status")["message"]


def test_offsets_are_accepted_and_stored_in_utc(client: TestClient, db: Database, tenant: Tenant) -> None:
    from tests.conftest import post_and_apply

    body = fresh(EVENTS)
    body["events"][0]["start_datetime"] = "2024-03-02T08:30:00-07:00"
    body["events"][0]["end_datetime"] = "2024-03-02T19:00:00.123456789+01:00"
    post_and_apply(client, db, tenant, "events", body)
    event = client.get("/v1/partners/events", headers=tenant.headers).json()["response"][0]
    assert event["start_datetime"] == "2024-03-02T15:30:00Z"
    assert event["end_datetime"] == "2024-03-02T18:00:00.123456Z"


def test_unknown_tags_lists_genres_and_ticketers(client: TestClient, db: Database, tenant: Tenant) -> None:
    with db.write() as session:
        create_tag(session, tenant.organization_id, "Tag 1")
    body = fresh(CONTACT)
    body["contact"]["list_id"] = 99
    body["contact"]["genres"] = ["Rock", "Polka"]
    body["interested_in_event"]["ticketer"] = "ticketbooth"
    response = _post(client, tenant, "contact", body)
    assert response.status_code == 422
    errors = {e["field"]: e["message"] for e in response.json()["errors"]}
    assert set(errors) == {"contact.tags[1]", "contact.list_id", "contact.genres[1]", "interested_in_event.ticketer"}
    assert "'Tag 2'" in errors["contact.tags[1]"] and "99" in errors["contact.list_id"]
    assert "'Polka'" in errors["contact.genres[1]"] and "'ticketbooth'" in errors["interested_in_event.ticketer"]
    assert _queued(db) == 0


def test_contact_needs_email_or_phone(client: TestClient, tenant: Tenant) -> None:
    response = _post(client, tenant, "contact", {"contact": {"full_name": "Nobody"}, "opt_ins": {"email": True}})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "contact"


def test_malformed_json_is_400(client: TestClient, db: Database, tenant: Tenant) -> None:
    response = client.post(
        "/v1/partners/orders",
        content=b'{"orders": [',
        headers=tenant.headers | {"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["code"] == 400 and "JSON" in response.json()["message"]
    # A client that forgets the content type is still read as JSON.
    response = client.post("/v1/partners/orders", content=b"{not json", headers=tenant.headers)
    assert response.status_code == 400
    assert _queued(db) == 0


def test_wrong_top_level_shapes(client: TestClient, tenant: Tenant) -> None:
    assert _post(client, tenant, "orders", []).status_code == 422
    assert _post(client, tenant, "orders", {"orders": []}).status_code == 422
    missing = _post(client, tenant, "orders", {"order": fresh(ORDERS)["orders"]})
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "orders"


def test_oversize_body_is_413(client: TestClient, db: Database, tenant: Tenant) -> None:
    blob = "x" * (5 * 1024 * 1024 + 10)
    response = client.post(
        "/v1/partners/events", content=('{"events": [], "pad": "' + blob + '"}').encode(), headers=tenant.headers
    )
    assert response.status_code == 413
    assert response.json()["code"] == 413
    assert _queued(db) == 0


def test_too_many_items_is_422(client: TestClient, db: Database, tenant: Tenant) -> None:
    template = fresh(ORDERS)["orders"][0]
    orders = [template | {"id": str(i)} for i in range(1001)]
    response = _post(client, tenant, "orders", {"orders": orders})
    assert response.status_code == 422
    assert "1000" in response.json()["message"]
    assert _queued(db) == 0


def test_never_a_500_for_odd_input(client: TestClient, tenant: Tenant) -> None:
    odd_bodies: list[Any] = [
        None,
        0,
        "text",
        {"orders": None},
        {"orders": [None]},
        {"orders": [[]]},
        {"events": [{"location": "Aspen"}]},
        {"contact": []},
    ]
    for path in ("events", "orders", "contact", "subscribe"):
        for body in odd_bodies:
            response = _post(client, tenant, path, body)
            assert 400 <= response.status_code < 500, (path, body, response.text)
            assert response.json()["code"] == response.status_code
