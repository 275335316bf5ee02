"""Keys: missing, unknown and revoked keys get 403; a key sees only its organization."""

from __future__ import annotations

from fastapi.testclient import TestClient

from fanhub.auth.service import create_key, revoke_key
from fanhub.db.engine import Database
from tests.conftest import Tenant, make_tenant, post_and_apply
from tests.examples import EVENTS, ORDERS, fresh

ENDPOINTS = [
    ("post", "/v1/partners/events"),
    ("post", "/v1/partners/orders"),
    ("post", "/v1/partners/contact"),
    ("post", "/v1/partners/subscribe"),
    ("get", "/v1/partners/campaigns/analytics"),
    ("get", "/v1/partners/events"),
    ("get", "/v1/partners/orders"),
    ("get", "/v1/partners/contacts"),
]


def test_missing_unknown_and_revoked_keys_get_403(client: TestClient, db: Database, tenant: Tenant) -> None:
    with db.write() as session:
        revoked = revoke_key(session, tenant.key_id)
        assert revoked.revoked_at is not None
    for headers in ({}, {"Cymbal-Partner-API-Key": "fh_unknown"}, tenant.headers):
        for method, path in ENDPOINTS:
            response = client.request(method, path, headers=headers, json=fresh(EVENTS))
            assert response.status_code == 403, (method, path, headers)
            body = response.json()
            assert body["code"] != 0 and body["message"]


def test_rotated_key_keeps_the_partner_source(client: TestClient, db: Database, tenant: Tenant) -> None:
    post_and_apply(client, db, tenant, "events", fresh(EVENTS))
    with db.write() as session:
        _, token = create_key(session, tenant.organization_id, "acme")
        revoke_key(session, tenant.key_id)
    rotated = Tenant(tenant.organization_id, 0, token)
    body = fresh(EVENTS)
    body["events"][0]["name"] = "Renamed"
    post_and_apply(client, db, rotated, "events", body)
    events = client.get("/v1/partners/events", headers=rotated.headers).json()["response"]
    assert [(e["name"], e["source"]) for e in events] == [("Renamed", "partner:acme")]


def test_other_organizations_ids_are_not_found(client: TestClient, db: Database, tenant: Tenant) -> None:
    post_and_apply(client, db, tenant, "events", fresh(EVENTS))
    batch_id = post_and_apply(client, db, tenant, "orders", fresh(ORDERS))
    other = make_tenant(db, "Other Venue", "other")
    event_id = client.get("/v1/partners/events", headers=tenant.headers).json()["response"][0]["id"]
    contact_id = client.get("/v1/partners/contacts", headers=tenant.headers).json()["response"][0]["id"]

    for path in (
        f"/v1/partners/events/{event_id}",
        f"/v1/partners/contacts/{contact_id}",
        f"/v1/partners/batches/{batch_id}",
    ):
        response = client.get(path, headers=other.headers)
        assert response.status_code == 404, path
        assert response.json()["code"] == 404
        assert client.get(path, headers=tenant.headers).status_code == 200
    for path in ("/v1/partners/events", "/v1/partners/orders", "/v1/partners/contacts"):
        assert client.get(path, headers=other.headers).json()["response"] == []
    assert (
        client.get("/v1/partners/orders", params={"event_id": event_id}, headers=other.headers).json()["response"] == []
    )
    assert (
        client.get("/v1/partners/contacts", params={"email": "john.smith@cymbal.co"}, headers=other.headers).json()[
            "response"
        ]
        == []
    )
