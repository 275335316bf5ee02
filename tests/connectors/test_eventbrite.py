"""Eventbrite connector against the fake: backfill, incremental overlap, kill/resume, limits, errors, consent."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from fanhub.audience.consent import EMAIL, ConsentChange
from fanhub.audience.models import Contact
from fanhub.audience.service import change_consent
from fanhub.connectors.base import ApiClient, RetryPolicy, default_classify
from fanhub.connectors.eventbrite import ORDER_EXPAND, ORDER_PAGE, map_order
from fanhub.connectors.models import BROKEN, Checkpoint, Connection
from fanhub.connectors.service import ConnectFailed, connect_eventbrite, run_sync
from fanhub.connectors.sync import SyncWriter
from fanhub.db.engine import Database
from fanhub.ingest.models import IngestBatch
from tests.conftest import Tenant, drain
from tests.fakes.eventbrite import FakeEventbrite

from .conftest import count_orders, event_rows, fast_options, order_rows


def seed(eb: FakeEventbrite, orders: int = 120) -> dict[str, Any]:
    org = eb.add_organization("Belly Up", id="555")
    venue = eb.add_venue("Belly Up Aspen", organization_id=org["id"])
    show = eb.add_event("Big Show", organization_id=org["id"], venue_id=venue["id"], timezone="America/Denver")
    vip = eb.add_ticket_class(show["id"], "VIP", price=7500, fee=600)
    nologo = eb.add_event("No Logo Night", organization_id=org["id"], venue_id=venue["id"], logo_url=None)
    canceled = eb.add_event("Called Off", organization_id=org["id"], venue_id=venue["id"], status="canceled")
    draft = eb.add_event("Secret Draft", organization_id=org["id"], status="draft")
    ids = []
    for i in range(orders):
        event = (show, nologo, canceled)[i % 3]
        o = eb.add_order(
            event["id"],
            email=f"fan{i}@example.com",
            quantity=1 + i % 3,
            has_opted_in=i % 4 == 0,
            ticket_class_id=vip["id"] if i == 0 else None,
        )
        ids.append(o["id"])
    return {"org": org, "show": show, "nologo": nologo, "canceled": canceled, "draft": draft, "orders": ids}


def connect(db: Database, org: Tenant, eb: FakeEventbrite, **kwargs: Any) -> int:
    return int(connect_eventbrite(db, org.organization_id, eb.token, base_url=eb.base_url, **kwargs)["id"])


def test_backfill_maps_events_orders_and_consent(db: Database, org: Tenant, eb: FakeEventbrite) -> None:
    data = seed(eb)
    eb.update_order(data["orders"][1], status="refunded")
    connection_id = connect(db, org, eb)
    result = run_sync(db, connection_id, options=fast_options())
    drain(db)

    assert (result.events, result.orders) == (3, 120)
    # Organization-level orders with expansions: no per-event fan-out.
    assert not [line for line in eb.request_log if "/orders/" in line and "/events/" in line]
    assert result.calls <= 1 + 3 + 1 + 1 + 3 + 3  # me/orgs at connect are separate; venues, events, tcs, orders
    events = event_rows(db, org.organization_id)
    assert set(events) == {data["show"]["id"], data["nologo"]["id"], data["canceled"]["id"]}  # draft skipped
    show = events[data["show"]["id"]]
    assert show.image_url == "https://img.evbuc.com/fake/logo.jpg"
    assert show.location_name == "Belly Up Aspen" and show.time_zone == "America/Denver"
    assert show.source == f"eventbrite:{connection_id}"
    assert events[data["nologo"]["id"]].image_url is None  # never invented
    assert events[data["canceled"]["id"]].status == "canceled"

    orders = order_rows(db, org.organization_id)
    assert len(orders) == 120 and count_orders(db, org.organization_id) == (120, 120)
    first = orders[data["orders"][0]]
    assert (first.total_cents, first.prefee_cents, first.tickets) == (8100, 7500, 1)
    refunded = orders[data["orders"][1]]
    assert refunded.status == "refunded" and refunded.refunded_cents == refunded.total_cents == 2 * 2750
    assert refunded.email_opt_in is None  # Eventbrite list state is not a checkout tick

    with db.read() as session:
        statuses = dict(session.execute(select(Contact.email, Contact.email_status)).all())
    assert statuses["fan0@example.com"] == "subscribed"
    assert statuses["fan1@example.com"] == "unknown"  # not opted in, not on a list: says nothing


def test_incremental_uses_changed_since_with_overlap(db: Database, org: Tenant, eb: FakeEventbrite) -> None:
    data = seed(eb, orders=60)
    connection_id = connect(db, org, eb)
    run_sync(db, connection_id, options=fast_options())
    drain(db)
    cursor = eb.now
    eb.advance(3600)
    eb.update_order(data["orders"][5], status="refunded")
    new = eb.add_order(data["show"]["id"], email="late@example.com")
    eb.request_log.clear()

    result = run_sync(db, connection_id, options=fast_options())
    drain(db)

    orders_calls = [line for line in eb.request_log if "/organizations/555/orders/" in line]
    since = datetime.fromisoformat(cursor.replace("Z", "+00:00")).timestamp() - 15 * 60
    expected = datetime.fromtimestamp(since, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert orders_calls and all(f"changed_since={expected.replace(':', '%3A')}" in c for c in orders_calls)
    # The overlap re-reads old orders, but only the two that changed are queued again.
    assert result.orders == 2 and result.events == 0
    rows = order_rows(db, org.organization_id)
    assert rows[data["orders"][5]].status == "refunded" and new["id"] in rows
    assert count_orders(db, org.organization_id) == (61, 61)


def test_killed_sync_resumes_without_gap_or_duplicate(
    db: Database, org: Tenant, eb: FakeEventbrite, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(eb, orders=300)  # 6 pages of orders
    connection_id = connect(db, org, eb)
    monkeypatch.setattr(SyncWriter, "flush_records", 1)  # commit every page

    class Killed(Exception):
        pass

    commits = 0

    def kill_after_third_orders_commit(writer: SyncWriter) -> None:
        nonlocal commits
        if writer.result.orders:
            commits += 1
            if commits == 3:
                raise Killed

    with pytest.raises(Killed):
        run_sync(db, connection_id, options=fast_options(), after_commit=kill_after_third_orders_commit)
    with db.read() as session:
        state = session.scalars(select(Checkpoint.state).where(Checkpoint.stream == "orders")).one()
    assert state["run"]["continuation"]  # mid-scan position committed with the data
    eb.request_log.clear()

    result = run_sync(db, connection_id, options=fast_options())
    drain(db)
    order_calls = [line for line in eb.request_log if "/orders/" in line]
    assert "continuation=" in order_calls[0]  # resumed, not restarted
    assert result.orders == 150
    assert count_orders(db, org.organization_id) == (300, 300)


def test_server_errors_mid_sync_then_resume(
    db: Database, org: Tenant, eb: FakeEventbrite, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(eb, orders=200)
    connection_id = connect(db, org, eb)
    eb.fail_next(2, status=503)  # retried with backoff, invisible to the result
    run_sync(db, connection_id, options=fast_options())
    drain(db)
    assert count_orders(db, org.organization_id) == (200, 200)

    eb.advance(60)
    show = next(iter(eb.events))
    for i in range(120):
        eb.add_order(show, email=f"more{i}@example.com")
    monkeypatch.setattr(SyncWriter, "flush_records", 1)

    def outage_after_first_page(writer: SyncWriter) -> None:
        if writer.result.orders and not eb._fail_queue:
            eb.fail_next(4, status=500)  # as many as the retry budget: this run gives up mid-scan

    with pytest.raises(Exception, match="500"):
        run_sync(db, connection_id, options=fast_options(), after_commit=outage_after_first_page)
    with db.read() as session:
        connection = session.get(Connection, connection_id)
        assert connection is not None and "500" in (connection.last_error or "")
        assert connection.next_sync_at is not None
    run_sync(db, connection_id, options=fast_options())
    drain(db)
    assert count_orders(db, org.organization_id) == (320, 320)


def test_rate_limit_429_waits_and_resumes(db: Database, org: Tenant, eb: FakeEventbrite) -> None:
    seed(eb, orders=150)
    connection_id = connect(db, org, eb)
    eb.calls_per_hour, eb.rate_window_seconds = 3, 0.3
    eb.reset_rate_limit()
    result = run_sync(db, connection_id, options=fast_options())
    drain(db)
    assert eb.rate_limited > 0 and result.rate_limited == eb.rate_limited
    assert count_orders(db, org.organization_id) == (150, 150)


def test_call_budget_prevents_429(db: Database, org: Tenant, eb: FakeEventbrite) -> None:
    seed(eb, orders=150)
    connection_id = connect(db, org, eb)
    eb.calls_per_hour, eb.rate_window_seconds = 5, 0.5
    eb.reset_rate_limit()
    # Sequential calls, and a window twice the fake's: latency up to half a second cannot cause a 429.
    options = fast_options(budget_calls=4, budget_window=1.0, retry=RetryPolicy(rate_limit_attempts=0))
    run_sync(db, connection_id, options=options)
    assert eb.rate_limited == 0


def test_expansion_failed_retries_without_expand(db: Database, org: Tenant, eb: FakeEventbrite) -> None:
    seed(eb, orders=12)
    connection_id = connect(db, org, eb)
    eb.expansion_failed_next(1)
    run_sync(db, connection_id, options=fast_options())
    drain(db)
    plain = [line for line in eb.request_log if "/organizations/555/orders/" in line and "expand" not in line]
    assert plain  # the page was read again without expand, then each order enriched singly
    rows = order_rows(db, org.organization_id)
    assert len(rows) == 12 and all(row.tickets >= 1 for row in rows.values())
    with db.read() as session:
        assert session.scalars(select(Contact.email_status).where(Contact.email == "fan0@example.com")).one() == (
            "subscribed"
        )


def test_bad_token_is_rejected_before_saving(db: Database, org: Tenant, eb: FakeEventbrite) -> None:
    seed(eb, orders=1)
    with pytest.raises(ConnectFailed, match="INVALID_AUTH"):
        connect_eventbrite(db, org.organization_id, "wrong", base_url=eb.base_url)
    with db.read() as session:
        assert session.scalars(select(Connection)).all() == []


def test_revoked_token_marks_connection_broken(db: Database, org: Tenant, eb: FakeEventbrite) -> None:
    seed(eb, orders=3)
    connection_id = connect(db, org, eb)
    eb.token = "rotated"
    with pytest.raises(Exception, match="INVALID_AUTH"):
        run_sync(db, connection_id, options=fast_options())
    with db.read() as session:
        connection = session.get(Connection, connection_id)
        assert connection is not None and connection.status == BROKEN and connection.next_sync_at is None
    calls = eb.calls
    with pytest.raises(ConnectFailed, match="broken"):
        run_sync(db, connection_id, options=fast_options())
    assert eb.calls == calls  # a broken connection makes no more calls


def test_opt_out_is_never_undone_by_a_sync(db: Database, org: Tenant, eb: FakeEventbrite) -> None:
    data = seed(eb, orders=8)
    connection_id = connect(db, org, eb)
    run_sync(db, connection_id, options=fast_options())
    drain(db)
    with db.write() as session:
        contact = session.scalars(select(Contact).where(Contact.email == "fan0@example.com")).one()
        assert contact.email_status == "subscribed"
        change_consent(
            session,
            org.organization_id,
            contact.id,
            ConsentChange(EMAIL, False, "staff", "staff:1", datetime.now(UTC)),
        )
    # Eventbrite still says opted in, and the order changes later: neither incremental nor full re-subscribes.
    eb.advance(3600)
    eb.update_order(data["orders"][0], first_name="Adah")
    run_sync(db, connection_id, options=fast_options())
    run_sync(db, connection_id, full=True, options=fast_options())
    drain(db)
    with db.read() as session:
        contact = session.scalars(select(Contact).where(Contact.email == "fan0@example.com")).one()
        assert contact.email_status == "unsubscribed"
        assert session.scalars(select(IngestBatch.status).where(IngestBatch.status == "failed")).all() == []


def test_list_member_who_is_not_opted_in_is_an_opt_out(db: Database, org: Tenant, eb: FakeEventbrite) -> None:
    data = seed(eb, orders=4)
    connection_id = connect(db, org, eb)
    run_sync(db, connection_id, options=fast_options())
    drain(db)
    eb.advance(3600)
    eb.update_order(data["orders"][0], has_opted_in=False, has_contact_list=True)
    run_sync(db, connection_id, options=fast_options())
    drain(db)
    with db.read() as session:
        assert session.scalars(select(Contact.email_status).where(Contact.email == "fan0@example.com")).one() == (
            "unsubscribed"
        )


def test_bad_continuation_token_restarts_from_checkpoint(db: Database, org: Tenant, eb: FakeEventbrite) -> None:
    seed(eb, orders=30)
    connection_id = connect(db, org, eb)
    with db.write() as session:
        session.add(
            Checkpoint(
                connection_id=connection_id,
                stream="orders",
                state={"cursor": None, "run": {"since": None, "continuation": "garbage", "max_changed": None}},
            )
        )
    with pytest.raises(Exception, match="BAD_CONTINUATION_TOKEN"):
        run_sync(db, connection_id, options=fast_options())
    run_sync(db, connection_id, options=fast_options())
    drain(db)
    assert count_orders(db, org.organization_id) == (30, 30)
    with db.write() as session:
        session.execute(update(Connection).values(lease_until=None))


def test_reconnect_with_a_new_token_resumes_the_same_connection(db: Database, org: Tenant, eb: FakeEventbrite) -> None:
    from fanhub.connectors.service import reconnect

    data = seed(eb, orders=5)
    connection_id = connect(db, org, eb)
    run_sync(db, connection_id, options=fast_options())
    drain(db)
    eb.token = "rotated"
    with pytest.raises(Exception, match="INVALID_AUTH"):
        run_sync(db, connection_id, options=fast_options())
    with pytest.raises(ConnectFailed):
        reconnect(db, connection_id, {"token": "still-wrong"})
    view = reconnect(db, connection_id, {"token": "rotated"})
    assert view["status"] == "active" and view["last_error"] is None
    eb.advance(60)
    eb.add_order(data["show"]["id"], email="after@example.com")
    result = run_sync(db, connection_id, options=fast_options())
    drain(db)
    assert result.orders == 1 and count_orders(db, org.organization_id) == (6, 6)


def test_order_pages_parsed_narrowly_map_exactly_as_the_whole_document(eb: FakeEventbrite) -> None:
    """`ORDER_PAGE` keeps only what `map_order` reads: mapping either parse must give the same records."""
    org = eb.add_organization("Mixed", id="777")
    show = eb.add_event("Show", organization_id=org["id"])
    for i in range(30):
        eb.add_order(
            show["id"],
            email=f"mixed{i}@example.com",
            quantity=1 + i % 3,
            status=("placed", "refunded", "cancelled", "placed", "started")[i % 5],
            has_opted_in=i % 2 == 0,
            has_contact_list=True if i % 3 == 0 else None,
            cell_phone=f"(303) 555-01{i:02d}" if i % 4 == 0 else None,
        )
    path = f"{eb.base_url}/organizations/{org['id']}/orders/"
    params = {"status": "both", "expand": ORDER_EXPAND}
    whole = httpx.get(path, params=params, headers={"Authorization": f"Bearer {eb.token}"}).json()
    with ApiClient(eb.base_url, default_classify, headers={"Authorization": f"Bearer {eb.token}"}) as client:
        narrow = client.get_json(path, params, ORDER_PAGE)
    assert len(narrow["orders"]) == len(whole["orders"]) == 30
    assert "resource_uri" in whole["orders"][0] and "resource_uri" not in narrow["orders"][0]
    assert narrow["pagination"]["has_more_items"] == whole["pagination"]["has_more_items"]
    mapped = [map_order(order) for order in whole["orders"]]
    assert [map_order(order) for order in narrow["orders"]] == mapped
    assert {record.status for record in mapped if record is not None} == {"completed", "refunded", "canceled"}
    # The list state rode along: half of these buyers opted in (the fake's has_opted_in=i % 2 == 0).
    assert {record.list_email_opt_in for record in mapped if record is not None} >= {True}


def test_a_page_of_unexpected_shape_is_read_whole() -> None:
    def odd_page(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"orders": [{"id": "1", "costs": "free", "extra": 1}], "pagination": {}})

    with ApiClient("http://platform.test", default_classify, transport=httpx.MockTransport(odd_page)) as client:
        body = client.get_json("orders/", None, ORDER_PAGE)
    assert body["orders"][0] == {"id": "1", "costs": "free", "extra": 1}
