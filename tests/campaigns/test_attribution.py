"""Attribution scenarios with hand-computed results. Orders enter through the Partners API and the
real apply path; delivery, open and click times are set explicitly so every window is exact.

T0 = email campaign E delivered; T0 + 1 day = SMS campaign S delivered (event link + another link).

| buyer | what happened | order | credit |
|---|---|---|---|
| alice | opened E at T0+1d | A1 T0+5d $80 x2 | E |
| alice |  | A2 T0+6d $20 x1 | E |
| bob | opened E at T0+1d | B1 T0+11d+1h | none (10d01h after open) |
| carol | never opened E | C1 T0+2d | none |
| gina | only a machine open, 2 s after delivery | G1 T0+1d | none |
| ivy | opened E at T0+1d | I1 T0-1d | none (before any delivery) |
| dan | opened E at T0+2h, clicked S's event link at T0+1d+1h | D1 T0+3d $50 x1 | S (last touch across channels) |
| erin | opened E at T0+2h, S delivered later but not clicked | E1 T0+2d | none (strict last touch) |
| frank | clicked S's event link at T0+1d+1h | F1 T0+9d | none (7d23h after click) |
| hank | clicked S's other link at T0+1d+1h | H1 T0+2d | none (not the event link) |
| judy | opened E at T0+1d | J1 T0+11d (= +10d) | E (window inclusive) $10 x1 |
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from fanhub.campaigns import tracking
from fanhub.campaigns.models import Attribution, CampaignLink
from fanhub.campaigns.sending import run_campaign
from fanhub.campaigns.service import create_campaign, schedule_campaign
from fanhub.config import Settings
from fanhub.db.engine import Database
from tests.campaigns.conftest import (
    EVENT_URL,
    add_contact,
    add_event,
    analytics,
    delivery_for,
    order,
    post_orders,
    set_sent_at,
)
from tests.conftest import Tenant

T0 = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
HUMAN = "Mozilla/5.0 (Macintosh) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari"


def test_attribution_scenarios(client: TestClient, db: Database, tenant: Tenant, outbox_env: Settings) -> None:
    org = tenant.organization_id
    event_id = add_event(client, db, tenant)
    ids: dict[str, int] = {}
    for name in ("alice", "bob", "carol", "gina", "ivy", "judy"):
        ids[name] = add_contact(client, db, tenant, f"{name}@example.com", first_name=name.title())
    for name, phone in (("dan", "+19705550201"), ("erin", "+19705550202")):
        ids[name] = add_contact(client, db, tenant, f"{name}@example.com", phone, sms_opt_in=True)
    for name, phone in (("frank", "+19705550203"), ("hank", "+19705550204")):
        ids[name] = add_contact(client, db, tenant, phone=phone, email_opt_in=None, sms_opt_in=True)

    with db.write() as session:
        email = create_campaign(
            session,
            org,
            type="email",
            name="E",
            subject="New show",
            body="{{ event_name }}: {{ event_url }}",
            event_id=event_id,
        )
        sms = create_campaign(
            session,
            org,
            type="sms",
            name="S",
            body="Tickets {{ event_url }} or https://bellyupaspen.com/faq",
            event_id=event_id,
        )
        schedule_campaign(session, org, email.id)
    assert run_campaign(db, email.id)["delivered"] == 8
    set_sent_at(db, email.id, T0)
    with db.write() as session:
        schedule_campaign(session, org, sms.id)
    assert run_campaign(db, sms.id)["delivered"] == 4
    set_sent_at(db, sms.id, T0 + DAY)

    with db.read() as session:
        links = {
            link.url: link.id
            for link in session.scalars(select(CampaignLink).where(CampaignLink.campaign_id == sms.id))
        }
    assert set(links) == {EVENT_URL, "https://bellyupaspen.com/faq"}

    def opened(name: str, when: datetime, agent: str = HUMAN) -> None:
        with db.write() as session:
            tracking.record_open(session, delivery_for(db, email.id, ids[name]).id, agent, None, when)

    def clicked(name: str, url: str, when: datetime) -> None:
        with db.write() as session:
            assert tracking.record_click(session, delivery_for(db, sms.id, ids[name]).id, links[url], HUMAN, None, when)

    for name in ("alice", "bob", "ivy", "judy"):
        opened(name, T0 + DAY)
    opened("gina", T0 + timedelta(seconds=2), agent=HUMAN)  # within seconds of delivery: a machine
    opened("dan", T0 + 2 * HOUR)
    opened("erin", T0 + 2 * HOUR)
    clicked("dan", EVENT_URL, T0 + DAY + HOUR)
    clicked("frank", EVENT_URL, T0 + DAY + HOUR)
    clicked("hank", "https://bellyupaspen.com/faq", T0 + DAY + HOUR)

    post_orders(
        client,
        db,
        tenant,
        order("A1", "alice@example.com", T0 + 5 * DAY, total=80.0, quantity=2),
        order("A2", "alice@example.com", T0 + 6 * DAY, total=20.0),
        order("B1", "bob@example.com", T0 + 11 * DAY + HOUR),
        order("C1", "carol@example.com", T0 + 2 * DAY),
        order("G1", "gina@example.com", T0 + DAY),
        order("I1", "ivy@example.com", T0 - DAY),
        order("D1", "dan@example.com", T0 + 3 * DAY, total=50.0),
        order("E1", "erin@example.com", T0 + 2 * DAY),
        order("F1", None, T0 + 9 * DAY, phone="+19705550203"),
        order("H1", None, T0 + 2 * DAY, phone="+19705550204"),
        order("J1", "judy@example.com", T0 + 11 * DAY, total=10.0),
    )

    with db.read() as session:
        stored = {a.order_id: a for a in session.scalars(select(Attribution))}
        assert len(stored) == 4
        rules = sorted((a.campaign_id, a.rule, a.window_days, a.revenue_cents, a.tickets) for a in stored.values())
    assert rules == sorted(
        [
            (email.id, "email_open", 10, 8000, 2),
            (email.id, "email_open", 10, 2000, 1),
            (email.id, "email_open", 10, 1000, 1),
            (sms.id, "sms_click", 7, 5000, 1),
        ]
    )
    rows = analytics(client, tenant)
    assert (rows[email.id]["attributed_tickets_sold"], rows[email.id]["attributed_revenue"]) == (4, 11000)
    assert (rows[sms.id]["attributed_tickets_sold"], rows[sms.id]["attributed_revenue"]) == (1, 5000)
    assert rows[email.id]["num_opens"] == 6  # alice, bob, ivy, judy, dan, erin; gina's was a machine
    assert rows[sms.id]["num_links_clicked"] == 3

    # Refunds adjust; cancellation zeroes; the attribution itself stays.
    post_orders(
        client,
        db,
        tenant,
        order("A1", "alice@example.com", T0 + 5 * DAY, total=80.0, quantity=2, status="refunded", refunded_amount=30.0),
    )
    rows = analytics(client, tenant)
    assert (rows[email.id]["attributed_tickets_sold"], rows[email.id]["attributed_revenue"]) == (4, 8000)
    post_orders(client, db, tenant, order("A2", "alice@example.com", T0 + 6 * DAY, total=20.0, status="canceled"))
    rows = analytics(client, tenant)
    assert (rows[email.id]["attributed_tickets_sold"], rows[email.id]["attributed_revenue"]) == (3, 6000)

    # History is not rewritten: bob opens again now and his order is re-synced with a change;
    # it was not attributed on arrival and is not attributed now.
    opened("bob", T0 + 11 * DAY)
    post_orders(client, db, tenant, order("B1", "bob@example.com", T0 + 11 * DAY + HOUR, quantity=3))
    with db.read() as session:
        assert session.scalar(select(Attribution).where(Attribution.contact_id == ids["bob"])) is None

    detail = client.get(f"/v1/partners/campaigns/{email.id}/analytics", headers=tenant.headers).json()["response"]
    assert detail["attributed_orders"] == 3
    series = detail["series"]["attributed_orders"]
    assert [(b["at"], b["count"], b["revenue"]) for b in series] == [
        ("2026-01-15T00:00:00Z", 1, 5000),
        ("2026-01-16T00:00:00Z", 1, 0),
        ("2026-01-21T00:00:00Z", 1, 1000),
    ]
