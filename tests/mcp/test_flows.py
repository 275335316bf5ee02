"""MCP and flows: `list_flows` and `flow_analytics` (read) and `create_flow_draft` (write: drafts only,
mcp:write, audited), with the SDK's own client over Streamable HTTP and over stdio.

The figures are the hand-computed ones of `tests/flows/front_data.py`.
"""

from __future__ import annotations

from typing import get_args

import anyio
from sqlalchemy import select
from tests.flows.front_data import DAILY_SERIES, FLOW_FIGURES, STEP_FIGURES, seed_flow
from tests.mcp.conftest import http_client, stdio_client
from tests.mcp.scenario import error, ok
from tests.mcp.seed import Seeded

from fanhub.auth.actor import Actor
from fanhub.db.engine import Database
from fanhub.flows.models import DRAFT, Flow
from fanhub.flows.templates import TEMPLATES
from fanhub.mcp.models import McpAuditEntry
from fanhub.mcp.tools.flows import TemplateKey, list_flows

READ = frozenset({"mcp:read"})
NEW_FLOW = {
    "name": "Thanks for VIP orders",
    "trigger": {"type": "order_placed", "event_ids": []},
    "steps": [{"type": "send", "channel": "email", "subject": "Thanks {{ first_name }}", "body": "See you soon."}],
    "reentry": "per_trigger",
}


def test_the_template_argument_offers_exactly_the_templates() -> None:
    assert list(get_args(TemplateKey)) == [t.key for t in TEMPLATES]


def test_list_flows_as_a_plain_function(seeded: Seeded, db: Database) -> None:
    mine = seed_flow(db, seeded.org_a)
    seed_flow(db, seeded.org_b, "Theirs")
    with db.read() as session:
        listed = list_flows(session, Actor.mcp(seeded.org_a, None, READ))
    assert [(f.id, f.name, f.status, f.steps) for f in listed.flows] == [
        (mine.flow_id, "Know before you go", "active", 5)
    ]
    assert (listed.flows[0].num_entered, listed.flows[0].num_recipients, listed.flows[0].attributed_revenue) == (
        5,
        5,
        8000,
    )
    assert listed.summary().splitlines()[:2] == [
        "1 flows (page 1)",
        f"- #{mine.flow_id} Know before you go (active, before_event)",
    ]


def test_read_tools_and_the_draft_tool_over_http(seeded: Seeded, http_server: str, db: Database) -> None:
    s = seeded
    mine = seed_flow(db, s.org_a)
    theirs = seed_flow(db, s.org_b, "Theirs")

    async def main() -> None:
        async with http_client(http_server, s.read_token) as client:
            tools = {t.name: t for t in (await client.list_tools()).tools}
            assert set(tools["flow_analytics"].input_schema["properties"]) == {"flow_id", "interval"}
            assert tools["list_flows"].annotations is not None and tools["list_flows"].annotations.read_only_hint
            assert "create_flow_draft" not in tools  # a read token is not offered the write tools

            analytics = await ok(client, "flow_analytics", {"flow_id": mine.flow_id})
            assert {k: analytics["figures"][k] for k in FLOW_FIGURES} == FLOW_FIGURES
            assert [(st["figures"]["num_entered"], st["figures"]["num_recipients"]) for st in analytics["steps"]] == [
                (row[0], row[1]) for row in STEP_FIGURES
            ]
            assert analytics["time_series"] == DAILY_SERIES
            assert "not found" in await error(client, "flow_analytics", {"flow_id": theirs.flow_id})
            assert "interval" in await error(client, "flow_analytics", {"flow_id": mine.flow_id, "interval": "week"})
            refused = await client.call_tool("create_flow_draft", {"template": "welcome"})
            assert refused.is_error

        async with http_client(http_server, s.write_token) as client:
            created = await ok(client, "create_flow_draft", {"definition": NEW_FLOW})
            assert created["flow"]["status"] == "draft" and created["flow"]["trigger_type"] == "order_placed"
            assert created["definition"]["steps"][0]["subject"] == "Thanks {{ first_name }}"
            from_template = await ok(
                client, "create_flow_draft", {"template": "post_show", "definition": {"name": "After the show"}}
            )
            assert from_template["flow"]["name"] == "After the show"
            assert from_template["definition"]["trigger"] == {"type": "after_event", "offset": "PT6H", "event_ids": []}

            broken = {**NEW_FLOW, "steps": [{"type": "wait", "duration": "soon"}, {"type": "send", "body": ""}]}
            message = await error(client, "create_flow_draft", {"definition": broken})
            assert "steps[0].duration" in message and "steps[1].body" in message
            assert "definition" in await error(client, "create_flow_draft", {})

            listed = await ok(client, "list_flows", {"status": "draft"})
            assert [f["name"] for f in listed["flows"]] == ["After the show", "Thanks for VIP orders"]

    anyio.run(main)
    with db.read() as session:
        flows = list(session.scalars(select(Flow).where(Flow.organization_id == s.org_a).order_by(Flow.id)))
        audit = list(session.scalars(select(McpAuditEntry).where(McpAuditEntry.tool == "create_flow_draft")))
    # Drafts only, never activated; org B got nothing.
    assert [(f.name, f.status, f.activated_at) for f in flows[1:]] == [
        ("Thanks for VIP orders", DRAFT, None),
        ("After the show", DRAFT, None),
    ]
    assert [(e.outcome, e.key_id) for e in audit] == [
        ("ok", s.write_key_id),
        ("ok", s.write_key_id),
        ("error", s.write_key_id),
    ]
    assert audit[0].result["flow_id"] == flows[1].id and "steps[0].duration" in (audit[2].error or "")


def test_list_flows_over_stdio(seeded: Seeded, db: Database) -> None:
    theirs = seed_flow(db, seeded.org_b, "Theirs")

    async def main() -> None:
        async with stdio_client(seeded.org_b, "--read-only") as client:
            listed = await ok(client, "list_flows")
            assert [(f["id"], f["name"]) for f in listed["flows"]] == [(theirs.flow_id, "Theirs")]

    anyio.run(main)
