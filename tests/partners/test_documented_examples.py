"""The documents' example payloads, posted verbatim, land as the documents describe."""

from __future__ import annotations

import json
import re

from fastapi.testclient import TestClient

from fanhub.audience.service import create_list, create_tag
from fanhub.db.engine import Database
from tests.conftest import Tenant, post_and_apply
from tests.examples import CONTACT, EVENTS, ORDERS, SUBSCRIBE, fresh


def _vocabulary(db: Database, tenant: Tenant) -> None:
    with db.write() as session:
        create_tag(session, tenant.organization_id, "Tag 1")
        create_tag(session, tenant.organization_id, "Tag 2")
        assert create_list(session, tenant.organization_id, "Newsletter").id == 1


def test_events_example_is_stored_with_cents_and_utc(client: TestClient, db: Database, tenant: Tenant) -> None:
    response = client.post("/v1/partners/events", json=EVENTS, headers=tenant.headers)
    assert response.status_code == 201
    body = response.json()
    assert body["code"] == 0 and body["message"] == "success" and len(body["batch_id"]) == 32
    post_and_apply(client, db, tenant, "events", fresh(EVENTS))

    events = client.get("/v1/partners/events", headers=tenant.headers).json()["response"]
    assert len(events) == 1
    event = events[0]
    assert event["external_id"] == "12345" and event["source"] == "partner:acme"
    assert event["start_datetime"] == "2024-03-02T15:30:00Z"
    assert event["doors_open_datetime"] == "2024-03-02T14:30:00Z"
    assert event["location"] == {"name": "Belly Up Aspen", "address": "450 S Galena St, Aspen, CO 81611"}
    assert event["performers"] == ["The Head & The Heart"]
    assert event["ticket_types"] == [
        {
            "name": "Standard Admission",
            "prefee_price": 30.0,
            "total_price": 40.0,
            "currency_code": "USD",
            "quantity": 150,
        }
    ]
    detail = client.get(f"/v1/partners/events/{event['id']}", headers=tenant.headers).json()["response"]
    assert detail["name"] == "The Head & The Heart"


def test_orders_example_creates_contact_and_order(client: TestClient, db: Database, tenant: Tenant) -> None:
    post_and_apply(client, db, tenant, "events", fresh(EVENTS))
    post_and_apply(client, db, tenant, "orders", fresh(ORDERS))

    orders = client.get("/v1/partners/orders", headers=tenant.headers).json()["response"]
    assert len(orders) == 1
    order = orders[0]
    assert order["total_price"] == 80.0 and order["prefee_price"] == 60.0 and order["tickets"] == 2
    assert order["currency_code"] == "USD" and order["status"] == "completed"
    assert order["created_at"] == "2024-03-02T15:30:00Z"
    event = client.get("/v1/partners/events", headers=tenant.headers).json()["response"][0]
    assert order["event_id"] == event["id"]
    assert event["tickets_sold"] == 2 and event["revenue"] == 80.0

    contacts = client.get(
        "/v1/partners/contacts", params={"email": "JOHN.SMITH@cymbal.co"}, headers=tenant.headers
    ).json()["response"]
    assert len(contacts) == 1
    contact = contacts[0]
    assert contact["id"] == order["contact_id"]
    assert contact["phone"] == "+12345678900"
    assert contact["first_name"] == "John" and contact["address"].endswith("94110")
    # marketing_opt_ins.email true subscribes; sms false is not an opt-out of a state never given.
    assert contact["subscriptions"]["email"]["status"] == "subscribed"
    assert contact["subscriptions"]["email"]["changed_at"] == "2024-03-02T15:30:00Z"
    assert contact["subscriptions"]["sms"]["status"] == "unknown"
    assert [s["source"] for s in contact["sources"]] == ["partner:acme"]


def test_contact_example_with_tags_list_genres_and_interest(client: TestClient, db: Database, tenant: Tenant) -> None:
    _vocabulary(db, tenant)
    post_and_apply(client, db, tenant, "contact", fresh(CONTACT))

    contacts = client.get("/v1/partners/contacts", params={"phone": "(959) 474-6360"}, headers=tenant.headers).json()[
        "response"
    ]
    assert len(contacts) == 1
    contact = contacts[0]
    assert contact["email"] == "john.smith@cymbal.co" and contact["full_name"] == "John Smith"
    assert contact["tags"] == ["Tag 1", "Tag 2"]
    assert contact["lists"] == [{"id": 1, "name": "Newsletter"}]
    assert contact["genres"] == ["Dance/Electronic", "Rock"]
    assert contact["interests"][0]["event_id"] == "123456" and contact["interests"][0]["ticketer"] == "eventbrite"
    assert contact["subscriptions"]["email"]["status"] == "subscribed"
    assert contact["subscriptions"]["sms"]["status"] == "unknown"  # null leaves it unchanged
    by_tag = client.get("/v1/partners/contacts", params={"tag": "Tag 2"}, headers=tenant.headers).json()["response"]
    by_list = client.get("/v1/partners/contacts", params={"list_id": 1}, headers=tenant.headers).json()["response"]
    assert [c["id"] for c in by_tag] == [contact["id"]] == [c["id"] for c in by_list]


def test_subscribe_example_subscribes_both_channels_and_keeps_ticket_url(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    _vocabulary(db, tenant)
    post_and_apply(client, db, tenant, "subscribe", fresh(SUBSCRIBE))
    contact = client.get("/v1/partners/contacts", headers=tenant.headers).json()["response"][0]
    assert contact["subscriptions"]["email"]["status"] == "subscribed"
    assert contact["subscriptions"]["sms"]["status"] == "subscribed"
    assert contact["interests"][0]["ticket_url"] == "https://www.ticketmaster.com/e/12345678"
    detail = client.get(f"/v1/partners/contacts/{contact['id']}", headers=tenant.headers).json()["response"]
    assert {(e["channel"], e["subscribed"], e["via"]) for e in detail["consent_history"]} == {
        ("email", True, "subscribe"),
        ("sms", True, "subscribe"),
    }


def test_analytics_shape_and_paging_before_any_campaign(client: TestClient, tenant: Tenant) -> None:
    response = client.get("/v1/partners/campaigns/analytics", headers=tenant.headers)
    assert response.status_code == 200
    assert response.json() == {"code": 0, "message": "success", "response": []}
    assert (
        client.get("/v1/partners/campaigns/analytics", params={"type": "fax"}, headers=tenant.headers).status_code
        == 422
    )
    assert (
        client.get("/v1/partners/campaigns/analytics", params={"per_page": 0}, headers=tenant.headers).status_code
        == 422
    )


def test_openapi_documents_requests_responses_and_errors(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    post_orders = spec["paths"]["/v1/partners/orders"]["post"]
    assert "requestBody" in post_orders
    assert {"201", "400", "403", "413", "422"} <= set(post_orders["responses"])
    assert "Cymbal-Partner-API-Key" in str(spec["components"]["securitySchemes"])
    schemas = spec["components"]["schemas"]
    assert {"CreateOrdersRequest", "OrderRecord", "Customer", "ErrorResponse", "CampaignAnalyticsResponse"} <= set(
        schemas
    )
    refs = set(re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(spec)))
    assert refs <= set(schemas), refs - set(schemas)
    assert client.get("/docs").status_code == 200
