"""Flow analytics: per flow and per step figures and time series, against figures worked out by hand
in `tests/flows/front_data.py`; organizations kept apart; a page of flows in a fixed number of queries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event
from tests.campaigns.conftest import (  # noqa: F401
    add_contact,
    add_event,
    campaign_env,
    delivery_for,
    order,
    post_orders,
    smtp_server,
    twilio,
)
from tests.conftest import Tenant, make_tenant
from tests.fakes.smtp import FakeSmtpServer
from tests.flows.core_helpers import document, flow_deliveries, make_flow, send_all, settle
from tests.flows.front_data import DAILY_SERIES, FIGURE_NAMES, FLOW_FIGURES, STEP_FIGURES, seed_flow

from fanhub.campaigns import tracking
from fanhub.config import Settings
from fanhub.db.base import utcnow
from fanhub.db.engine import Database
from fanhub.errors import NotFound
from fanhub.flows.analytics import flow_analytics, flow_detail, revenue_by_flow
from fanhub.flows.models import DRAFT, Flow
from fanhub.flows.templates import WELCOME
from fanhub.pagination import PageRequest

HUMAN = "Mozilla/5.0 (Macintosh) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari"


def _draft(db: Database, org: int) -> int:
    with db.write() as session:
        flow = Flow(
            organization_id=org,
            name="Welcome",
            definition=WELCOME.definition(),
            trigger_type="subscribed",
            status=DRAFT,
        )
        session.add(flow)
        session.flush()
        return flow.id


def test_per_flow_and_per_step_figures(db: Database, tenant: Tenant) -> None:
    seeded = seed_flow(db, tenant.organization_id)
    with db.read() as session:
        page = flow_analytics(session, tenant.organization_id, PageRequest(1, 10))
    assert not page.has_more
    [row] = page.items
    assert row["id"] == seeded.flow_id and row["status"] == "active" and row["trigger_type"] == "before_event"
    assert row["activated_at"] == "2026-03-01T08:00:00Z"
    assert {k: row[k] for k in FLOW_FIGURES} == FLOW_FIGURES
    assert [s["type"] for s in row["steps"]] == ["send", "wait", "condition", "send", "tag"]
    assert [(s["channel"], s["subject"]) for s in row["steps"]][::3] == [
        ("email", "Tomorrow: {{ event_name }}"),
        ("sms", None),
    ]
    assert [tuple(s[name] for name in FIGURE_NAMES) for s in row["steps"]] == STEP_FIGURES


def test_drafts_are_listed_with_zeros_newest_first_and_paged(db: Database, tenant: Tenant) -> None:
    seeded = seed_flow(db, tenant.organization_id)
    draft = _draft(db, tenant.organization_id)
    with db.read() as session:
        first = flow_analytics(session, tenant.organization_id, PageRequest(1, 1))
        second = flow_analytics(session, tenant.organization_id, PageRequest(2, 1))
        drafts = flow_analytics(session, tenant.organization_id, PageRequest(1, 10), status="draft")
    assert [r["id"] for r in first.items] == [draft] and first.has_more
    assert [r["id"] for r in second.items] == [seeded.flow_id] and not second.has_more
    [row] = drafts.items
    assert row["id"] == draft and row["activated_at"] is None
    assert all(row[name] == 0 for name in FLOW_FIGURES)
    assert len(row["steps"]) == 4 and all(s[name] == 0 for s in row["steps"] for name in FIGURE_NAMES)


def test_organizations_are_kept_apart(db: Database, tenant: Tenant) -> None:
    mine = seed_flow(db, tenant.organization_id)
    other = make_tenant(db, "Other Venue", "other")
    theirs = seed_flow(db, other.organization_id, "Their reminder")
    with db.read() as session:
        assert [r["id"] for r in flow_analytics(session, tenant.organization_id, PageRequest()).items] == [mine.flow_id]
        assert [r["id"] for r in flow_analytics(session, other.organization_id, PageRequest()).items] == [
            theirs.flow_id
        ]
        # Their figures are their own (same shape, counted separately).
        assert flow_detail(session, other.organization_id, theirs.flow_id)["num_recipients"] == 5
        with pytest.raises(NotFound):
            flow_detail(session, tenant.organization_id, theirs.flow_id)
        assert revenue_by_flow(session, tenant.organization_id, [theirs.flow_id]) == {theirs.flow_id: []}


def test_detail_time_series_by_day_and_hour(db: Database, tenant: Tenant) -> None:
    seeded = seed_flow(db, tenant.organization_id)
    with db.read() as session:
        daily = flow_detail(session, tenant.organization_id, seeded.flow_id)
        hourly = flow_detail(session, tenant.organization_id, seeded.flow_id, interval="hour")
        revenue = revenue_by_flow(session, tenant.organization_id, [seeded.flow_id])
    assert daily["interval"] == "day" and daily["series"] == DAILY_SERIES
    assert {k: daily[k] for k in FLOW_FIGURES} == FLOW_FIGURES
    assert hourly["series"]["entered"] == [
        {"at": "2026-03-01T09:00:00Z", "count": 2},
        {"at": "2026-03-01T10:00:00Z", "count": 1},
        {"at": "2026-03-02T09:00:00Z", "count": 1},
        {"at": "2026-03-02T11:00:00Z", "count": 1},
    ]
    assert hourly["series"]["clicks"] == [{"at": "2026-03-01T12:00:00Z", "count": 1}]
    assert [(a.minor, a.currency, a.text) for a in revenue[seeded.flow_id]] == [(8000, "USD", "$80.00")]


def test_a_page_costs_a_fixed_number_of_queries(db: Database, tenant: Tenant) -> None:
    """Three flows or one: the same number of statements (no query per flow or per step)."""

    def statements(per_page: int) -> int:
        count = 0

        def before(*_: object) -> None:
            nonlocal count
            count += 1

        event.listen(db.engine, "before_cursor_execute", before)
        try:
            with db.read() as session:
                flow_analytics(session, tenant.organization_id, PageRequest(1, per_page))
        finally:
            event.remove(db.engine, "before_cursor_execute", before)
        return count

    for name in ("A", "B", "C"):
        seed_flow(db, tenant.organization_id, name)
    assert statements(1) == statements(3)


def test_figures_of_a_flow_the_engine_ran(
    client: TestClient,
    db: Database,
    tenant: Tenant,
    campaign_env: Settings,  # noqa: F811
    smtp_server: FakeSmtpServer,  # noqa: F811
) -> None:
    """Orders through the Partners API, the engine and the campaign pipe, a real open and a later order.

    Flow: 0 email, 1 wait 1 h, 2 condition opened_previous (otherwise exit), 3 email; exit goal: bought
    the trigger's event. Ann and Bob order (both enter, both get step 0: sent 2, delivered 2). Ann opens
    it half an hour later and, before the hour is up, buys 2 more tickets for 90.00: the order is
    credited to step 0 (tickets 2, revenue 9000). A wait step runs when the wait starts (the engine
    then holds the enrollment before the next step), and the goal is checked before each step: Ann's
    goal holds before step 2 (exited by goal 1, at step 2). Bob reaches step 2, has not opened, and
    leaves there. So steps 0, 1 and 2 were reached by 2; step 3 by nobody.
    """
    add_event(client, db, tenant)
    ann = add_contact(client, db, tenant, "ann@example.com", first_name="Ann")
    add_contact(client, db, tenant, "bob@example.com", first_name="Bob")
    steps = [
        {"type": "send", "channel": "email", "subject": "Thanks", "body": "<p>Hi {{ first_name }}</p>"},
        {"type": "wait", "duration": "PT1H"},
        {"type": "condition", "opened_previous": True, "otherwise": "exit"},
        {"type": "send", "channel": "email", "subject": "More", "body": "<p>Again</p>"},
    ]
    doc = document({"type": "order_placed"}, *steps, exit={"bought_event": "trigger"}, reentry="never")
    start = utcnow() - timedelta(minutes=1)
    flow_id = make_flow(db, tenant.organization_id, doc, at=start)
    now = utcnow()
    post_orders(client, db, tenant, order("o1", "ann@example.com", now), order("o2", "bob@example.com", now))
    settle(db, utcnow())
    send_all(db)
    assert len(smtp_server.to("ann@example.com")) == len(smtp_server.to("bob@example.com")) == 1
    [first] = [d for d in flow_deliveries(db, flow_id) if d["contact_id"] == ann]
    delivery = delivery_for(db, first["campaign_id"], ann)
    assert delivery.sent_at is not None
    opened_at = delivery.sent_at + timedelta(minutes=30)  # a person's open, not a scanner's at once
    with db.write() as session:
        tracking.record_open(session, delivery.id, HUMAN, None, opened_at)
    post_orders(
        client, db, tenant, order("o3", "ann@example.com", opened_at + timedelta(minutes=10), quantity=2, total=90.0)
    )
    settle(db, delivery.sent_at + timedelta(hours=2))
    send_all(db)
    assert len(smtp_server.to("ann@example.com")) == len(smtp_server.to("bob@example.com")) == 1

    with db.read() as session:
        [row] = flow_analytics(session, tenant.organization_id, PageRequest()).items
    assert {k: row[k] for k in FLOW_FIGURES} == {
        "num_entered": 2,
        "num_exited_by_goal": 1,
        "num_recipients": 2,
        "num_delivered": 2,
        "num_opens": 1,
        "num_links_clicked": 0,
        "num_unsubscribes": 0,
        "num_undelivered": 0,
        "attributed_tickets_sold": 2,
        "attributed_revenue": 9000,
    }
    assert [(s["num_entered"], s["num_recipients"], s["num_opens"], s["num_exited_by_goal"]) for s in row["steps"]] == [
        (2, 2, 1, 0),
        (2, 0, 0, 0),
        (2, 0, 0, 1),
        (0, 0, 0, 0),
    ]
