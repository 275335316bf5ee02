"""Flow analytics: per flow and per step figures and time series, against figures worked out by hand
in `tests/flows/front_data.py`; organizations kept apart; a page of flows in a fixed number of queries."""

from __future__ import annotations

import pytest
from sqlalchemy import event
from tests.conftest import Tenant, make_tenant
from tests.flows.front_data import DAILY_SERIES, FIGURE_NAMES, FLOW_FIGURES, STEP_FIGURES, seed_flow

from fanhub.db.engine import Database
from fanhub.errors import NotFound
from fanhub.flows.analytics import flow_analytics, flow_detail, revenue_by_flow
from fanhub.flows.models import DRAFT, Flow
from fanhub.flows.templates import WELCOME
from fanhub.pagination import PageRequest


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
