"""A 201 means the batch WILL be applied: what storage cannot hold is refused at the door, naming the field."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from fanhub.catalog.models import Order
from fanhub.db.engine import Database
from fanhub.ingest.models import IngestBatch
from tests.conftest import Tenant, post_and_apply
from tests.examples import EVENTS, fresh, order


def _queued(db: Database) -> int:
    with db.read() as session:
        return int(session.scalar(select(func.count()).select_from(IngestBatch)) or 0)


def _orders(count: int) -> list[dict[str, Any]]:
    return [order(f"o{i}", f"buyer{i}@x.co", phone="+13035550100") for i in range(count)]


def _only_error(response: Any) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert len(errors) == 1, errors
    error: dict[str, Any] = errors[0]
    return error


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda o: o["items"][0].update(total_price=1e18), "orders[3].items[0].total_price"),
        (lambda o: o["items"][0].update(total_price=1e308), "orders[3].items[0].total_price"),
        (lambda o: o["items"][0].update(total_price=10**30), "orders[3].items[0].total_price"),
        (lambda o: o["items"][0].update(prefee_price=10**400), "orders[3].items[0].prefee_price"),
        (lambda o: o["items"][0].update(quantity=2**63), "orders[3].items[0].quantity"),
        (lambda o: o["items"][0].update(quantity=2**31), "orders[3].items[0].quantity"),
        (lambda o: o["items"][0].update(quantity=1_000_001), "orders[3].items[0].quantity"),
        (lambda o: o.update(refunded_amount=1e308), "orders[3].refunded_amount"),
        (lambda o: o.update(id="a\u0000b"), "orders[3].id"),
        (lambda o: o.update(event_id="e\u001f"), "orders[3].event_id"),
        (lambda o: o["customer"].update(last_name="\u0000"), "orders[3].customer.last_name"),
        (lambda o: o["customer"].update(first_name="Jo\u0007hn"), "orders[3].customer.first_name"),
        (lambda o: o["customer"].update(address="1 Main\u000bSt"), "orders[3].customer.address"),
        (lambda o: o["items"][0].update(ticket_type_name="GA\u0000"), "orders[3].items[0].ticket_type_name"),
        (lambda o: o["customer"].update(email="a\u0000@x.co"), "orders[3].customer.email"),
        (lambda o: o.update(items=[o["items"][0]] * 1001), "orders[3].items"),
        # Each item fits, their sum does not (PostgreSQL's integer money columns).
        (lambda o: o.update(items=[o["items"][0] | {"total_price": 20_000_000.0}] * 2), "orders[3].items"),
    ],
)
def test_values_storage_cannot_hold_are_refused_naming_item_and_field(
    client: TestClient, db: Database, tenant: Tenant, mutate: Any, field: str
) -> None:
    orders = _orders(5)
    mutate(orders[3])
    error = _only_error(client.post("/v1/partners/orders", json={"orders": orders}, headers=tenant.headers))
    assert (error["index"], error["field"]) == (3, field)
    assert _queued(db) == 0


def test_one_nul_among_a_thousand_orders_refuses_the_batch_before_201(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    orders = _orders(1000)
    orders[999]["customer"]["last_name"] = "\u0000"
    error = _only_error(client.post("/v1/partners/orders", json={"orders": orders}, headers=tenant.headers))
    assert error["index"] == 999 and error["field"] == "orders[999].customer.last_name"
    assert "control characters" in error["message"]
    assert _queued(db) == 0


def test_the_largest_values_accepted_are_stored_exactly(client: TestClient, db: Database, tenant: Tenant) -> None:
    big = order("big", "big@x.co", total=21_474_836.47, quantity=1_000_000)
    big["refunded_amount"] = 21_474_836.47
    big["customer"]["last_name"] = "x" * 200
    tabbed = order("tab", "tab@x.co")
    tabbed["customer"]["address"] = "1 Main St\tApt 2\nAspen"  # tab and newline are text, not control
    post_and_apply(client, db, tenant, "orders", {"orders": [big, tabbed]})
    with db.read() as session:
        stored = session.scalars(select(Order).where(Order.external_id == "big")).one()
        assert (stored.total_cents, stored.refunded_cents, stored.tickets) == (2**31 - 1, 2**31 - 1, 1_000_000)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda e: e.update(name="Show\u0000"), "events[0].name"),
        (lambda e: e["location"].update(name="\u0001Hall"), "events[0].location.name"),
        (lambda e: e.update(tags=["ok", "b\u0000d"]), "events[0].tags[1]"),
        (lambda e: e.update(description="\u001b[31m"), "events[0].description"),
        (lambda e: e["ticket_types"][0].update(total_price=1e308), "events[0].ticket_types[0].total_price"),
        (lambda e: e["ticket_types"][0].update(quantity=2**63), "events[0].ticket_types[0].quantity"),
    ],
)
def test_event_text_and_numbers_are_checked_too(
    client: TestClient, db: Database, tenant: Tenant, mutate: Any, field: str
) -> None:
    body = fresh(EVENTS)
    mutate(body["events"][0])
    error = _only_error(client.post("/v1/partners/events", json=body, headers=tenant.headers))
    assert (error["index"], error["field"]) == (0, field)
    assert _queued(db) == 0


def test_contact_text_is_checked(client: TestClient, db: Database, tenant: Tenant) -> None:
    body = {"contact": {"email": "a@x.co", "full_name": "Ann\u0000"}, "opt_ins": {"email": True}}
    error = _only_error(client.post("/v1/partners/contact", json=body, headers=tenant.headers))
    assert error["field"] == "contact.full_name" and "control characters" in error["message"]
    body = {"contact": {"email": "a@x.co"}, "ticket_url": "https://x.co/\u0000"}
    error = _only_error(client.post("/v1/partners/subscribe", json=body, headers=tenant.headers))
    assert error["field"] == "ticket_url"
    assert _queued(db) == 0


@pytest.mark.parametrize(
    ("mutate", "field", "fragment"),
    [
        (
            lambda o: o.update(
                items=[o["items"][0] | {"currency_code": "USD"}, o["items"][0] | {"currency_code": "EUR"}]
            ),
            "orders[3].items[1].currency_code",
            "one currency",
        ),
        (lambda o: o["items"][0].update(currency_code="ZZZ"), "orders[3].items[0].currency_code", "ISO 4217"),
        (lambda o: o["items"][0].update(currency_code="XAU"), "orders[3].items[0].currency_code", "ISO 4217"),
        (lambda o: o["items"][0].update(total_price=0.005), "orders[3].items[0].total_price", "smallest unit of USD"),
        (
            lambda o: o["items"][0].update(total_price=0.5, currency_code="JPY"),
            "orders[3].items[0].total_price",
            "smallest unit of JPY",
        ),
        (
            lambda o: o["items"][0].update(prefee_price=1.2345, total_price=2.0, currency_code="KWD"),
            "orders[3].items[0].prefee_price",
            "smallest unit of KWD",
        ),
        (lambda o: o.update(refunded_amount=1000), "orders[3].refunded_amount", "more than the order's total"),
        (lambda o: o.update(refunded_amount=12.001), "orders[3].refunded_amount", "smallest unit"),
    ],
)
def test_money_that_is_not_exact_is_refused(
    client: TestClient, db: Database, tenant: Tenant, mutate: Any, field: str, fragment: str
) -> None:
    orders = [order(f"o{i}", f"b{i}@x.co", total=12.0) for i in range(5)]
    mutate(orders[3])
    error = _only_error(client.post("/v1/partners/orders", json={"orders": orders}, headers=tenant.headers))
    assert (error["index"], error["field"]) == (3, field)
    assert fragment in error["message"]
    assert _queued(db) == 0


def test_exact_money_in_any_minor_unit_is_stored_as_sent(client: TestClient, db: Database, tenant: Tenant) -> None:
    orders = [
        order("usd", "a@x.co", total=12.0) | {"refunded_amount": 12.0},
        order("jpy", "b@x.co", total=1500) | {"items": [{"total_price": 1500, "currency_code": "jpy"}]},
        order("kwd", "c@x.co") | {"items": [{"total_price": 1.234, "prefee_price": 1.2, "currency_code": "KWD"}]},
        order("clf", "d@x.co") | {"items": [{"total_price": 0.0001, "currency_code": "CLF"}]},
    ]
    post_and_apply(client, db, tenant, "orders", {"orders": orders})
    with db.read() as session:
        stored = {o.external_id: (o.currency, o.total_cents, o.prefee_cents) for o in session.scalars(select(Order))}
    assert stored == {
        "usd": ("USD", 1200, 0),
        "jpy": ("JPY", 1500, 0),
        "kwd": ("KWD", 1234, 1200),
        "clf": ("CLF", 1, 0),
    }


def test_event_ticket_prices_are_exact_too(client: TestClient, db: Database, tenant: Tenant) -> None:
    body = fresh(EVENTS)
    body["events"][0]["ticket_types"][0].update(prefee_price=30.001)
    error = _only_error(client.post("/v1/partners/events", json=body, headers=tenant.headers))
    assert error["field"] == "events[0].ticket_types[0].prefee_price" and "smallest unit" in error["message"]
    body["events"][0]["ticket_types"][0].update(prefee_price=30.0, currency_code="ZZZ")
    error = _only_error(client.post("/v1/partners/events", json=body, headers=tenant.headers))
    assert error["field"] == "events[0].ticket_types[0].currency_code"
