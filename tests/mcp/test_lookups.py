"""Issue 18 (MCP): lookup tools (connections, tags, lists, orders), unknown names as errors, drafts that
report their reach, and compact results, with the SDK's client over stdio and Streamable HTTP."""

from __future__ import annotations

import json
from typing import Any

import anyio
from mcp_types import TextContent
from tests.mcp.conftest import http_client, stdio_client
from tests.mcp.scenario import error, ok
from tests.mcp.seed import Seeded

from fanhub.audience.labels import LIST, TAG, change_labels
from fanhub.audience.service import create_list, tag_ids_by_name
from fanhub.auth.actor import Actor
from fanhub.connectors.models import Connection
from fanhub.db.engine import Database
from mcp import Client


def _labels_and_connection(db: Database, s: Seeded) -> tuple[int, int]:
    """A list "Newsletter" holding mary and zoe, john tagged VIP, and a Ticket Tailor connection not synced yet."""
    staff = Actor.cli(s.org_a)
    with db.write() as session:
        newsletter = create_list(session, s.org_a, "Newsletter")
        change_labels(session, staff, LIST, newsletter.id, [s.mary, s.zoe], True)
        change_labels(session, staff, TAG, tag_ids_by_name(session, s.org_a, ["VIP"])["VIP"], [s.john], True)
        connection = Connection(
            organization_id=s.org_a,
            platform="tickettailor",
            name="Box office",
            base_url="http://127.0.0.1:1",
            credentials="not-read-by-listing",
            webhook_secret="s" * 32,
        )
        session.add(connection)
        session.flush()
        return newsletter.id, connection.id


async def _lookups(client: Client, s: Seeded, newsletter: int, connection: int) -> None:
    connections = (await ok(client, "list_connections"))["connections"]
    assert [(c["id"], c["platform"], c["source"], c["name"]) for c in connections] == [
        (connection, "tickettailor", f"tickettailor:{connection}", "Box office")
    ]
    tags = await ok(client, "list_tags")
    assert [(t["name"], t["contacts"]) for t in tags["tags"]] == [("VIP", 1)]
    assert (await ok(client, "list_tags", {"query": "nope"}))["tags"] == []
    lists = await ok(client, "list_lists")
    assert [(x["id"], x["name"], x["contacts"]) for x in lists["lists"]] == [(newsletter, "Newsletter", 2)]

    async def orders(**arguments: Any) -> list[str]:
        return [o["external_id"] for o in (await ok(client, "list_orders", arguments))["orders"]]

    assert await orders() == ["B2", "A5", "A4", "B1", "A3", "A2", "A1"]  # most recently placed first
    assert await orders(event_id=s.e1) == ["A5", "A4", "A3", "A2", "A1"]
    assert await orders(status="refunded") == ["A3"]
    assert await orders(source="eventbrite") == ["B2", "B1"]  # the platform's name: all its connections
    assert await orders(source="partner:acme", status="completed") == ["A4", "A2", "A1"]
    assert await orders(contact_id=s.john) == ["A4", "B1", "A1"]
    assert await orders(start_date="2024-02-02", end_date="2024-02-02") == ["B1", "A3"]
    assert await orders(source=f"tickettailor:{connection}") == []  # connected, nothing synced yet
    first = await ok(client, "list_orders", {"page_size": 2})
    assert first["paging"]["next_page"] == 2 and len(first["orders"]) == 2
    b1 = (await ok(client, "list_orders", {"contact_id": s.john, "source": "eventbrite"}))["orders"][0]
    assert (b1["event_name"], b1["tickets"], b1["total_price"], b1["currency_code"]) == ("Jazz Night", 2, 50.0, "USD")
    assert b1["placed_at"] == "2024-02-02T20:00:00Z" and b1["items"][0]["ticket_type_name"] == "General"

    unknown = await error(client, "list_orders", {"source": "ticketmaster"})
    assert unknown.startswith("invalid argument 'source'") and "eventbrite:1" in unknown and "partner:acme" in unknown
    assert "not found" in await error(client, "list_orders", {"event_id": s.x1})
    assert "not found" in await error(client, "list_orders", {"contact_id": s.olga})
    assert "status" in await error(client, "list_orders", {"status": "pending"})


async def _unknown_names(client: Client, s: Seeded) -> None:
    assert (await error(client, "search_contacts", {"tag": "Nope"})).startswith("invalid argument 'tag'")
    assert (await error(client, "search_contacts", {"list_id": 999_999})).startswith("invalid argument 'list_id'")
    assert "did you mean 'Rock'" in await error(client, "count_audience", {"segment": {"genres": ["rock"]}})
    missing_tag = await error(client, "count_audience", {"segment": {"tags": ["VIP", "Nope"]}})
    assert missing_tag == "invalid argument 'segment.tags': no tag named 'Nope' in this organization."
    other_event = await error(client, "count_audience", {"segment": {"bought_event_ids": [s.x1]}})
    assert other_event.startswith("invalid argument 'segment.bought_event_ids'") and "not found" in other_event


async def _drafts(client: Client, s: Seeded, newsletter: int) -> None:
    draft = {"type": "sms", "name": "VIP text", "body": "Hi {{ first_name }}", "segment": {"tags": ["Nope"]}}
    refused = await error(client, "create_campaign_draft", draft)
    assert refused == "invalid argument 'segment.tags': no tag named 'Nope' in this organization."
    # Every draft says whom it would reach per channel; john (VIP) is subscribed to both.
    vip = await ok(client, "create_campaign_draft", {**draft, "segment": {"tags": ["VIP"]}})
    assert vip["recipients"] == {"email": 1, "sms": 1} and vip["warnings"] == []
    assert vip["campaign"]["status"] == "draft" and vip["campaign"]["recipients"] == 0
    # Nobody bought Comedy Hour: an SMS draft to its buyers is made, and says it reaches nobody.
    comedy = await client.call_tool("create_campaign_draft", {**draft, "segment": {"bought_event_ids": [s.e3]}})
    assert not comedy.is_error and comedy.structured_content is not None
    assert comedy.structured_content["recipients"] == {"email": 0, "sms": 0}
    (warning,) = comedy.structured_content["warnings"]
    assert "subscribed to SMS" in warning and "reach nobody" in warning
    text = "\n".join(b.text for b in comedy.content if isinstance(b, TextContent))
    assert "would reach 0 recipient(s)" in text and f"Warning: {warning}" in text
    # mary and zoe (the list) never said yes to email.
    email = {"type": "email", "name": "News", "subject": "News", "body": "<p>News</p>"}
    news = await ok(client, "create_campaign_draft", {**email, "segment": {"list_ids": [newsletter]}})
    assert news["recipients"] == {"email": 0, "sms": 0} and "subscribed to email" in news["warnings"][0]


async def _compact(client: Client, s: Seeded) -> None:
    listed = await client.call_tool("list_events", {})
    assert listed.structured_content is not None
    texts = [b.text for b in listed.content if isinstance(b, TextContent)]
    assert len(texts) == 1
    text = texts[0]
    # A short summary with the ids to use next, not the structured content again as indented JSON.
    assert not text.lstrip().startswith("{") and "\n  " not in text
    assert len(text) < len(json.dumps(listed.structured_content)) / 2
    assert f"#{s.e1} The Head & The Heart" in text and "3 events (page 1)" in text
    contact = await client.call_tool("get_contact", {"contact_id": s.john})
    summary = "".join(b.text for b in contact.content if isinstance(b, TextContent))
    assert summary.startswith(f"Contact #{s.john} John Smith") and len(summary) < 300
    tools = (await client.list_tools()).tools
    size = len(json.dumps([t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in tools]))
    # The listing is read into the assistant's context on every session: each tool stays compact
    # (it was 54 KB for 16 tools, 3.4 KB each, before issue 18; 44 KB for 24 after issue 21).
    assert size < 2_000 * len(tools), (size, len(tools))


async def _everything(client: Client, s: Seeded, newsletter: int, connection: int) -> None:
    await _lookups(client, s, newsletter, connection)
    await _unknown_names(client, s)
    await _drafts(client, s, newsletter)
    await _compact(client, s)


def test_lookups_warnings_and_compact_results_over_stdio(seeded: Seeded, db: Database) -> None:
    newsletter, connection = _labels_and_connection(db, seeded)

    async def main() -> None:
        async with stdio_client(seeded.org_a) as client:
            await _everything(client, seeded, newsletter, connection)

    anyio.run(main)


def test_lookups_warnings_and_compact_results_over_http(seeded: Seeded, http_server: str, db: Database) -> None:
    newsletter, connection = _labels_and_connection(db, seeded)

    async def main() -> None:
        async with http_client(http_server, seeded.write_token) as client:
            await _everything(client, seeded, newsletter, connection)
        async with http_client(http_server, seeded.read_token) as reader:
            # The new read tools are open to mcp:read tokens; drafts are not.
            assert (await ok(reader, "list_tags"))["tags"][0]["name"] == "VIP"
            assert "mcp:write" in await error(
                reader, "create_campaign_draft", {"type": "sms", "name": "x", "body": "b", "segment": {}}
            )

    anyio.run(main)
