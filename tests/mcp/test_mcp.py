"""The MCP server end to end with the SDK's own client: a real `fanhub mcp` subprocess over stdio, and
the real app over Streamable HTTP on 127.0.0.1 with bearer tokens."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from datetime import UTC, date, datetime
from typing import Any

import anyio
import httpx
from fastapi.testclient import TestClient
from mcp_types import ImageContent, TextResourceContents
from sqlalchemy import select
from tests.mcp.conftest import http_client, stdio_client
from tests.mcp.scenario import PNG_MAGIC, error, ok, run_read_scenario
from tests.mcp.seed import Seeded

from fanhub.auth.service import revoke_key
from fanhub.db.engine import Database
from fanhub.mcp.models import McpAuditEntry

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "raw-test", "version": "0"},
    },
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def _audit(db: Database) -> list[McpAuditEntry]:
    with db.read() as session:
        return list(session.scalars(select(McpAuditEntry).order_by(McpAuditEntry.id)))


async def _tag_round_trip(client: Any, s: Seeded) -> None:
    added = await ok(client, "tag_contacts", {"contact_ids": [s.john, s.mary], "tag": "VIP"})
    assert added == {"tag": "VIP", "contact_ids": sorted([s.john, s.mary]), "changed": 2}
    again = await ok(client, "tag_contacts", {"contact_ids": [s.john], "tag": "VIP"})
    assert again["changed"] == 0
    removed = await ok(client, "untag_contacts", {"contact_ids": [s.mary], "tag": "VIP"})
    assert removed["changed"] == 1
    tagged = await ok(client, "search_contacts", {"tag": "VIP"})
    assert [c["id"] for c in tagged["contacts"]] == [s.john]
    assert "tag" in await error(client, "tag_contacts", {"contact_ids": [s.john], "tag": "Nope"})
    assert "contact_ids" in await error(client, "tag_contacts", {"contact_ids": [s.olga], "tag": "VIP"})
    assert "contact_ids" in await error(client, "tag_contacts", {"contact_ids": [], "tag": "VIP"})


def test_stdio_fanhub_mcp_subprocess(seeded: Seeded, db: Database) -> None:
    s = seeded

    async def main() -> None:
        async with stdio_client(s.org_a) as client:
            await run_read_scenario(client, s)
            await _tag_round_trip(client, s)

    anyio.run(main)
    entries = _audit(db)
    # three successful writes, then the unknown tag and the other organization's contact (the empty
    # list is refused by the schema before the tool runs)
    assert [(e.tool, e.outcome) for e in entries] == [
        ("tag_contacts", "ok"),
        ("tag_contacts", "ok"),
        ("untag_contacts", "ok"),
        ("tag_contacts", "error"),
        ("tag_contacts", "error"),
    ]
    assert {(e.key_id, e.transport, e.organization_id) for e in entries} == {(None, "stdio", s.org_a)}
    assert entries[0].arguments == {"contact_ids": sorted([s.john, s.mary]), "tag": "VIP"}
    assert entries[0].result == {"changed": 2}


def test_stdio_read_only_and_json_errors(seeded: Seeded) -> None:
    s = seeded

    async def main() -> None:
        async with stdio_client(s.org_a, "--read-only") as client:
            names = {t.name for t in (await client.list_tools()).tools}
            assert "tag_contacts" not in names and "list_events" in names and "list_orders" in names
            assert (await ok(client, "get_event_details", {"event_id": s.e2}))["tickets_sold"] == 6

    anyio.run(main)
    env_run = subprocess.run(
        [sys.executable, "-m", "fanhub", "mcp", "--org", "999999", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert env_run.returncode == 1
    assert json.loads(env_run.stdout) == {"error": "organization 999999 not found"}


def test_http_read_token_scenario(seeded: Seeded, http_server: str, db: Database) -> None:
    s = seeded

    async def main() -> None:
        async with http_client(http_server, s.read_token) as client:
            # An mcp:read token is not offered the write tools; calling one says which scope it needs.
            await run_read_scenario(client, s, with_write=False)
            for tool, arguments in (
                ("tag_contacts", {"contact_ids": [s.john], "tag": "VIP"}),
                ("create_campaign_draft", {"type": "sms", "name": "x", "body": "hi", "segment": {}}),
                ("sync_connection", {"connection_id": 1}),
            ):
                assert "mcp:write" in await error(client, tool, arguments), tool

    anyio.run(main)
    assert _audit(db) == []


def test_http_writes_are_audited_with_the_key(seeded: Seeded, http_server: str, db: Database) -> None:
    s = seeded

    async def main() -> None:
        async with http_client(http_server, s.write_token) as client:
            await _tag_round_trip(client, s)

    anyio.run(main)
    entries = _audit(db)
    assert len(entries) == 5
    assert {(e.key_id, e.transport, e.organization_id) for e in entries} == {(s.write_key_id, "http", s.org_a)}
    assert "Nope" in (entries[3].error or "")


def test_http_other_organization_token_sees_only_its_own(seeded: Seeded, http_server: str) -> None:
    s = seeded

    async def main() -> None:
        async with http_client(http_server, s.other_org_token) as client:
            events = await ok(client, "list_events")
            assert [e["id"] for e in events["events"]] == [s.x1]
            assert "not found" in await error(client, "get_event_details", {"event_id": s.e1})
            assert "not found" in await error(client, "get_contact", {"contact_id": s.john})
            contacts = await ok(client, "search_contacts", {})
            assert [c["id"] for c in contacts["contacts"]] == [s.olga]

    anyio.run(main)


def test_http_authentication_statuses(seeded: Seeded, http_server: str, db: Database) -> None:
    s = seeded
    url = f"{http_server}/mcp"

    def post(headers: dict[str, str]) -> httpx.Response:
        return httpx.post(url, json=INITIALIZE, headers={**MCP_HEADERS, **headers}, timeout=10)

    missing = post({})
    assert missing.status_code == 401 and "Authorization: Bearer" in missing.json()["message"]
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert post({"Authorization": "Basic abc"}).status_code == 401
    unknown = post({"Authorization": "Bearer fh_not-a-real-token"})
    assert unknown.status_code == 401 and unknown.json()["message"] == "unknown or revoked token"
    partner = post({"Authorization": f"Bearer {s.partner_token}"})
    assert partner.status_code == 403 and "mcp:read" in partner.json()["message"]
    assert "insufficient_scope" in partner.headers["www-authenticate"]
    assert post({"Authorization": f"Bearer {s.read_token}"}).status_code == 200

    # An MCP token does not open the Partners API.
    partners_api = httpx.get(
        f"{http_server}/v1/partners/events", headers={"Cymbal-Partner-API-Key": s.read_token}, timeout=10
    )
    assert partners_api.status_code == 403

    with db.write() as session:
        revoke_key(session, s.read_key_id)
    revoked = post({"Authorization": f"Bearer {s.read_token}"})
    assert revoked.status_code == 401 and revoked.json()["message"] == "unknown or revoked token"


def test_app_without_lifespan_answers_503(client: TestClient, seeded: Seeded) -> None:
    from fanhub.app import create_app

    bare = TestClient(create_app(database=None, run_worker=False))  # no `with`: the lifespan never ran
    response = bare.post(
        "/mcp", json=INITIALIZE, headers={**MCP_HEADERS, "Authorization": f"Bearer {seeded.read_token}"}
    )
    assert response.status_code == 503


def test_count_audience(seeded: Seeded, http_server: str) -> None:
    s = seeded

    async def main() -> None:
        async with http_client(http_server, s.read_token) as client:
            # Only john is subscribed (email and SMS); everyone else's consent is unknown.
            assert await ok(client, "count_audience", {"segment": {}}) == {"segment": {}, "email": 1, "sms": 1}
            jazz = await ok(client, "count_audience", {"segment": {"bought_event_ids": [s.e2]}})
            assert (jazz["email"], jazz["sms"]) == (1, 1)
            none = await ok(client, "count_audience", {"segment": {"bought_event_ids": [s.e1], "tags": ["VIP"]}})
            assert (none["email"], none["sms"]) == (0, 0)

    anyio.run(main)


def test_create_campaign_draft_is_never_sent(seeded: Seeded, http_server: str, db: Database) -> None:
    from fanhub.campaigns.models import Campaign
    from fanhub.worker import Worker

    s = seeded

    async def main() -> dict[str, Any]:
        async with http_client(http_server, s.write_token) as client:
            assert "subject" in await error(
                client, "create_campaign_draft", {"type": "email", "name": "n", "body": "b", "segment": {}}
            )
            assert "not found" in await error(
                client,
                "create_campaign_draft",
                {"type": "sms", "name": "n", "body": "b", "segment": {}, "event_id": s.x1},
            )
            draft = await ok(
                client,
                "create_campaign_draft",
                {
                    "type": "email",
                    "name": "Jazz reminder",
                    "subject": "Jazz Night is coming",
                    "body": "<p>See you there</p>",
                    "segment": {"bought_event_ids": [s.e2]},
                    "event_id": s.e2,
                },
            )
            listed = await ok(client, "list_campaigns", {})
            assert [c["id"] for c in listed["campaigns"]] == [draft["campaign"]["id"]]
            analytics = await ok(client, "campaign_analytics", {"campaign_id": draft["campaign"]["id"]})
            assert analytics["figures"].get("num_recipients", 0) == 0
            return draft

    draft = anyio.run(main)
    campaign = draft["campaign"]
    assert campaign["status"] == "draft" and campaign["delivered_at"] is None and campaign["scheduled_at"] is None
    assert campaign["audience"] == {"bought_event_ids": [s.e2]} and campaign["event_id"] == s.e2
    # Run every worker job a few times: a draft is never picked up for sending.
    worker = Worker(db)
    for _ in range(3):
        worker.run_once()
    with db.read() as session:
        stored = session.get(Campaign, campaign["id"])
        assert stored is not None and stored.status == "draft" and stored.delivered_at is None
        assert stored.organization_id == s.org_a and stored.created_by == f"mcp:key:{s.write_key_id}"
    entries = [e for e in _audit(db) if e.tool == "create_campaign_draft"]
    assert [e.outcome for e in entries] == ["error", "error", "ok"]
    assert entries[-1].result == {"campaign_id": campaign["id"], "recipients": {"email": 1, "sms": 1}}
    assert entries[-1].key_id == s.write_key_id


def _sent_campaign(db: Database, s: Seeded) -> int:
    """A sent email campaign written straight into the campaigns tables (as the sender would leave them):
    delivered to john and zoe on 2024-02-01 12:00Z; john opened at 13:00Z the same day and clicked on
    2024-02-02 08:00Z; his Eventbrite order B1 (2 tickets, 50.00 placed 2024-02-02 20:00Z) is attributed."""
    from fanhub.campaigns.models import Attribution, Campaign, CampaignStats, Delivery
    from fanhub.catalog.models import Order

    sent = datetime(2024, 2, 1, 12, tzinfo=UTC)
    with db.write() as session:
        campaign = Campaign(
            organization_id=s.org_a,
            type="email",
            name="Jazz push",
            subject="Jazz Night",
            body="<p>Come</p>",
            audience={"tags": ["VIP"]},
            event_id=s.e2,
            status="sent",
            delivered_at=sent,
        )
        session.add(campaign)
        session.flush()
        session.add(
            CampaignStats(
                campaign_id=campaign.id,
                organization_id=s.org_a,
                recipients=2,
                delivered=2,
                opens=1,
                clickers=1,
                attributed_orders=1,
                attributed_tickets=2,
                attributed_revenue=5000,
            )
        )
        john = Delivery(
            organization_id=s.org_a,
            campaign_id=campaign.id,
            contact_id=s.john,
            channel="email",
            address="john@example.com",
            status="sent",
            sent_at=sent,
            opened_at=datetime(2024, 2, 1, 13, tzinfo=UTC),
            clicked_at=datetime(2024, 2, 2, 8, tzinfo=UTC),
        )
        zoe = Delivery(
            organization_id=s.org_a,
            campaign_id=campaign.id,
            contact_id=s.zoe,
            channel="email",
            address="zoe@example.com",
            status="sent",
            sent_at=sent,
        )
        session.add_all([john, zoe])
        session.flush()
        order_id = session.scalars(select(Order.id).where(Order.external_id == "B1")).one()
        session.add(
            Attribution(
                organization_id=s.org_a,
                order_id=order_id,
                campaign_id=campaign.id,
                delivery_id=john.id,
                contact_id=s.john,
                channel="email",
                rule="email_open",
                window_days=10,
                delivered_at=sent,
                touch_at=datetime(2024, 2, 1, 13, tzinfo=UTC),
                placed_at=datetime(2024, 2, 2, 20, tzinfo=UTC),
                tickets=2,
                revenue_cents=5000,
            )
        )
        return campaign.id


def test_campaign_tools_and_resources(seeded: Seeded, http_server: str, db: Database) -> None:
    s = seeded
    campaign_id = _sent_campaign(db, s)

    async def main() -> None:
        async with http_client(http_server, s.read_token) as client:
            listed = await ok(client, "list_campaigns", {"type": "email"})
            assert [c["id"] for c in listed["campaigns"]] == [campaign_id]
            assert listed["campaigns"][0]["status"] == "sent"
            assert (await ok(client, "list_campaigns", {"status": "draft"}))["campaigns"] == []
            assert (await ok(client, "list_campaigns", {"type": "sms"}))["campaigns"] == []

            analytics = await ok(client, "campaign_analytics", {"campaign_id": campaign_id})
            figures = analytics["figures"]
            assert {k: figures[k] for k in ("num_recipients", "num_opens", "num_links_clicked", "num_undelivered")} == {
                "num_recipients": 2,
                "num_opens": 1,
                "num_links_clicked": 1,
                "num_undelivered": 0,
            }
            assert (figures["attributed_tickets_sold"], figures["attributed_revenue"]) == (2, 5000)
            assert analytics["time_series"] == {
                "opens": [{"at": "2024-02-01T00:00:00Z", "count": 1}],
                "clicks": [{"at": "2024-02-02T00:00:00Z", "count": 1}],
                "attributed_orders": [{"at": "2024-02-02T00:00:00Z", "count": 1, "tickets": 2, "revenue": 5000}],
            }
            hourly = await ok(client, "campaign_analytics", {"campaign_id": campaign_id, "interval": "hour"})
            assert hourly["time_series"]["opens"] == [{"at": "2024-02-01T13:00:00Z", "count": 1}]

            chart = await client.call_tool("sales_chart", {"campaign_id": campaign_id})
            assert not chart.is_error and chart.structured_content is not None
            info = chart.structured_content
            # From the attributed sale's day up to today, quiet days at zero (drawn per week).
            since_sale = (datetime.now(UTC).date() - date(2024, 2, 2)).days + 1  # placed Feb 2
            assert (info["subject"], info["days"], info["tickets_sold"], info["net_revenue"]) == (
                "campaign",
                since_sale,
                2,
                50.0,
            )
            png = base64.b64decode([b for b in chart.content if isinstance(b, ImageContent)][0].data)
            assert png.startswith(PNG_MAGIC) and len(png) == info["png_bytes"]

            john = await ok(client, "get_contact", {"contact_id": s.john})
            assert [(t["campaign_name"], t["status"], t["opened_at"]) for t in john["campaign_touches"]] == [
                ("Jazz push", "sent", "2024-02-01T13:00:00Z")
            ]
            resource = await client.read_resource(f"fanhub://campaigns/{campaign_id}")
            first = resource.contents[0]
            assert isinstance(first, TextResourceContents)
            body = json.loads(first.text)
            assert (body["name"], body["body"], body["audience"]) == ("Jazz push", "<p>Come</p>", {"tags": ["VIP"]})

        async with http_client(http_server, s.other_org_token) as other:
            assert "not found" in await error(other, "campaign_analytics", {"campaign_id": campaign_id})
            assert "not found" in await error(other, "sales_chart", {"campaign_id": campaign_id})
            assert (await ok(other, "list_campaigns"))["campaigns"] == []

    anyio.run(main)


def test_sync_connection_runs_a_sync_of_the_callers_connection(seeded: Seeded, http_server: str, db: Database) -> None:
    from tests.conftest import drain
    from tests.fakes.tickettailor import FakeTicketTailor

    from fanhub.connectors.service import connect_tickettailor

    s = seeded
    with FakeTicketTailor(rate_limit=None) as tt:
        gig = tt.add_event("Fake Gig", ticket_types=[{"name": "GA", "price": 1500}])
        tt.add_order(gig["id"], email="ada@example.com", quantity=1)
        tt.add_order(gig["id"], email="zoe@example.com", quantity=2)  # zoe also bought on Eventbrite
        connection_id = int(connect_tickettailor(db, s.org_a, tt.api_key, base_url=tt.base_url)["id"])

        async def sync() -> dict[str, Any]:
            async with http_client(http_server, s.write_token) as client:
                assert "not found" in await error(client, "sync_connection", {"connection_id": connection_id + 100})
                return await ok(client, "sync_connection", {"connection_id": connection_id})

        started = anyio.run(sync)
    assert (started["platform"], started["finished"], started["events"], started["orders"]) == (
        "tickettailor",
        True,
        1,
        2,
    )
    drain(db)

    async def check() -> None:
        async with http_client(http_server, s.read_token) as client:
            events = (await ok(client, "list_events", {"source": f"tickettailor:{connection_id}"}))["events"]
            assert [(e["name"], e["tickets_sold"]) for e in events] == [("Fake Gig", 3)]
            zoe = await ok(client, "get_contact", {"contact_id": s.zoe})
            assert {src["source"] for src in zoe["sources"]} == {"eventbrite:1", f"tickettailor:{connection_id}"}
            assert "mcp:write" in await error(client, "sync_connection", {"connection_id": connection_id})

    anyio.run(check)
    entries = [(e.tool, e.outcome, e.key_id) for e in _audit(db)]
    assert entries == [("sync_connection", "error", s.write_key_id), ("sync_connection", "ok", s.write_key_id)]
