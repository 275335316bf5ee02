"""Engagement ratings and sunset on hand-built data (deliveries, opens, clicks and orders written
directly, time moved through `now`): ratings hand-computed from the rule in
deliverability/engagement.py, the worker's streams picking up a new open, click, order and delivery,
`min_rating` segments, the API field and filter, the CLI, and sunset's positive and negative cases
(it suppresses, it never changes consent)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from fanhub.audience import suppression
from fanhub.audience.models import SUBSCRIBED, UNSUBSCRIBED, ConsentEvent, Contact
from fanhub.audience.segments import count_segment, validate_segment
from fanhub.campaigns import tracking
from fanhub.campaigns.models import DELIVERED, Campaign, CampaignLink, CampaignStats, Delivery
from fanhub.catalog.models import Order
from fanhub.cli import app
from fanhub.db.engine import Database
from fanhub.deliverability import engagement, sunset
from fanhub.deliverability.engagement import rating, recompute_changes, recompute_organization
from fanhub.errors import InvalidInput
from fanhub.organizations.audit import AuditEntry
from fanhub.organizations.models import Organization
from fanhub.organizations.service import update_sunset_settings
from tests.conftest import Tenant, make_tenant

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
HUMAN = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0"
APPLE_MPP = "Mozilla/5.0"  # Apple Mail Privacy Protection's prefetch: a machine open


def _contact(
    db: Database, org: int, email: str | None, phone: str | None = None, email_status: str = SUBSCRIBED
) -> int:
    with db.write() as session:
        contact = Contact(
            organization_id=org,
            email=email,
            phone=phone,
            email_status=email_status,
            sms_status=SUBSCRIBED if phone else "unknown",
        )
        session.add(contact)
        session.flush()
        return contact.id


def _send(db: Database, org: int, contact_ids: list[int], when: datetime, channel: str = "email") -> dict[int, int]:
    """One delivered campaign message to each contact at `when`; {contact: delivery id}."""
    with db.write() as session:
        campaign = Campaign(organization_id=org, type=channel, name=f"c {when.isoformat()}", status="sent")
        session.add(campaign)
        session.flush()
        session.add(CampaignStats(campaign_id=campaign.id, organization_id=org, started_at=when, finished_at=when))
        session.add(CampaignLink(campaign_id=campaign.id, url="https://venue.example/show"))
        ids: dict[int, int] = {}
        for cid in contact_ids:
            address = session.get(Contact, cid)
            assert address is not None
            delivery = Delivery(
                organization_id=org,
                campaign_id=campaign.id,
                contact_id=cid,
                channel=channel,
                address=(address.email if channel == "email" else address.phone) or "",
                status=DELIVERED,
                sent_at=when,
            )
            session.add(delivery)
            session.flush()
            ids[cid] = delivery.id
        return ids


def _series(
    db: Database, org: int, contact_ids: list[int], count: int, first: datetime, every: timedelta
) -> list[dict[int, int]]:
    return [_send(db, org, contact_ids, first + i * every) for i in range(count)]


def _open(db: Database, delivery_id: int, when: datetime, agent: str = HUMAN) -> None:
    with db.write() as session:
        assert tracking.record_open(session, delivery_id, agent, "203.0.113.9", when) is not None


def _click(db: Database, delivery_id: int, when: datetime) -> None:
    with db.write() as session:
        delivery = session.get(Delivery, delivery_id)
        assert delivery is not None
        link = session.scalar(select(CampaignLink.id).where(CampaignLink.campaign_id == delivery.campaign_id))
        assert link is not None
        assert tracking.record_click(session, delivery_id, link, HUMAN, "203.0.113.9", when) is not None


def _order(db: Database, org: int, contact_id: int, when: datetime, status: str = "completed") -> None:
    with db.write() as session:
        n = session.scalar(select(func.count()).select_from(Order)) or 0
        session.add(
            Order(
                organization_id=org,
                source="test",
                external_id=f"o{n + 1}",
                event_external_id="ev1",
                contact_id=contact_id,
                status=status,
                total_cents=5000,
                tickets=2,
                placed_at=when,
            )
        )


def _ratings(db: Database, *contact_ids: int) -> list[tuple[int, int]]:
    with db.read() as session:
        rows = dict(
            (cid, (e, s))
            for cid, e, s in session.execute(
                select(Contact.id, Contact.email_rating, Contact.sms_rating).where(Contact.id.in_(contact_ids))
            )
        )
    return [rows[cid] for cid in contact_ids]


def test_the_rule_on_its_worked_examples() -> None:
    # (received, points, bought) -> stars, each computed by hand from e = (P + 1) / (R + 2).
    assert rating(0, 0, False) == 3  # 1/2: nothing received yet is neutral
    assert rating(9, 0, False) == 1  # 1/11 < 0.1
    assert rating(8, 0, False) == 2  # 1/10 = 0.1 is not below 0.1
    assert rating(3, 0, False) == 2  # 1/5 = 0.2
    assert rating(2, 0, False) == 3  # 1/4 = 0.25 is not below 0.25
    assert rating(10, 1, False) == 2  # 2/12
    assert rating(10, 3, False) == 3  # 4/12
    assert rating(10, 6, False) == 3  # 7/12 = 0.583... < 0.6
    assert rating(10, 10, False) == 4  # 11/12
    assert rating(10, 2 * 3 + 3, False) == 4  # 2 clicks, 3 other opens: 10/12
    assert rating(10, 4 * 3, False) == 5  # 4 clicks: 13/12
    assert rating(0, 0, True) == 4  # a purchase adds a star
    assert rating(10, 12, True) == 5  # never above 5
    assert rating(20, 0, True) == 2  # a buyer who never opens still drops


def test_ratings_of_hand_built_contacts_and_the_organization_recompute(db: Database, tenant: Tenant) -> None:
    org = tenant.organization_id
    silent, opener, clicker, fresh, buyer, machine_only, old = (
        _contact(db, org, f"{name}@fans.example", "+1720555010" + str(i) if name == "buyer" else None)
        for i, name in enumerate(("silent", "opener", "clicker", "fresh", "buyer", "machine", "old"))
    )
    recent = [silent, opener, clicker, machine_only]
    sends = _series(db, org, recent, 10, NOW - timedelta(days=60), timedelta(days=5))
    for i in range(3):  # 3 human opens of 10
        _open(db, sends[i][opener], NOW - timedelta(days=60 - 5 * i) + timedelta(hours=2))
    for i in range(4):  # 4 clicks of 10 (a click counts its open too, but scores 3 once)
        _click(db, sends[i][clicker], NOW - timedelta(days=60 - 5 * i) + timedelta(hours=1))
    for i in range(10):  # only machine opens: they count nothing
        _open(db, sends[i][machine_only], NOW - timedelta(days=60 - 5 * i) + timedelta(seconds=1), APPLE_MPP)
    # 10 unopened emails more than 90 days ago: outside the window, so nothing received.
    _series(db, org, [old], 10, NOW - timedelta(days=200), timedelta(days=5))
    # The buyer: 4 SMS with one click, no email, and an order 30 days ago.
    sms = [_send(db, org, [buyer], NOW - timedelta(days=40 - i), "sms") for i in range(4)]
    _click(db, sms[0][buyer], NOW - timedelta(days=39))
    _order(db, org, buyer, NOW - timedelta(days=30))
    _order(db, org, old, NOW - timedelta(days=30), status="refunded")  # a refund is no purchase

    result = recompute_organization(db, org, NOW, batch=3)  # several batches of 3
    assert _ratings(db, silent, opener, clicker, fresh, buyer, machine_only, old) == [
        (1, 3),  # 1/12 → 1; no SMS → neutral
        (3, 3),  # (3 + 1)/12 → 3
        (5, 3),  # (12 + 1)/12 → 5
        (3, 3),
        (4, 5),  # email nothing + purchase: 3 + 1; SMS (3 + 1)/6 = 0.67 → 4, + 1
        (1, 3),  # machine opens excluded: 1/12
        (3, 3),
    ]
    assert result["organization_id"] == org and result["contacts"] == 7
    assert result["changed"] == 4  # silent, clicker, buyer and machine_only left the default 3
    assert result["email_ratings"] == {"1": 2, "2": 0, "3": 3, "4": 1, "5": 1}
    assert result["sms_ratings"] == {"1": 0, "2": 0, "3": 6, "4": 0, "5": 1}
    # Recomputing again changes nothing; 120 days later every message and the order are older than
    # the window: everyone is back to 3.
    assert recompute_organization(db, org, NOW)["changed"] == 0
    later = recompute_organization(db, org, NOW + timedelta(days=120))
    assert later["email_ratings"] == {"1": 0, "2": 0, "3": 7, "4": 0, "5": 0}


def test_new_opens_clicks_orders_and_deliveries_reach_the_rating_through_the_worker_streams(
    db: Database, tenant: Tenant
) -> None:
    org = tenant.organization_id
    fan = _contact(db, org, "fan@fans.example")
    other = _contact(db, org, "other@fans.example")
    # What exists when the streams start is the sweep's: the first call only places them at the present.
    old, buyer = _contact(db, org, "old@fans.example"), _contact(db, org, "buyer@fans.example")
    _series(db, org, [old], 3, NOW - timedelta(days=40), timedelta(days=1))  # read, they would make it 2
    _order(db, org, buyer, NOW - timedelta(days=40))  # read, it would make it 4
    assert recompute_changes(db, NOW - timedelta(days=31)) == {"opens": 0, "clicks": 0, "orders": 0, "deliveries": 0}
    assert _ratings(db, old, buyer) == [(3, 3), (3, 3)]
    sends = _series(db, org, [fan, other], 8, NOW - timedelta(days=30), timedelta(days=3))
    read = recompute_changes(db, NOW)
    assert read == {"opens": 0, "clicks": 0, "orders": 0, "deliveries": 16}
    assert _ratings(db, fan, other) == [(2, 3), (2, 3)]  # 1/10
    assert recompute_changes(db, NOW) == {"opens": 0, "clicks": 0, "orders": 0, "deliveries": 0}

    _open(db, sends[0][fan], NOW - timedelta(days=29))
    assert recompute_changes(db, NOW)["opens"] == 1
    assert _ratings(db, fan, other) == [(2, 3), (2, 3)]  # 2/10: still 2
    _click(db, sends[1][fan], NOW - timedelta(days=26))
    assert recompute_changes(db, NOW)["clicks"] == 1
    assert _ratings(db, fan, other) == [(3, 3), (2, 3)]  # (1 + 3 + 1)/10 = 0.5
    _order(db, org, fan, NOW - timedelta(days=1))
    assert recompute_changes(db, NOW)["orders"] == 1
    assert _ratings(db, fan, other) == [(4, 4), (2, 3)]  # a purchase: + 1 on both channels

    # 12 more unopened emails to `other`: read in batches of 5 (bounded), each moving the checkpoint.
    _series(db, org, [other], 12, NOW - timedelta(hours=12), timedelta(minutes=30))
    batches = [recompute_changes(db, NOW, limit=5)["deliveries"] for _ in range(4)]
    assert batches == [5, 5, 2, 0]
    assert _ratings(db, other) == [(1, 3)]  # 1/22
    # A delivery younger than the lag is left for the next turn, then read.
    _send(db, org, [fan], NOW - timedelta(seconds=10))
    assert recompute_changes(db, NOW)["deliveries"] == 0
    assert recompute_changes(db, NOW + timedelta(minutes=2))["deliveries"] == 1
    with db.read() as session:
        marks = {m.name: m.last_id for m in session.scalars(select(engagement.EngagementCheckpoint))}
    assert set(marks) == {"opens", "clicks", "orders", "deliveries"}
    assert _ratings(db, old, buyer) == [(3, 3), (3, 3)]  # left to the sweep
    assert engagement.sweep_step(db, NOW) == 4
    assert _ratings(db, old, buyer) == [(2, 3), (4, 4)]


def test_the_daily_sweep_catches_messages_leaving_the_window(db: Database, tenant: Tenant) -> None:
    org = tenant.organization_id
    fan = _contact(db, org, "fan@fans.example")
    _series(db, org, [fan], 9, NOW - timedelta(days=80), timedelta(days=1))
    assert engagement.sweep_step(db, NOW) == 1
    assert _ratings(db, fan) == [(1, 3)]
    # Within the day nothing runs; a day later the nine emails are older than 90 days.
    assert engagement.sweep_step(db, NOW + timedelta(hours=3)) == 0
    assert engagement.sweep_step(db, NOW + timedelta(days=30)) == 1
    assert _ratings(db, fan) == [(3, 3)]


def test_min_rating_segments_count_on_the_segments_channel(db: Database, tenant: Tenant) -> None:
    org = tenant.organization_id
    ratings = [(1, 5), (2, 4), (3, 3), (4, 2), (5, 1)]
    ids = [_contact(db, org, f"f{i}@fans.example", f"+1720555020{i}") for i in range(5)]
    _contact(db, org, "gone@fans.example", email_status=UNSUBSCRIBED)  # rated 3, not subscribed
    with db.write() as session:
        for cid, (email, sms) in zip(ids, ratings, strict=True):
            row = session.get(Contact, cid)
            assert row is not None
            row.email_rating, row.sms_rating = email, sms
        suppression.suppress(session, org, "f4@fans.example", suppression.MANUAL, "test")
    with db.read() as session:
        assert count_segment(session, org, {"min_rating": 3}, "email") == 2  # 3 and 4 stars; 5 is suppressed
        assert count_segment(session, org, {"min_rating": 3}, "sms") == 3  # 5, 4 and 3 stars
        assert count_segment(session, org, {"min_rating": 1}, "email") == 4
        assert count_segment(session, org, {"min_rating": 5, "tags": []}, "sms") == 1
        assert count_segment(session, org, {}, "sms") == 5
    for bad in (0, 6, "3", True, [3], 2.5):
        with pytest.raises(InvalidInput) as refused:
            validate_segment({"min_rating": bad})
        assert refused.value.errors[0]["field"] == "audience.min_rating"
    assert validate_segment({"min_rating": 4, "tags": ["VIP"]}) == {"min_rating": 4, "tags": ["VIP"]}


def _sunset_org(db: Database, tenant: Tenant, *, enabled: bool = True) -> int:
    with db.write() as session:
        update_sunset_settings(session, tenant.organization_id, enabled=enabled)
    return tenant.organization_id


def _ledger(db: Database) -> list[tuple[int, str, str]]:
    with db.read() as session:
        return list(session.execute(select(ConsentEvent.contact_id, ConsentEvent.channel, ConsentEvent.status)))


def _suppressed(db: Database, org: int) -> dict[str, tuple[str, str]]:
    with db.read() as session:
        rows = session.scalars(select(suppression.Suppression).where(suppression.Suppression.organization_id == org))
        return {s.address: (s.reason, s.source) for s in rows}


def test_sunset_suppresses_the_unengaged_and_never_the_engaged(db: Database, tenant: Tenant) -> None:
    org = _sunset_org(db, tenant)
    names = ("silent", "machine", "nineteen", "short", "opened", "clicked_sms", "bought", "unsubscribed")
    fans = {n: _contact(db, org, f"{n}@fans.example", "+1720555030" + str(i)) for i, n in enumerate(names)}
    with db.write() as session:
        row = session.get(Contact, fans["unsubscribed"])
        assert row is not None
        row.email_status = UNSUBSCRIBED
    start = NOW - timedelta(days=100)
    every = timedelta(days=5)  # 20 emails: days -100 .. -5, spanning 95 days
    full = [fans[n] for n in names if n not in ("nineteen", "short")]
    sends = _series(db, org, full + [fans["nineteen"]], 19, start, every)
    _send(db, org, full, start + 19 * every)  # the 20th; "nineteen" gets only 19
    _series(db, org, [fans["short"]], 25, NOW - timedelta(days=60), timedelta(days=2))  # 25 over 48 days
    for i in range(20 - 1):
        _open(db, sends[i][fans["machine"]], start + i * every + timedelta(seconds=2), APPLE_MPP)
    # "opened" opened the 3rd email: only the 17 after it count, fewer than 20.
    _open(db, sends[2][fans["opened"]], start + 2 * every + timedelta(hours=3))
    # "clicked_sms" clicked an SMS 10 days ago: engagement on any channel counts.
    sms = _send(db, org, [fans["clicked_sms"]], NOW - timedelta(days=11), "sms")
    _click(db, sms[fans["clicked_sms"]], NOW - timedelta(days=10))
    # "bought" bought 20 days ago (an order refunded since still shows they bought).
    _order(db, org, fans["bought"], NOW - timedelta(days=20), status="refunded")
    ledger_before = _ledger(db)

    # A week earlier the 20th email had not gone out yet: nobody qualifies.
    assert sunset.sunset_organization(db, org, NOW - timedelta(days=7)) == 0
    assert sunset.sunset_organization(db, org, NOW, batch=3) == 2
    assert _suppressed(db, org) == {
        "silent@fans.example": (suppression.UNENGAGED, "sunset"),
        "machine@fans.example": (suppression.UNENGAGED, "sunset"),  # machine opens are no engagement
    }
    with db.read() as session:
        silent = suppression.Suppression.address == "silent@fans.example"
        detail = session.scalar(select(suppression.Suppression.detail).where(silent))
        statuses = {cid: status for cid, status in session.execute(select(Contact.id, Contact.email_status))}
    assert detail == "20 emails from 2026-02-21 to 2026-05-27 without an open, click or purchase"
    # Suppressed, not unsubscribed: consent and its ledger are untouched.
    assert statuses[fans["silent"]] == SUBSCRIBED and statuses[fans["machine"]] == SUBSCRIBED
    assert statuses[fans["unsubscribed"]] == UNSUBSCRIBED
    assert _ledger(db) == ledger_before
    # Twice is once.
    assert sunset.sunset_organization(db, org, NOW) == 0
    # Staff lift one: the same silence does not suppress it again; 20 new unopened emails over 95
    # days after the lift do.
    with db.write() as session:
        assert suppression.remove(session, org, "silent@fans.example", "staff:1")
        lift = session.scalar(select(AuditEntry).where(AuditEntry.action == "suppression.remove"))
        assert lift is not None
        lift.at = NOW + timedelta(days=1)
    assert sunset.sunset_organization(db, org, NOW + timedelta(days=2)) == 0
    _series(db, org, [fans["silent"]], 19, NOW + timedelta(days=3), every)
    assert sunset.sunset_organization(db, org, NOW + timedelta(days=94)) == 0  # 19 so far
    _send(db, org, [fans["silent"]], NOW + timedelta(days=98))
    assert sunset.sunset_organization(db, org, NOW + timedelta(days=99)) == 1
    assert _suppressed(db, org)["silent@fans.example"] == (suppression.UNENGAGED, "sunset")


def test_sunset_step_runs_only_for_organizations_that_turned_it_on_once_a_day(db: Database, tenant: Tenant) -> None:
    on = _sunset_org(db, tenant)
    off = make_tenant(db, "Other Venue", "other").organization_id
    fans = {org: _contact(db, org, f"fan{org}@fans.example") for org in (on, off)}
    for org in (on, off):
        _series(db, org, [fans[org]], 20, NOW - timedelta(days=100), timedelta(days=5))
    with db.read() as session:
        assert session.get(Organization, off).sunset_enabled is False  # type: ignore[union-attr]
    assert sunset.sunset_step(db, NOW) == {"read": 1, "suppressed": 1}
    assert set(_suppressed(db, on)) == {f"fan{on}@fans.example"} and _suppressed(db, off) == {}
    assert sunset.sunset_step(db, NOW + timedelta(hours=2)) == {"read": 0, "suppressed": 0}  # done for today


def test_sunset_settings_are_validated_naming_the_field(db: Database, tenant: Tenant) -> None:
    with db.write() as session:
        organization = session.get(Organization, tenant.organization_id)
        assert organization is not None
        assert (organization.sunset_enabled, organization.sunset_after_emails, organization.sunset_min_days) == (
            False,
            20,
            90,
        )
    with pytest.raises(InvalidInput) as refused, db.write() as session:
        update_sunset_settings(session, tenant.organization_id, enabled=True, after_emails=0, min_days=3)
    assert [e["field"] for e in refused.value.errors] == ["sunset_after_emails", "sunset_min_days"]
    with db.read() as session:
        assert session.get(Organization, tenant.organization_id).sunset_enabled is False  # type: ignore[union-attr]


def _cli(*args: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(app, [*args, "--json"])
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, result.stdout  # exactly one JSON object
    return result.exit_code, json.loads(lines[0])


def test_cli_recompute_settings_and_sunset(db: Database, tenant: Tenant) -> None:
    org = str(tenant.organization_id)
    fan = _contact(db, tenant.organization_id, "fan@fans.example")
    _series(db, tenant.organization_id, [fan], 20, datetime.now(UTC) - timedelta(days=100), timedelta(days=5))
    code, result = _cli("engagement", "recompute", "--org", org)
    assert code == 0 and result["contacts"] == 1 and result["changed"] == 1
    assert result["email_ratings"]["1"] == 1
    code, refused = _cli("engagement", "sunset", "--org", org)
    assert code == 1 and "sunset" in refused["error"]
    code, bad = _cli("org", "update", org, "--sunset-after", "0")
    assert code == 1 and bad["error"].startswith("sunset_after_emails:")
    assert _cli("org", "update", org, "--sunset", "on", "--sunset-after", "15")[0] == 0
    code, view = _cli("engagement", "settings", "--org", org)
    assert code == 0 and view == {
        "organization_id": tenant.organization_id,
        "sunset_enabled": True,
        "sunset_after_emails": 15,
        "sunset_min_days": 90,
    }
    suppressed = {"organization_id": tenant.organization_id, "suppressed": 1}
    assert _cli("engagement", "sunset", "--org", org) == (0, suppressed)
    # `fanhub org update` takes the same setting; without sunset options its output is unchanged.
    code, updated = _cli("org", "update", org, "--sunset", "off", "--sunset-min-days", "120")
    assert code == 0 and (updated["sunset_enabled"], updated["sunset_after_emails"], updated["sunset_min_days"]) == (
        False,
        15,
        120,
    )
    assert "sunset_enabled" not in _cli("org", "update", org, "--over-cap", "drop")[1]
    code, refused = _cli("org", "update", org, "--sunset", "maybe")
    assert code == 1 and refused["error"] == "sunset: on or off"
    code, refused = _cli("org", "update", org, "--sunset", "on", "--sunset-min-days", "1", "--over-cap", "defer")
    assert code == 1 and refused["error"].startswith("sunset_min_days:")
    with db.read() as session:
        saved = session.get(Organization, tenant.organization_id)
        assert saved is not None and (saved.sunset_enabled, saved.over_cap) == (False, "drop")  # nothing saved


def test_partner_api_shows_ratings_and_filters_by_min_rating(client: TestClient, db: Database, tenant: Tenant) -> None:
    org = tenant.organization_id
    low = _contact(db, org, "low@fans.example", "+17205550401")
    high = _contact(db, org, "high@fans.example")
    with db.write() as session:
        for cid, stars in ((low, 1), (high, 5)):
            row = session.get(Contact, cid)
            assert row is not None
            row.email_rating, row.sms_rating = stars, 6 - stars
    listed = client.get("/v1/partners/contacts", headers=tenant.headers).json()["response"]
    assert {c["email"]: c["subscriptions"]["email"]["rating"] for c in listed} == {
        "low@fans.example": 1,
        "high@fans.example": 5,
    }
    assert {c["email"]: c["subscriptions"]["sms"]["rating"] for c in listed} == {
        "low@fans.example": 5,
        "high@fans.example": 1,
    }
    # The documented fields are all still there.
    assert set(listed[0]["subscriptions"]["email"]) == {"status", "changed_at", "rating"}
    found = client.get("/v1/partners/contacts", params={"min_rating": 4}, headers=tenant.headers).json()
    assert [c["email"] for c in found["response"]] == ["high@fans.example"]
    by_sms = client.get(
        "/v1/partners/contacts", params={"min_rating": 4, "rating_channel": "sms"}, headers=tenant.headers
    ).json()
    assert [c["email"] for c in by_sms["response"]] == ["low@fans.example"]
    refused = client.get("/v1/partners/contacts", params={"min_rating": 9}, headers=tenant.headers)
    assert refused.status_code == 422 and "min_rating" in refused.text
    one = client.get(f"/v1/partners/contacts/{high}", headers=tenant.headers).json()["response"]
    assert one["subscriptions"]["email"]["rating"] == 5


def test_the_worker_runs_the_engagement_and_sunset_jobs(db: Database, tenant: Tenant, monkeypatch: Any) -> None:
    from fanhub.deliverability import jobs
    from fanhub.worker import load_jobs

    registered = load_jobs()
    assert registered["deliverability.engagement"] is jobs.engagement_ratings
    assert registered["deliverability.sunset"] is jobs.sunset_unengaged
    monkeypatch.setattr(jobs, "_next_engagement", 0.0)
    monkeypatch.setattr(jobs, "_next_sunset", 0.0)
    org = _sunset_org(db, tenant)
    fan = _contact(db, org, "fan@fans.example")
    _series(db, org, [fan], 20, datetime.now(UTC) - timedelta(days=100), timedelta(days=5))
    assert jobs.engagement_ratings(db) is False  # everything read in one batch: nothing left waiting
    assert _ratings(db, fan) == [(1, 3)]
    assert jobs.engagement_ratings(db) is False  # not due again for ENGAGEMENT_SECONDS
    assert jobs.sunset_unengaged(db) is False
    assert _suppressed(db, org) == {"fan@fans.example": (suppression.UNENGAGED, "sunset")}
