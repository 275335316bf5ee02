"""Lenient input is refused instead of guessed at: content type, duplicate keys and ids, types, sizes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from fanhub.db.engine import Database
from fanhub.ingest.models import IngestBatch
from tests.conftest import Tenant, post_and_apply
from tests.examples import CONTACT, EVENTS, fresh, order


def _queued(db: Database) -> int:
    with db.read() as session:
        return int(session.scalar(select(func.count()).select_from(IngestBatch)) or 0)


@pytest.mark.parametrize("path", ["orders", "events", "contact", "subscribe"])
def test_a_text_plain_body_is_415_naming_the_header(
    client: TestClient, db: Database, tenant: Tenant, path: str
) -> None:
    body = json.dumps({"orders": [order("a", "a@x.co")]})
    response = client.post(
        f"/v1/partners/{path}", content=body, headers=tenant.headers | {"content-type": "text/plain"}
    )
    assert response.status_code == 415
    assert response.json()["errors"] == [
        {"index": None, "field": "Content-Type", "message": "must be application/json"}
    ]
    assert _queued(db) == 0


def test_json_with_a_charset_and_a_missing_header_are_json(client: TestClient, tenant: Tenant) -> None:
    body = json.dumps({"orders": [order("a", "a@x.co")]})
    for headers in ({"content-type": "application/json; charset=utf-8"}, {}):
        assert client.post("/v1/partners/orders", content=body, headers=tenant.headers | headers).status_code == 201


@pytest.mark.parametrize(
    ("path", "body", "key"),
    [
        (
            "orders",
            '{"orders": [{"id": "a", "id": "b", "event_id": "e", "customer": {"email": "a@x.co"}, '
            '"marketing_opt_ins": {}, "items": [{"total_price": 1}]}]}',
            "id",
        ),
        (
            "orders",
            '{"orders": [{"id": "a", "event_id": "e", "customer": {"email": "a@x.co", "email": "b@x.co"}, '
            '"marketing_opt_ins": {}, "items": [{"total_price": 1}]}]}',
            "email",
        ),
        ("contact", '{"contact": {"email": "a@x.co"}, "opt_ins": {"email": true, "email": false}}', "email"),
    ],
)
def test_duplicate_json_keys_are_refused_naming_the_key(
    client: TestClient, db: Database, tenant: Tenant, path: str, body: str, key: str
) -> None:
    response = client.post(f"/v1/partners/{path}", content=body, headers=tenant.headers)
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert [(e["index"], e["field"]) for e in errors] == [(None, key)]
    assert "twice" in errors[0]["message"]
    assert _queued(db) == 0


def test_the_same_order_id_twice_names_both_indexes(client: TestClient, db: Database, tenant: Tenant) -> None:
    orders = [order(i, f"{i}@x.co") for i in ("a", "b", "c", "b", "a")]
    response = client.post("/v1/partners/orders", json={"orders": orders}, headers=tenant.headers)
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert [(e["index"], e["field"]) for e in errors] == [(3, "orders[3].id"), (4, "orders[4].id")]
    assert "orders[1]" in errors[0]["message"] and "orders[0]" in errors[1]["message"]
    events = fresh(EVENTS)
    events["events"].append(events["events"][0])
    response = client.post("/v1/partners/events", json=events, headers=tenant.headers)
    assert [e["field"] for e in response.json()["errors"]] == ["events[1].id"]
    assert _queued(db) == 0


@pytest.mark.parametrize(
    ("path", "mutate", "field"),
    [
        ("orders", lambda b: b["orders"][0]["items"][0].update(quantity=True), "orders[0].items[0].quantity"),
        ("orders", lambda b: b["orders"][0]["items"][0].update(quantity=2.0), "orders[0].items[0].quantity"),
        ("orders", lambda b: b["orders"][0]["items"][0].update(quantity="2"), "orders[0].items[0].quantity"),
        ("events", lambda b: b["events"][0].update(description="x" * 20_001), "events[0].description"),
        ("events", lambda b: b["events"][0].update(description="x" * 1_000_000), "events[0].description"),
        ("events", lambda b: b["events"][0].update(url="https://x.co/" + "x" * 2048), "events[0].url"),
        ("events", lambda b: b["events"][0].update(image_url="https://x.co/" + "x" * 2048), "events[0].image_url"),
        ("events", lambda b: b["events"][0].update(time_zone="Mars/Olympus"), "events[0].time_zone"),
        ("events", lambda b: b["events"][0].update(time_zone="x" * 10_000), "events[0].time_zone"),
        (
            "events",
            lambda b: b["events"][0]["ticket_types"][0].update(quantity=False),
            "events[0].ticket_types[0].quantity",
        ),
        ("contact", lambda b: b["contact"].update(birthday="not-a-date"), "contact.birthday"),
        ("contact", lambda b: b["contact"].update(birthday="1990-02-30"), "contact.birthday"),
        ("contact", lambda b: b["contact"].update(first_name="x" * 201), "contact.first_name"),
        ("subscribe", lambda b: b.update(ticket_url="https://x.co/" + "x" * 1_000_000), "ticket_url"),
    ],
)
def test_loose_types_and_oversized_text_are_refused(
    client: TestClient, db: Database, tenant: Tenant, path: str, mutate: Any, field: str
) -> None:
    body: dict[str, Any] = {
        "orders": {"orders": [order("a", "a@x.co")]},
        "events": fresh(EVENTS),
        "contact": {"contact": {"email": "a@x.co"}},
        "subscribe": {"contact": {"email": "a@x.co"}},
    }[path]
    mutate(body)
    response = client.post(f"/v1/partners/{path}", json=body, headers=tenant.headers)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert _queued(db) == 0


def test_the_limits_themselves_are_accepted(client: TestClient, db: Database, tenant: Tenant) -> None:
    events = fresh(EVENTS)
    events["events"][0].update(description="x" * 20_000, url="https://x.co/" + "x" * 2035, time_zone="America/Denver")
    post_and_apply(client, db, tenant, "events", events)
    contact = fresh(CONTACT)
    contact["contact"] = {"email": "a@x.co", "birthday": "1990-04-30", "first_name": "x" * 200}
    post_and_apply(client, db, tenant, "contact", {"contact": contact["contact"], "opt_ins": {"email": True}})


def test_openapi_shows_the_length_limits(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    event = schemas["PartnerEvent"]["properties"]
    assert event["url"]["maxLength"] == 2048 and event["id"]["maxLength"] == 200
    assert event["description"]["anyOf"][0]["maxLength"] == 20_000
    customer = schemas["Customer"]["properties"]
    assert customer["last_name"]["anyOf"][0]["maxLength"] == 200
    item = schemas["OrderItemRecord"]["properties"]
    assert item["quantity"]["maximum"] == 1_000_000
