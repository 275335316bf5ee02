"""Webhook bodies that used to end in a 500: a Ticketor payload without Id, JSON nested 100k deep."""

from __future__ import annotations

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
