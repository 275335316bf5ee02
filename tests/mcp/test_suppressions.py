"""MCP and deliverability: `list_suppressions` (paged, filtered by reason, scoped to the token's
organization) and the bounce and complaint figures of `campaign_analytics`, with the SDK's own client
over Streamable HTTP and over stdio (a real `fanhub mcp` subprocess).

The campaign is delivered to john, zoe and mary, then bounces go through `deliverability.apply` as
every route's reports do: john hard-bounces (suppressed at once), zoe soft-bounces once (below the
limit of 3: not suppressed), mary complains (suppressed). Four addresses were left out when it
started (`suppressed`, as the scheduler counts it). So hard 1, soft 1, complaints 1, suppressed 4;
both bounces turn a delivery into undelivered (2), a complaint does not: delivered 3 - 2 = 1.
"""

from __future__ import annotations

from datetime import timedelta
from typing import get_args

import anyio
from mcp_types import TextContent
from tests.mcp.conftest import http_client, stdio_client
from tests.mcp.scenario import error, ok
from tests.mcp.seed import Seeded

from fanhub.audience import suppression
from fanhub.auth.actor import Actor
from fanhub.campaigns.models import Campaign, CampaignStats, Delivery
from fanhub.db.base import utcnow
from fanhub.db.engine import Database
from fanhub.deliverability.apply import apply_reports
from fanhub.deliverability.reports import BounceReport
from fanhub.mcp.tools.suppressions import Reason, list_suppressions

READ = frozenset({"mcp:read"})


def _bounced_campaign(db: Database, s: Seeded) -> int:
    sent = utcnow() - timedelta(days=1)
    with db.write() as session:
        campaign = Campaign(
            organization_id=s.org_a,
            type="email",
            name="Spring",
            subject="Spring shows",
            body="<p>Come</p>",
            audience={},
            status="sent",
            delivered_at=sent,
        )
        session.add(campaign)
        session.flush()
        session.add(
            CampaignStats(campaign_id=campaign.id, organization_id=s.org_a, recipients=3, delivered=3, suppressed=4)
        )
        for contact, address in (
            (s.john, "john@example.com"),
            (s.zoe, "zoe@example.com"),
            (s.mary, "mary@example.com"),
        ):
            session.add(
                Delivery(
                    organization_id=s.org_a,
                    campaign_id=campaign.id,
                    contact_id=contact,
                    channel="email",
                    address=address,
                    status="sent",
                    sent_at=sent,
                )
            )
        campaign_id = campaign.id
    reports = [
        (BounceReport(kind="hard", reason="user_unknown", recipient="john@example.com", status="5.1.1"), "r1"),
        (BounceReport(kind="soft", reason="mailbox_full", recipient="zoe@example.com", status="4.2.2"), "r2"),
        (BounceReport(kind="complaint", reason="abuse", recipient="mary@example.com", source="arf"), "r3"),
    ]
    tally = apply_reports(db, reports)
    assert (tally.hard, tally.soft, tally.complaints) == (1, 1, 1)
    return campaign_id


def _more_suppressions(db: Database, s: Seeded) -> None:
    """Org A gets 30 manual entries on top of the two the bounces made; org B one of its own."""
    with db.write() as session:
        for i in range(30):
            suppression.suppress(session, s.org_a, f"m{i:02d}@example.com", suppression.MANUAL, "staff:1")
        suppression.suppress(session, s.org_b, "olga@example.com", suppression.COMPLAINT, "bounce:arf")


def test_the_reason_argument_offers_exactly_the_lists_reasons() -> None:
    assert sorted(get_args(Reason)) == sorted(suppression.REASONS)


def test_list_suppressions_as_a_plain_function(seeded: Seeded, db: Database) -> None:
    _bounced_campaign(db, seeded)
    _more_suppressions(db, seeded)
    with db.read() as session:
        mine = list_suppressions(session, Actor.mcp(seeded.org_a, None, READ), page_size=10)
        theirs = list_suppressions(session, Actor.mcp(seeded.org_b, None, READ))
    assert [e.address for e in mine.suppressions] == [f"m{i:02d}@example.com" for i in range(29, 19, -1)]
    assert mine.paging.has_more and mine.paging.next_page == 2
    assert [(e.address, e.reason) for e in theirs.suppressions] == [("olga@example.com", "complaint")]
    assert mine.summary().splitlines()[:2] == [
        "10 suppressions (page 1, more: page=2)",
        "- m29@example.com (manual, staff:1)",
    ]


def test_list_suppressions_and_bounce_figures_over_http(seeded: Seeded, http_server: str, db: Database) -> None:
    s = seeded
    campaign_id = _bounced_campaign(db, s)
    _more_suppressions(db, s)

    async def main() -> None:
        async with http_client(http_server, s.read_token) as client:
            tools = {t.name: t for t in (await client.list_tools()).tools}
            schema = tools["list_suppressions"].input_schema["properties"]
            assert set(schema) == {"reason", "page", "page_size"}
            assert tools["list_suppressions"].annotations is not None
            assert tools["list_suppressions"].annotations.read_only_hint

            bounced = await ok(client, "list_suppressions", {"reason": "hard_bounce"})
            assert [(e["address"], e["reason"], e["source"]) for e in bounced["suppressions"]] == [
                ("john@example.com", "hard_bounce", "bounce:dsn")
            ]
            complained = await ok(client, "list_suppressions", {"reason": "complaint"})
            assert [e["address"] for e in complained["suppressions"]] == ["mary@example.com"]  # not org B's olga
            assert (await ok(client, "list_suppressions", {"reason": "soft_bounce"}))["suppressions"] == []

            seen: list[str] = []
            page = 1
            while True:
                listed = await ok(client, "list_suppressions", {"page": page, "page_size": 25})
                seen += [e["address"] for e in listed["suppressions"]]
                if not listed["paging"]["has_more"]:
                    break
                page = listed["paging"]["next_page"]
            assert page == 2 and len(seen) == 32 == len(set(seen))
            assert seen[-2:] == ["mary@example.com", "john@example.com"]  # newest first: they came first
            assert listed["suppressions"][-1]["created_at"].endswith("Z")

            assert "reason" in await error(client, "list_suppressions", {"reason": "bounced"})
            assert "page_size" in await error(client, "list_suppressions", {"page_size": 500})

            result = await client.call_tool("campaign_analytics", {"campaign_id": campaign_id})
            assert not result.is_error and isinstance(result.structured_content, dict)
            figures = result.structured_content["figures"]
            assert {k: figures[k] for k in ("num_hard_bounces", "num_soft_bounces", "num_complaints")} == {
                "num_hard_bounces": 1,
                "num_soft_bounces": 1,
                "num_complaints": 1,
            }
            assert (figures["num_suppressed"], figures["num_undelivered"], figures["num_delivered"]) == (4, 2, 1)
            summary = "".join(block.text for block in result.content if isinstance(block, TextContent))
            assert "hard_bounces 1, soft_bounces 1, complaints 1, suppressed 4" in summary

        async with http_client(http_server, s.other_org_token) as other:
            listed = await ok(other, "list_suppressions")
            assert [e["address"] for e in listed["suppressions"]] == ["olga@example.com"]

    anyio.run(main)


def test_list_suppressions_over_stdio_read_only(seeded: Seeded, db: Database) -> None:
    s = seeded
    _more_suppressions(db, s)

    async def main() -> None:
        async with stdio_client(s.org_b, "--read-only") as client:
            listed = await ok(client, "list_suppressions", {"reason": "complaint"})
            assert [(e["address"], e["source"]) for e in listed["suppressions"]] == [("olga@example.com", "bounce:arf")]
            assert (await ok(client, "list_suppressions", {"reason": "manual"}))["suppressions"] == []

    anyio.run(main)
