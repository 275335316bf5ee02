"""The read-tool scenario, run with the SDK's client over stdio and over Streamable HTTP alike.

Expected figures are derived by hand in `tests/mcp/seed.py`.
"""

from __future__ import annotations

import base64
import csv
import io
import json
from typing import Any

from mcp_types import CallToolResult, EmbeddedResource, ImageContent, TextContent, TextResourceContents
from tests.mcp.seed import Seeded

from mcp import Client

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

READ_TOOLS = {
    "list_events",
    "get_event_details",
    "list_attendees",
    "get_attendee_details",
    "export_attendee_data",
    "sales_report",
    "sales_chart",
    "search_contacts",
    "get_contact",
    "count_audience",
    "list_campaigns",
    "campaign_analytics",
    "list_connections",
    "list_tags",
    "list_lists",
    "list_orders",
    "list_suppressions",
    "list_flows",
    "flow_analytics",
}
WRITE_TOOLS = {"create_campaign_draft", "tag_contacts", "untag_contacts", "sync_connection", "create_flow_draft"}


async def ok(client: Client, tool: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments or {})
    assert not result.is_error, f"{tool} failed: {_text(result)}"
    assert isinstance(result.structured_content, dict), result
    return result.structured_content


async def error(client: Client, tool: str, arguments: dict[str, Any] | None = None) -> str:
    result = await client.call_tool(tool, arguments or {})
    text = _text(result)
    assert result.is_error, f"{tool} should have failed, got {text}"
    assert "Traceback" not in text and 'File "' not in text, text
    return text


def _text(result: CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


def usd(orders: int, tickets: int, gross: float, refunds: float, refunded_orders: int = 0) -> dict[str, Any]:
    return {
        "currency_code": "USD",
        "orders": orders,
        "tickets_sold": tickets,
        "gross_revenue": gross,
        "refunds": refunds,
        "net_revenue": gross - refunds,
        "refunded_orders": refunded_orders,
    }


async def check_tool_listing(client: Client, *, with_write: bool = True) -> None:
    tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) == READ_TOOLS | (WRITE_TOOLS if with_write else set())
    for tool in tools.values():
        assert tool.description and len(tool.description) > 40, tool.name
        # Descriptions are dedented docstrings, schemas carry no pydantic titles.
        assert "\n    " not in tool.description and not tool.description.startswith(" "), tool.name
        assert tool.input_schema["type"] == "object"
        assert '"title"' not in json.dumps(tool.input_schema), tool.name
        assert tool.output_schema is not None and tool.output_schema["type"] == "object", tool.name
    events = tools["list_events"]
    props = events.input_schema["properties"]
    assert set(props) == {"status", "start_date", "end_date", "source", "query", "page", "page_size"}
    assert props["page_size"]["maximum"] == 100 and props["page_size"]["default"] == 25
    assert "paging" in events.output_schema["properties"]
    assert tools["get_event_details"].input_schema["required"] == ["event_id"]
    assert tools["sales_report"].input_schema["properties"]["group_by"]["enum"] == ["day", "ticket_type", "source"]
    assert tools["list_events"].annotations is not None and tools["list_events"].annotations.read_only_hint
    templates = {t.uri_template for t in (await client.list_resource_templates()).resource_templates}
    assert {"fanhub://events/{id}", "fanhub://contacts/{id}", "fanhub://campaigns/{id}"} <= templates


async def check_events(client: Client, s: Seeded) -> None:
    listed = await ok(client, "list_events")
    assert [e["id"] for e in listed["events"]] == [s.e1, s.e2, s.e3]  # soonest first
    assert listed["paging"] == {
        "page": 1,
        "page_size": 25,
        "has_more": False,
        "next_page": None,
        "hint": "This is the last page.",
    }
    first = listed["events"][0]
    assert (first["tickets_sold"], first["net_revenue"], first["source"]) == (5, 250.0, "partner:acme")

    page1 = await ok(client, "list_events", {"page_size": 2})
    assert [e["id"] for e in page1["events"]] == [s.e1, s.e2]
    assert page1["paging"]["has_more"] and page1["paging"]["next_page"] == 2
    assert "page=2" in page1["paging"]["hint"]
    page2 = await ok(client, "list_events", {"page_size": 2, "page": 2})
    assert [e["id"] for e in page2["events"]] == [s.e3] and page2["paging"]["next_page"] is None

    async def ids(**arguments: Any) -> list[int]:
        return [e["id"] for e in (await ok(client, "list_events", arguments))["events"]]

    assert await ids(source="eventbrite:1") == [s.e2, s.e3]
    assert await ids(source="eventbrite") == [s.e2, s.e3]  # a platform's name: all its connections
    assert await ids(source="partner") == [s.e1]
    assert await ids(query="JAZZ") == [s.e2]
    assert await ids(status="canceled") == [s.e3]
    assert await ids(start_date="2024-04-01") == [s.e2, s.e3]
    assert await ids(end_date="2024-04-10") == [s.e1, s.e2]  # a date means the whole (UTC) day
    assert await ids(start_date="2024-04-10T04:00:00+02:00") == [s.e2, s.e3]  # = 02:00Z, E2 starts then
    assert await ids(start_date="2024-04-10T05:00:00+02:00") == [s.e3]
    assert await ids(start_date="2024-03-01", end_date="2024-03-31") == [s.e1]

    details = await ok(client, "get_event_details", {"event_id": s.e1})
    assert details["name"] == "The Head & The Heart" and details["source"] == "partner:acme"
    assert [(t["name"], t["total_price"], t["quantity"]) for t in details["ticket_types"]] == [
        ("GA", 40.0, 150),
        ("VIP", 100.0, 20),
    ]
    assert details["tickets_sold"] == 5 and details["attendees"] == 2
    assert details["sales"] == [usd(4, 5, 380.0, 130.0, 1)]
    assert details["resource_uri"] == f"fanhub://events/{s.e1}"
    jazz = await ok(client, "get_event_details", {"event_id": s.e2})
    assert jazz["source"] == "eventbrite:1" and jazz["attendees"] == 2 and jazz["sales"] == [usd(2, 6, 150.0, 0.0)]
    comedy = await ok(client, "get_event_details", {"event_id": s.e3})
    assert comedy["status"] == "canceled" and comedy["sales"] == [] and comedy["tickets_sold"] == 0


async def check_attendees(client: Client, s: Seeded) -> None:
    listed = await ok(client, "list_attendees", {"event_id": s.e1})
    assert listed["event_name"] == "The Head & The Heart"
    rows = {a["email"]: a for a in listed["attendees"]}
    assert set(rows) == {"john@example.com", "mary@example.com"}  # bob refunded, carl canceled
    john = rows["john@example.com"]
    assert john["contact_id"] == s.john and john["tickets"] == 3
    assert (john["email_subscription"], john["sms_subscription"]) == ("subscribed", "subscribed")
    assert [(o["external_id"], o["status"], o["refunded_amount"]) for o in john["orders"]] == [
        ("A1", "completed", 0.0),
        ("A4", "completed", 10.0),
    ]
    assert rows["mary@example.com"]["tickets"] == 2 and rows["mary@example.com"]["email_subscription"] == "unknown"

    jazz = await ok(client, "list_attendees", {"event_id": s.e2, "page_size": 1})
    assert [a["contact_id"] for a in jazz["attendees"]] == [s.john]
    assert jazz["paging"]["next_page"] == 2
    jazz2 = await ok(client, "list_attendees", {"event_id": s.e2, "page_size": 1, "page": 2})
    assert [a["contact_id"] for a in jazz2["attendees"]] == [s.zoe] and not jazz2["paging"]["has_more"]

    by_email = await ok(client, "get_attendee_details", {"email": "John@Example.com"})
    assert by_email["id"] == s.john
    assert {src["source"] for src in by_email["sources"]} == {"partner:acme", "eventbrite:1"}
    assert {(o["event_name"], o["tickets"], o["status"]) for o in by_email["orders"]} == {
        ("The Head & The Heart", 2, "completed"),
        ("The Head & The Heart", 1, "completed"),
        ("Jazz Night", 2, "completed"),
    }
    assert {(c["channel"], c["subscribed"]) for c in by_email["consent_history"]} == {("email", True), ("sms", True)}
    by_id = await ok(client, "get_attendee_details", {"contact_id": s.mary})
    assert by_id["email"] == "mary@example.com" and by_id["full_name"] in (None, "Mary Jones")


async def check_export(client: Client, s: Seeded) -> None:
    result = await client.call_tool("export_attendee_data", {"event_id": s.e1})
    assert not result.is_error, _text(result)
    assert result.structured_content is not None
    assert result.structured_content["rows"] == 2
    embedded = [b for b in result.content if isinstance(b, EmbeddedResource)]
    assert len(embedded) == 1
    resource = embedded[0].resource
    assert isinstance(resource, TextResourceContents) and resource.mime_type == "text/csv"
    assert str(resource.uri) == f"fanhub://events/{s.e1}/attendees.csv"
    rows = list(csv.DictReader(io.StringIO(resource.text)))
    by_email = {r["email"]: r for r in rows}
    assert set(by_email) == {"john@example.com", "mary@example.com"}
    john = by_email["john@example.com"]
    assert (john["contact_id"], john["tickets"], john["ticket_types"], john["total_paid"]) == (
        str(s.john),
        "3",
        "GA x3",
        "110.00",
    )
    assert (john["first_order_at"], john["sources"], john["email_subscription"]) == (
        "2024-02-01T10:00:00Z",
        "partner:acme",
        "subscribed",
    )
    mary = by_email["mary@example.com"]
    assert (mary["tickets"], mary["ticket_types"], mary["total_paid"]) == ("2", "GA x1; VIP x1", "140.00")
    again = await client.read_resource(f"fanhub://events/{s.e1}/attendees.csv")
    first = again.contents[0]
    assert isinstance(first, TextResourceContents) and first.text == resource.text


async def check_sales(client: Client, s: Seeded) -> None:
    by_source = await ok(client, "sales_report", {"group_by": "source"})
    assert [
        (r["group"], r["tickets_sold"], r["gross_revenue"], r["refunds"], r["net_revenue"]) for r in by_source["rows"]
    ] == [("eventbrite:1", 6, 150.0, 0.0, 150.0), ("partner:acme", 5, 380.0, 130.0, 250.0)]
    assert by_source["totals"] == [usd(6, 11, 530.0, 130.0, 1)]

    by_day = await ok(client, "sales_report", {})
    assert by_day["group_by"] == "day"
    assert [
        (r["group"], r["orders"], r["tickets_sold"], r["gross_revenue"], r["net_revenue"]) for r in by_day["rows"]
    ] == [
        ("2024-02-01", 2, 4, 220.0, 220.0),
        ("2024-02-02", 2, 2, 170.0, 50.0),
        ("2024-02-03", 1, 1, 40.0, 30.0),
        ("2024-03-15", 1, 4, 100.0, 100.0),
    ]

    by_type = await ok(client, "sales_report", {"group_by": "ticket_type", "event_id": s.e1})
    assert {
        r["group"]: (r["tickets_sold"], r["gross_revenue"], r["refunds"], r["net_revenue"]) for r in by_type["rows"]
    } == {"GA": (4, 280.0, 130.0, 150.0), "VIP": (1, 100.0, 0.0, 100.0)}
    assert by_type["totals"] == [usd(4, 5, 380.0, 130.0, 1)]

    one_day = await ok(
        client, "sales_report", {"group_by": "source", "start_date": "2024-02-02", "end_date": "2024-02-02"}
    )
    assert [(r["group"], r["orders"], r["tickets_sold"], r["net_revenue"]) for r in one_day["rows"]] == [
        ("eventbrite:1", 1, 2, 50.0),
        ("partner:acme", 1, 0, 0.0),
    ]
    assert one_day["start_date"] == "2024-02-02T00:00:00Z" and one_day["end_date"] == "2024-02-03T00:00:00Z"


async def check_chart(client: Client, s: Seeded) -> None:
    result = await client.call_tool("sales_chart", {"event_id": s.e1})
    assert not result.is_error, _text(result)
    images = [b for b in result.content if isinstance(b, ImageContent)]
    assert len(images) == 1 and images[0].mime_type == "image/png"
    png = base64.b64decode(images[0].data)
    assert png.startswith(PNG_MAGIC) and len(png) > 5_000
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (800, 400)
    info = result.structured_content
    assert info is not None
    # From the first sale (Feb 1) to the show (Mar 2, 2024), quiet days included: 29 days of February + 2.
    assert (info["days"], info["tickets_sold"], info["net_revenue"], info["png_bytes"]) == (31, 5, 250.0, len(png))
    empty = await client.call_tool("sales_chart", {"days": 7})  # the organization's last week: no sales in 2024 data
    assert not empty.is_error and empty.structured_content is not None
    assert empty.structured_content["tickets_sold"] == 0 and empty.structured_content["subject"] == "organization"
    assert empty.structured_content["days"] == 7  # the whole window, up to today, at zero
    assert base64.b64decode([b for b in empty.content if isinstance(b, ImageContent)][0].data).startswith(PNG_MAGIC)


async def check_contacts(client: Client, s: Seeded) -> None:
    async def ids(**arguments: Any) -> list[int]:
        return [c["id"] for c in (await ok(client, "search_contacts", arguments))["contacts"]]

    assert await ids() == sorted([s.john, s.mary, s.bob, s.carl, s.zoe])
    assert await ids(bought_event_id=s.e1) == [s.john, s.mary]
    assert await ids(bought_event_id=s.e2) == sorted([s.john, s.zoe])
    assert await ids(subscribed_to="email") == [s.john]
    assert await ids(subscribed_to="sms") == [s.john]
    assert await ids(query="jones") == [s.mary]
    assert await ids(phone="(959) 474-6360") == [s.john]
    assert await ids(email="ZOE@example.com") == [s.zoe]
    assert await ids(query="example.com", page_size=2) == sorted([s.john, s.mary, s.bob, s.carl, s.zoe])[:2]

    contact = await ok(client, "get_contact", {"contact_id": s.john})
    assert contact["email"] == "john@example.com" and contact["phone"] == "+19594746360"
    assert len(contact["orders"]) == 3 and contact["resource_uri"] == f"fanhub://contacts/{s.john}"
    assert isinstance(contact["campaign_touches"], list)

    read = await client.read_resource(f"fanhub://contacts/{s.john}")
    first = read.contents[0]
    assert isinstance(first, TextResourceContents) and '"john@example.com"' in first.text
    event = await client.read_resource(f"fanhub://events/{s.e2}")
    first = event.contents[0]
    assert isinstance(first, TextResourceContents) and '"Jazz Night"' in first.text


async def check_bad_arguments(client: Client, s: Seeded) -> None:
    # Type and range errors are one readable sentence naming the argument, not pydantic's report.
    assert await error(client, "list_events", {"page_size": 500}) == (
        "invalid argument 'page_size': must be at most 100 (got 500)."
    )
    assert await error(client, "get_event_details", {}) == "invalid argument 'event_id': is required."
    assert await error(client, "get_event_details", {"event_id": "abc"}) == (
        "invalid argument 'event_id': must be a whole number (got 'abc')."
    )
    for tool, arguments in (("list_events", {"status": "sold-out"}), ("count_audience", {"segment": {"x": 1}})):
        text = await error(client, tool, arguments)
        assert "\n" not in text and "pydantic" not in text and "http" not in text and "Error executing" not in text
    assert "page" in await error(client, "list_events", {"page": 0})
    assert "start_date" in await error(client, "list_events", {"start_date": "next tuesday"})
    assert "'source'" in await error(client, "list_events", {"source": "ticketmaster"})
    assert "end_date" in await error(client, "list_events", {"start_date": "2024-05-01", "end_date": "2024-04-01"})
    assert "status" in await error(client, "list_events", {"status": "sold-out"})
    assert "event_id" in await error(client, "get_event_details", {"event_id": "abc"})
    assert "event_id" in await error(client, "get_event_details", {})
    assert "group_by" in await error(client, "sales_report", {"group_by": "week"})
    assert "contact_id" in await error(client, "get_attendee_details", {})
    assert "subscribed_to" in await error(client, "search_contacts", {"subscribed_to": "fax"})
    assert "colour" in await error(client, "count_audience", {"segment": {"colour": "red"}})
    assert "campaign_id" in await error(client, "sales_chart", {"event_id": s.e1, "campaign_id": 1})
    assert "not found" in await error(client, "get_event_details", {"event_id": 999_999})
    unknown = await client.call_tool("no_such_tool", {})
    assert unknown.is_error


async def check_other_organization_is_invisible(client: Client, s: Seeded) -> None:
    for tool, arguments in (
        ("get_event_details", {"event_id": s.x1}),
        ("list_attendees", {"event_id": s.x1}),
        ("export_attendee_data", {"event_id": s.x1}),
        ("sales_report", {"event_id": s.x1}),
        ("sales_chart", {"event_id": s.x1}),
        ("get_contact", {"contact_id": s.olga}),
        ("get_attendee_details", {"email": "olga@example.com"}),
        ("search_contacts", {"bought_event_id": s.x1}),
    ):
        assert "not found" in await error(client, tool, arguments), tool
    assert s.x1 not in [e["id"] for e in (await ok(client, "list_events"))["events"]]
    assert (await ok(client, "search_contacts", {"email": "olga@example.com"}))["contacts"] == []
    for uri in (f"fanhub://events/{s.x1}", f"fanhub://contacts/{s.olga}", f"fanhub://events/{s.x1}/attendees.csv"):
        try:
            await client.read_resource(uri)
        except Exception as exc:  # the SDK raises MCPError for a resource error
            assert "not found" in str(exc), exc
        else:
            raise AssertionError(f"{uri} should not be readable")


async def run_read_scenario(client: Client, s: Seeded, *, with_write: bool = True) -> None:
    await check_tool_listing(client, with_write=with_write)
    await check_events(client, s)
    await check_attendees(client, s)
    await check_export(client, s)
    await check_sales(client, s)
    await check_chart(client, s)
    await check_contacts(client, s)
    await check_bad_arguments(client, s)
    await check_other_organization_is_invisible(client, s)
