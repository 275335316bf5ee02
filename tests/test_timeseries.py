"""Time series for charts: whole windows with zero days, whole-number count axes, labels per bucket."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from fanhub import timeseries
from fanhub.catalog.reports import search_events
from fanhub.db.engine import Database
from fanhub.manager import charts
from fanhub.pagination import PageRequest
from tests.examples import EVENTS, fresh, order


def test_a_window_covers_every_day_and_quiet_days_are_zero() -> None:
    days = timeseries.calendar_days(date(2026, 11, 28), date(2026, 12, 5))
    assert len(days) == 8 and days[0] == date(2026, 11, 28) and days[-1] == date(2026, 12, 5)
    values = timeseries.zero_filled({date(2026, 11, 29): 3, date(2026, 12, 1): 2}, days)
    assert values == [0, 3, 0, 2, 0, 0, 0, 0]
    assert timeseries.calendar_days(date(2026, 12, 5), date(2026, 12, 4)) == []


@pytest.mark.parametrize(
    ("largest", "top", "step"),
    [(0, 1, 1), (1, 1, 1), (3, 3, 1), (7, 8, 2), (10, 10, 5), (41, 60, 20), (250, 300, 100), (1234, 1500, 500)],
)
def test_count_axes_step_by_whole_numbers(largest: float, top: float, step: float) -> None:
    assert timeseries.count_axis(largest) == (top, step)
    assert top >= largest and top / step <= 4 and float(step).is_integer()


def test_long_windows_are_drawn_per_week_with_week_labels() -> None:
    days = timeseries.calendar_days(date(2026, 9, 1), date(2026, 12, 5))  # 96 days
    assert timeseries.bucket_for(days) == "week"
    assert timeseries.bucket_for(days[:62]) == "day"
    starts, sums = timeseries.by_bucket(days, [1.0] * len(days), "week")
    assert starts[0] == date(2026, 8, 31) and all(d.weekday() == 0 for d in starts)  # Mondays
    assert sums[0] == 6 and sums[1] == 7 and sum(sums) == len(days)  # Tue-Sun of the first week
    assert timeseries.label(starts[1], "week") == "wk Sep 07"
    assert timeseries.label(date(2026, 12, 5), "day") == "Dec 05"


def test_a_chart_of_one_ticket_has_no_fractional_gridlines() -> None:
    svg = str(charts.bar_chart(["Dec 04", "Dec 05"], [1.0, 0.0], "Tickets sold per day"))
    axis_values = re.findall(r'text-anchor="end"[^>]*>([^<]+)</text>', svg)
    assert axis_values == ["1", "0"]
    svg = str(charts.line_chart(["a", "b", "c"], [("Opens", [0.0, 7.0, 3.0])], "Opens"))
    assert re.findall(r'text-anchor="end"[^>]*>([^<]+)</text>', svg) == ["8", "6", "4", "2", "0"]


def test_the_event_page_chart_runs_up_to_today_with_quiet_days_at_zero(client: TestClient, db: Database) -> None:
    from tests.conftest import make_tenant, post_and_apply
    from tests.manager.helpers import login, make_user

    tenant = make_tenant(db)
    today = datetime.now(UTC).date()
    events = fresh(EVENTS)
    show = today + timedelta(days=20)
    events["events"][0].update(start_datetime=f"{show}T20:00:00Z", end_datetime=f"{show}T23:00:00Z")
    post_and_apply(client, db, tenant, "events", events)
    five_days_ago, two_days_ago = today - timedelta(days=5), today - timedelta(days=2)
    orders = {
        "orders": [
            order("o1", "a@fans.example", quantity=2, created_at=f"{five_days_ago}T12:00:00Z"),
            order("o2", "b@fans.example", quantity=1, created_at=f"{two_days_ago}T12:00:00Z"),
        ]
    }
    post_and_apply(client, db, tenant, "orders", orders)
    make_user(db, tenant.organization_id, "admin@venue.example", "admin")
    login(client, "admin@venue.example")
    with db.read() as session:
        event_id = search_events(session, tenant.organization_id, PageRequest(1, 5)).items[0]["id"]
    page = client.get(f"/manager/events/{event_id}").text
    chart = page[page.index('id="sales-chart"') :]
    bars = re.findall(r"<title>([A-Z][a-z]{2} \d{2}): ([\d.k]+)</title></rect>", chart)
    expected_days = [today - timedelta(days=n) for n in range(5, -1, -1)]  # first sale .. today
    assert [label for label, _ in bars] == [timeseries.label(d, "day") for d in expected_days]
    assert [value for _, value in bars] == ["2", "0", "0", "1", "0", "0"]
    assert "Tickets sold per day" in chart
