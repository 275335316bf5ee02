"""Input that used to end in a 500 is a 4xx naming the field; a connection survives bad requests."""

from __future__ import annotations

import http.client
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from fanhub.db.engine import Database
from tests.conftest import Tenant
from tests.examples import CONTACT, EVENTS, fresh, order
from tests.processes import free_port, start_server, stop

NESTED = b"[" * 100_000 + b"]" * 100_000
TOO_BIG = 2**63


@pytest.mark.parametrize("instant", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_datetimes_past_the_utc_range_are_422(client: TestClient, tenant: Tenant, instant: str) -> None:
    orders = {"orders": [order("a", "a@x.co", created_at=instant)]}
    response = client.post("/v1/partners/orders", json=orders, headers=tenant.headers)
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {
            "index": 0,
            "field": "orders[0].created_at",
            "message": "Value error, is outside the years 1 to 9999 once converted to UTC",
        }
    ]
    events = fresh(EVENTS)
    events["events"][0]["end_datetime"] = instant
    response = client.post("/v1/partners/events", json=events, headers=tenant.headers)
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "events[0].end_datetime"


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        (f"/v1/partners/events/{TOO_BIG}", {}, "event_id"),
        (f"/v1/partners/contacts/{TOO_BIG}", {}, "contact_id"),
        ("/v1/partners/events/0", {}, "event_id"),
        (f"/v1/partners/campaigns/{TOO_BIG}/analytics", {}, "campaign_id"),
        ("/v1/partners/events", {"page": TOO_BIG}, "page"),
        ("/v1/partners/campaigns/analytics", {"page": TOO_BIG}, "page"),
        ("/v1/partners/orders", {"event_id": TOO_BIG}, "event_id"),
        ("/v1/partners/orders", {"contact_id": TOO_BIG}, "contact_id"),
        ("/v1/partners/contacts", {"list_id": TOO_BIG}, "list_id"),
        ("/v1/partners/contacts", {"email": "a\u0000@x.co"}, "email"),
        ("/v1/partners/events", {"external_id": "x\u0000"}, "external_id"),
        ("/v1/partners/batches/ab%00cd", {}, "batch_id"),
    ],
)
def test_ids_and_filters_the_database_cannot_take_are_422(
    client: TestClient, tenant: Tenant, path: str, params: dict[str, Any], field: str
) -> None:
    response = client.get(path, params=params, headers=tenant.headers)
    assert response.status_code == 422, response.text
    assert [error["field"] for error in response.json()["errors"]] == [field]


def test_the_largest_id_is_a_plain_404(client: TestClient, tenant: Tenant) -> None:
    response = client.get(f"/v1/partners/events/{TOO_BIG - 1}", headers=tenant.headers)
    assert response.status_code == 404


def test_a_list_id_past_64_bits_in_a_body_is_422(client: TestClient, db: Database, tenant: Tenant) -> None:
    body = fresh(CONTACT)
    body["contact"] = {"email": "a@x.co", "list_id": TOO_BIG}
    response = client.post("/v1/partners/contact", json=body, headers=tenant.headers)
    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == ["contact.list_id"]


@pytest.mark.parametrize("path", ["orders", "events", "contact", "subscribe"])
def test_json_nested_100k_deep_is_400(client: TestClient, tenant: Tenant, path: str) -> None:
    response = client.post(
        f"/v1/partners/{path}", content=NESTED, headers=tenant.headers | {"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert "JSON" in response.json()["message"]


def test_a_bad_request_leaves_the_keep_alive_connection_usable(db: Database, tenant: Tenant) -> None:
    """Over a real server: each bad request is answered and the same connection serves the next one."""
    port = free_port()
    server = start_server(port, "--no-worker")
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {"Cymbal-Partner-API-Key": tenant.token, "Content-Type": "application/json"}
        bad_orders = json.dumps({"orders": [order("a", "a@x.co", created_at="0001-01-01T00:00:00+01:00")]})
        bad_requests: list[tuple[str, str, bytes | str | None, int]] = [
            ("POST", "/v1/partners/orders", bad_orders, 422),
            ("GET", f"/v1/partners/events/{TOO_BIG}", None, 422),
            ("POST", "/v1/partners/orders", NESTED, 400),
        ]
        connection.connect()
        socket = connection.sock
        for method, path, body, status in bad_requests:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            assert response.status == status, response.read()
            response.read()
            connection.request("GET", "/v1/partners/events", headers=headers)
            good = connection.getresponse()
            assert good.status == 200 and json.loads(good.read())["code"] == 0
            assert connection.sock is socket  # not reconnected
        connection.close()
    finally:
        stop(server)
