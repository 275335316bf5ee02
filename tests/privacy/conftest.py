"""Data-rights fixtures: one person (Zelda) known through every path fanhub has — a Partners API
contact with tags, a list, genres and an interest, an order with buyer fields and a ticked opt-in,
consent changes, an email campaign delivered with an open and a click (with IPs and user agents),
a bounce and a form submission — beside another fan who must be left alone; and the figures
(campaign analytics, sales) that an erasure must not change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from fanhub.audience.consent import SMS, ConsentChange
from fanhub.audience.service import change_consent, create_list, create_tag
from fanhub.campaigns import tracking
from fanhub.campaigns.models import CampaignLink
from fanhub.campaigns.sending import run_campaign
from fanhub.campaigns.service import create_campaign, schedule_campaign
from fanhub.catalog import reports
from fanhub.config import Settings
from fanhub.db.base import Base
from fanhub.db.engine import Database
from fanhub.deliverability.models import Bounce
from tests.campaigns.conftest import add_event, analytics, delivery_for, order, outbox_env, post_orders  # noqa: F401
from tests.conftest import Tenant, post_and_apply

EMAIL = "zelda.quartz@example.com"
PHONE = "+19705550199"
FIRST, LAST = "Zelda", "Quartz"
SOURCE_EMAIL = "zq.tickets@example.com"  # what a ticketing partner knew her by
IP = "203.0.113.77"
AGENT = "Mozilla/5.0 (ZeldaPhone; Quartzbrowser/9.1) AppleWebKit/605.1.15 Safari"
# Strings no table may hold after her erasure (outside the suppression list's hash).
NEEDLES = (EMAIL, SOURCE_EMAIL, PHONE, PHONE[2:], FIRST, LAST, IP, "Quartzbrowser", "Galena Street 9")
CUSTOMER = {"email": EMAIL, "phone": PHONE, "first_name": FIRST, "last_name": LAST, "address": "Galena Street 9"}
OTHER = "other.fan@example.com"
T0 = datetime(2026, 3, 1, 18, 0, tzinfo=UTC)
LINK = "https://bellyupaspen.com/lineup"


@dataclass
class Person:
    tenant: Tenant
    contact_id: int
    other_id: int
    event_id: int
    campaign_id: int
    list_id: int

    @property
    def org(self) -> int:
        return self.tenant.organization_id


def _contact_id(client: TestClient, tenant: Tenant, email: str) -> int:
    found = client.get("/v1/partners/contacts", params={"email": email}, headers=tenant.headers).json()["response"]
    return int(found[0]["id"])


def build_person(client: TestClient, db: Database, tenant: Tenant) -> Person:
    org = tenant.organization_id
    event_id = add_event(client, db, tenant)
    with db.write() as session:
        create_tag(session, org, "VIP")
        list_id = create_list(session, org, "Newsletter").id
    contact = {
        "email": EMAIL,
        "phone": PHONE,
        "first_name": FIRST,
        "last_name": LAST,
        "list_id": list_id,
        "tags": ["VIP"],
        "genres": ["Rock"],
    }
    body = {
        "contact": contact,
        "opt_ins": {"email": True, "sms": True},
        "interested_in_event": {"event_id": "777", "ticketer": "eventbrite"},
    }
    post_and_apply(client, db, tenant, "contact", body)
    post_and_apply(client, db, tenant, "contact", {"contact": {"email": OTHER}, "opt_ins": {"email": True}})
    post_orders(
        client,
        db,
        tenant,
        order(
            "Z1", EMAIL, T0, total=80.0, quantity=2, customer=CUSTOMER, marketing_opt_ins={"email": True, "sms": None}
        ),
        order("O1", OTHER, T0, total=25.0),
    )
    box_office = _second_partner(db, tenant, "boxoffice")
    post_orders(client, db, box_office, order("B1", SOURCE_EMAIL, T0, phone=PHONE, total=30.0))
    contact_id = _contact_id(client, tenant, EMAIL)
    other_id = _contact_id(client, tenant, OTHER)
    with db.write() as session:
        change = ConsentChange(SMS, False, "staff", "staff:1", T0 + timedelta(hours=1), "false", "staff:1")
        change_consent(session, org, contact_id, change)
    campaign_id = _send_campaign(db, org, event_id)
    _track(db, campaign_id, contact_id, other_id)
    with db.write() as session:
        for number, (address, key) in enumerate(((EMAIL, "zelda"), (OTHER, "other"))):
            session.add(
                Bounce(
                    organization_id=org,
                    address=address,
                    kind="soft",
                    reason="mailbox_full",
                    status="4.2.2",
                    diagnostic=f"452 4.2.2 <{address}>: mailbox full",
                    source="dsn",
                    campaign_id=campaign_id,
                    delivery_id=delivery_for(db, campaign_id, contact_id if key == "zelda" else other_id).id,
                    matched_by="verp",
                    replay_key=f"test:{number}",
                    occurred_at=T0 + timedelta(days=1),
                )
            )
    return Person(tenant, contact_id, other_id, event_id, campaign_id, list_id)


def _second_partner(db: Database, tenant: Tenant, partner: str) -> Tenant:
    """Another partner's key on the same organization: its records are another source."""
    from fanhub.auth.service import create_key

    with db.write() as session:
        key, token = create_key(session, tenant.organization_id, partner)
    return Tenant(tenant.organization_id, key.id, token)


def _send_campaign(db: Database, org: int, event_id: int) -> int:
    with db.write() as session:
        campaign = create_campaign(
            session, org, type="email", name="Spring", subject="New show", body=f"Tickets: {LINK}", event_id=event_id
        )
        schedule_campaign(session, org, campaign.id)
        campaign_id = campaign.id
    assert run_campaign(db, campaign_id)["delivered"] == 2
    return campaign_id


def _track(db: Database, campaign_id: int, contact_id: int, other_id: int) -> None:
    with db.read() as session:
        link_id = session.scalar(
            select(CampaignLink.id).where(CampaignLink.campaign_id == campaign_id, CampaignLink.url == LINK)
        )
    assert link_id is not None
    later = datetime.now(UTC) + timedelta(minutes=5)
    for cid, ip, agent in ((contact_id, IP, AGENT), (other_id, "198.51.100.5", "Mozilla/5.0 Other")):
        delivery_id = delivery_for(db, campaign_id, cid).id
        with db.write() as session:
            tracking.record_open(session, delivery_id, agent, ip, later)
            assert tracking.record_click(session, delivery_id, link_id, agent, ip, later + timedelta(seconds=30))


@pytest.fixture
def person(client: TestClient, db: Database, tenant: Tenant, outbox_env: Settings) -> Person:  # noqa: F811
    return build_person(client, db, tenant)


def figures(client: TestClient, db: Database, person: Person) -> dict[str, Any]:
    """Every figure an erasure must leave alone: campaign analytics and detail, sales by event and in total."""
    from fanhub.campaigns.analytics import campaign_detail

    with db.read() as session:
        detail = campaign_detail(session, person.org, person.campaign_id)
        sales = reports.event_sales(session, person.org, person.event_id)
        totals = reports.sales_totals(session, person.org)
        by_day = reports.sales_report(session, person.org, group_by="day")
    return {
        "analytics": analytics(client, person.tenant, type="email"),
        "detail": detail,
        "event_sales": sales,
        "totals": totals,
        "by_day": by_day,
    }


def table_hits(db: Database, needles: tuple[str, ...], skip: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """{table: [needle, ...]} for every table holding any needle anywhere in any column."""
    hits: dict[str, list[str]] = {}
    with db.read() as session:
        for table in Base.metadata.sorted_tables:
            if table.name in skip:
                continue
            found = _needles_in(session.execute(select(table)).all(), needles)
            if found:
                hits[table.name] = found
    return hits


def _needles_in(rows: list[Any], needles: tuple[str, ...]) -> list[str]:
    text = "\n".join(repr(tuple(row)) for row in rows).lower()
    return sorted({n for n in needles if n.lower() in text})
