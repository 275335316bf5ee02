"""Webhook bodies that used to end in a 500: a Ticketor payload without Id, JSON nested 100k deep."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from fanhub.db.engine import Database
from tests.conftest import Tenant
from tests.connectors.test_webhooks import deliveries, tr_setup
from tests.fakes.ticketor import FakeTicketor, build_payload


def test_a_ticketor_payload_without_id_is_400_naming_it(
    db: Database, org: Tenant, tr: FakeTicketor, client: TestClient
) -> None:
    path = tr_setup(db, org, tr)
    for payload in (build_payload("new_user"), build_payload("new_ticket_sale")):
        del payload["Id"]
        kind = "new_user" if "SignupDate" in payload else "new_ticket_sale"
        response = client.post(f"{path}?type={kind}", json=payload)
        assert response.status_code == 400, response.text
        assert response.json()["errors"] == [{"index": None, "field": "Id", "message": "required"}]
    assert deliveries(db) == []


def test_webhook_json_nested_100k_deep_is_400(db: Database, org: Tenant, tr: FakeTicketor, client: TestClient) -> None:
    path = tr_setup(db, org, tr)
    response = client.post(path, content=b"[" * 100_000 + b"]" * 100_000)
    assert response.status_code == 400 and "nested" in response.json()["message"]
    huge = path.replace(f"/{path.split('/')[-2]}/", f"/{2**63}/")
    assert client.post(huge, json=build_payload("new_user")).status_code == 404


def test_a_platform_record_with_inexact_money_is_left_out_with_a_logged_reason(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Platform data is stored exactly or not at all: never rounded, never given one currency it lacks."""
    from fanhub.connectors.sync import build
    from fanhub.ingest.records import OrderRecord
    from tests.examples import order

    mixed = order("p1", "a@x.co") | {
        "items": [{"total_price": 10, "currency_code": "USD"}, {"total_price": 10, "currency_code": "EUR"}]
    }
    with caplog.at_level(logging.WARNING, logger="fanhub.connectors.sync"):
        assert build(OrderRecord, mixed) is None
    assert "OrderRecord p1 left out: items.1.currency_code: EUR differs" in caplog.text
    exact = order("p2", "a@x.co") | {"items": [{"total_price": 10.25, "currency_code": "EUR"}]}
    record = build(OrderRecord, exact)
    assert record is not None and record.items[0].total_price == 10.25
