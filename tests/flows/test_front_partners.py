"""`GET /v1/partners/flows/analytics` and `GET /v1/partners/flows/{id}/analytics` over HTTP: the
campaign analytics envelope and paging, hand-computed figures (tests/flows/front_data.py), time
series, keys and organizations (another organization's flow is 404), bad parameters 422, the
OpenAPI document describing both."""

from __future__ import annotations

from fastapi.testclient import TestClient
from tests.conftest import Tenant, make_tenant
from tests.flows.front_data import DAILY_SERIES, FIGURE_NAMES, FLOW_FIGURES, STEP_FIGURES, seed_flow

from fanhub.auth.service import revoke_key
from fanhub.db.engine import Database
from fanhub.flows.service import create_flow
from fanhub.flows.templates import WELCOME

LIST = "/v1/partners/flows/analytics"


def _draft(db: Database, org: int) -> int:
    with db.write() as session:
        return create_flow(session, org, WELCOME.definition()).id


def test_the_list_has_the_campaign_envelope_and_paging(client: TestClient, db: Database, tenant: Tenant) -> None:
    seeded = seed_flow(db, tenant.organization_id)
    draft = _draft(db, tenant.organization_id)
    everything = client.get(LIST, headers=tenant.headers)
    assert everything.status_code == 200
    body = everything.json()
    assert set(body) == {"code", "message", "response"} and (body["code"], body["message"]) == (0, "success")
    assert [r["id"] for r in body["response"]] == [draft, seeded.flow_id]
    row = body["response"][1]
    assert {k: row[k] for k in FLOW_FIGURES} == FLOW_FIGURES
    assert (row["name"], row["status"], row["trigger_type"]) == ("Know before you go", "active", "before_event")
    assert [tuple(s[n] for n in FIGURE_NAMES) for s in row["steps"]] == STEP_FIGURES
    assert [(s["index"], s["type"], s["channel"]) for s in row["steps"]][3] == (3, "send", "sms")

    first = client.get(LIST, params={"page": 1, "per_page": 1}, headers=tenant.headers).json()["response"]
    second = client.get(LIST, params={"page": 2, "per_page": 1}, headers=tenant.headers).json()["response"]
    third = client.get(LIST, params={"page": 3, "per_page": 1}, headers=tenant.headers).json()["response"]
    assert [r["id"] for r in first + second + third] == [draft, seeded.flow_id]
    active = client.get(LIST, params={"status": "active"}, headers=tenant.headers).json()["response"]
    assert [r["id"] for r in active] == [seeded.flow_id]


def test_detail_with_time_series(client: TestClient, db: Database, tenant: Tenant) -> None:
    seeded = seed_flow(db, tenant.organization_id)
    daily = client.get(f"/v1/partners/flows/{seeded.flow_id}/analytics", headers=tenant.headers)
    assert daily.status_code == 200, daily.text
    detail = daily.json()["response"]
    assert detail["interval"] == "day" and detail["series"] == DAILY_SERIES
    assert {k: detail[k] for k in FLOW_FIGURES} == FLOW_FIGURES
    hourly = client.get(
        f"/v1/partners/flows/{seeded.flow_id}/analytics", params={"interval": "hour"}, headers=tenant.headers
    ).json()["response"]
    assert hourly["series"]["attributed_orders"] == [
        {"at": "2026-03-02T14:00:00Z", "count": 1, "tickets": 2, "revenue": 8000}
    ]


def test_organizations_and_keys(client: TestClient, db: Database, tenant: Tenant) -> None:
    seeded = seed_flow(db, tenant.organization_id)
    other = make_tenant(db, "Other Venue", "other")
    theirs = client.get(f"/v1/partners/flows/{seeded.flow_id}/analytics", headers=other.headers)
    assert theirs.status_code == 404 and theirs.json()["code"] != 0
    assert client.get(LIST, headers=other.headers).json()["response"] == []
    missing = client.get("/v1/partners/flows/999999/analytics", headers=tenant.headers)
    assert missing.status_code == 404
    for bad in ({"per_page": 101}, {"page": 0}, {"status": "sending"}):
        assert client.get(LIST, params=bad, headers=tenant.headers).status_code == 422, bad
    bad_interval = client.get(
        f"/v1/partners/flows/{seeded.flow_id}/analytics", params={"interval": "week"}, headers=tenant.headers
    )
    assert bad_interval.status_code == 422 and "interval" in bad_interval.text
    with db.write() as session:
        revoke_key(session, tenant.key_id)
    assert client.get(LIST, headers=tenant.headers).status_code == 403
    assert client.get(f"/v1/partners/flows/{seeded.flow_id}/analytics").status_code == 403


def test_the_openapi_document_describes_both(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    listing = document["paths"][LIST]["get"]
    detail = document["paths"]["/v1/partners/flows/{flow_id}/analytics"]["get"]
    assert {p["name"] for p in listing["parameters"]} == {"page", "per_page", "status"}
    assert {p["name"] for p in detail["parameters"]} == {"flow_id", "interval"}
    assert set(listing["responses"]) == set(detail["responses"]) == {"200", "403", "404", "422"}
    row = document["components"]["schemas"]["FlowAnalytics"]
    for name in (*FLOW_FIGURES, "steps", "id", "name", "status"):
        assert name in row["properties"], name
    assert "attributed_revenue" in document["components"]["schemas"]["FlowStepAnalytics"]["properties"]
