"""MCP tools called directly, as plain functions with a session (or a `WriteCall`) and an `Actor`:
no server, no transport, no client."""

from __future__ import annotations

from typing import Literal

import pytest
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import select
from tests.mcp.scenario import READ_TOOLS, WRITE_TOOLS
from tests.mcp.seed import Seeded

from fanhub.auth.actor import Actor
from fanhub.db.engine import Database
from fanhub.errors import InvalidInput, NotFound
from fanhub.mcp import schemas as s
from fanhub.mcp.models import McpAuditEntry
from fanhub.mcp.server import stdio_actor, tool_functions
from fanhub.mcp.tooling import readable_validation_error
from fanhub.mcp.tools.base import WriteCall, check_scope
from fanhub.mcp.tools.campaigns import list_campaigns
from fanhub.mcp.tools.events import get_event_details, list_events
from fanhub.mcp.tools.lookups import list_orders, list_tags
from fanhub.mcp.tools.writes import create_campaign_draft, tag_contacts

READ = frozenset({"mcp:read"})
WRITE = frozenset({"mcp:read", "mcp:write"})


def test_read_tools_take_a_session_and_an_actor(seeded: Seeded, db: Database) -> None:
    mine, theirs = Actor.mcp(seeded.org_a, None, READ), Actor.mcp(seeded.org_b, None, READ)
    with db.read() as session:
        listed = list_events(session, mine, page_size=2)
        assert [e.id for e in listed.events] == [seeded.e1, seeded.e2]
        assert listed.paging.next_page == 2
        assert get_event_details(session, mine, seeded.e2).tickets_sold == 6
        # Another organization's event is simply not found.
        with pytest.raises(NotFound):
            get_event_details(session, theirs, seeded.e2)
        assert [e.id for e in list_events(session, theirs).events] == [seeded.x1]


def test_write_tools_take_a_write_call_that_audits(seeded: Seeded, db: Database) -> None:
    key_actor = Actor.mcp(seeded.org_a, seeded.write_key_id, WRITE)
    draft = create_campaign_draft(
        WriteCall(db, key_actor, "create_campaign_draft"), "sms", "Direct", "hi", s.Segment.model_validate({})
    )
    # The campaign is signed with the actor's audit string, once prefixed.
    assert draft.campaign.created_by == f"mcp:key:{seeded.write_key_id}"
    call = WriteCall(db, stdio_actor(seeded.org_a), "tag_contacts")
    assert tag_contacts(call, [seeded.mary, seeded.john, seeded.john], "VIP").changed == 2
    with pytest.raises(InvalidInput):
        tag_contacts(call, [seeded.olga], "VIP")
    with db.read() as session:
        entries = list(session.scalars(select(McpAuditEntry).order_by(McpAuditEntry.id)))
    assert [(e.tool, e.outcome, e.key_id, e.transport) for e in entries] == [
        ("create_campaign_draft", "ok", seeded.write_key_id, "http"),
        ("tag_contacts", "ok", None, "stdio"),
        ("tag_contacts", "error", None, "stdio"),
    ]
    assert entries[1].arguments == {"contact_ids": sorted([seeded.john, seeded.mary]), "tag": "VIP"}
    with db.read() as session:
        assert [c.name for c in list_campaigns(session, key_actor, type="sms").campaigns] == ["Direct"]


def test_every_tool_is_marked_and_scoped() -> None:
    specs = {spec.name: spec for spec, _ in tool_functions()}
    assert {n for n, spec in specs.items() if spec.kind == "read"} == READ_TOOLS
    assert {n for n, spec in specs.items() if spec.kind == "write"} == WRITE_TOOLS
    reader = Actor.mcp(1, 7, READ)
    check_scope(reader, specs["list_events"])
    with pytest.raises(ToolError, match="mcp:write"):
        check_scope(reader, specs["tag_contacts"])


def test_new_lookups_are_plain_functions_too(seeded: Seeded, db: Database) -> None:
    mine, theirs = Actor.mcp(seeded.org_a, None, READ), Actor.mcp(seeded.org_b, None, READ)
    with db.read() as session:
        assert [o.external_id for o in list_orders(session, mine, event_id=seeded.e2).orders] == ["B2", "B1"]
        assert list_orders(session, theirs).orders[0].external_id == "X1"
        with pytest.raises(NotFound):
            list_orders(session, theirs, event_id=seeded.e2)
        with pytest.raises(ToolError, match="'source'"):
            list_orders(session, theirs, source="eventbrite")  # organization B has no Eventbrite records
        assert [t.name for t in list_tags(session, mine).tags] == ["VIP"]
        assert list_tags(session, theirs).tags == []


def test_argument_errors_read_as_one_sentence() -> None:
    class Arguments(BaseModel):
        page_size: int = Field(le=100)
        status: Literal["live", "canceled"]

    with pytest.raises(ValidationError) as caught:
        Arguments.model_validate({"page_size": 500, "status": "sold-out"})
    assert readable_validation_error(caught.value) == (
        "invalid argument 'page_size': must be at most 100 (got 500); "
        "invalid argument 'status': must be 'live' or 'canceled' (got 'sold-out')."
    )
