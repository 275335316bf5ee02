"""Ticket Tailor connector against the fake: backfill, incremental + rescan, kill/resume, limits, errors."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from fanhub.audience.models import Contact
from fanhub.connectors.models import Checkpoint
from fanhub.connectors.service import ConnectFailed, connect_tickettailor, run_sync
from fanhub.connectors.sync import SyncWriter
from fanhub.db.engine import Database
from tests.conftest import Tenant, drain
from tests.fakes.tickettailor import FakeTicketTailor

from .conftest import count_orders, event_rows, fast_options, order_rows


def seed(tt: FakeTicketTailor, orders: int = 250) -> dict[str, Any]:
    gig = tt.add_event(
        "Fake Gig",
        ticket_types=[{"name": "GA", "price": 1500, "booking_fee": 150}, {"name": "VIP", "price": 4000}],
    )
    plain = tt.add_event("No Images", header_image=None, thumbnail_image=None)
    tt.add_event("Unpublished", status="draft")
    off = tt.add_event("Postponed", unavailable=True)
    ids = []
    for i in range(orders):
        event = (gig, plain)[i % 2]
        o = tt.add_order(
            event["id"],
            email=f"fan{i}@example.com",
            quantity=1 + i % 2,
            marketing_opt_in=True if i % 5 == 0 else (None if i % 5 == 1 else False),
            address={"address_1": "1 High St", "address_2": None, "address_3": None, "postal_code": "E8 1AA"},
        )
        ids.append(o["id"])
    return {"gig": gig, "plain": plain, "off": off, "orders": ids}


def connect(db: Database, org: Tenant, tt: FakeTicketTailor, **kwargs: Any) -> int:
    return int(connect_tickettailor(db, org.organization_id, tt.api_key, base_url=tt.base_url, **kwargs)["id"])


@pytest.mark.parametrize("ascending", [False, True])
def test_backfill(db: Database, org: Tenant, tt: FakeTicketTailor, ascending: bool) -> None:
    tt.ascending_pages = ascending  # one live page came back ascending: cursors must not depend on order
    data = seed(tt)
    tt.cancel_order(data["orders"][0])  # refunded
    tt.update_order(data["orders"][2], status="cancelled")  # cancelled, nothing refunded
    tt.update_order(data["orders"][4], status="pending")  # not an order yet
    connection_id = connect(db, org, tt)
    result = run_sync(db, connection_id, options=fast_options())
    drain(db)

    assert result.orders == 249 and result.events == 3
    events = event_rows(db, org.organization_id)
    assert set(events) == {data["gig"]["id"], data["plain"]["id"], data["off"]["id"]}
    gig = events[data["gig"]["id"]]
    assert gig.image_url == "https://cdn.tickettailor.test/header.jpg" and gig.time_zone == "Europe/London"
    assert events[data["plain"]["id"]].image_url is None
    assert events[data["off"]["id"]].status == "canceled"
    assert gig.start_at.timestamp() == data["gig"]["start"]["unix"]

    orders = order_rows(db, org.organization_id)
    assert count_orders(db, org.organization_id) == (249, 249)
    refunded = orders[data["orders"][0]]
    assert (refunded.status, refunded.currency, refunded.total_cents) == ("refunded", "GBP", 1650)
    assert refunded.refunded_cents == 1650 and refunded.prefee_cents == 1500
    assert orders[data["orders"][2]].status == "canceled"
    assert data["orders"][4] not in orders
    assert orders[data["orders"][1]].tickets == 2
    assert orders[data["orders"][1]].customer["address"] == "1 High St, E8 1AA"

    with db.read() as session:
        statuses = dict(session.execute(select(Contact.email, Contact.email_status)).all())
    assert statuses["fan0@example.com"] == "subscribed"
    assert statuses["fan1@example.com"] == "unknown" and statuses["fan3@example.com"] == "unknown"
    # Our own next URLs: never the live `links.next` (no /v1, filters rewritten).
    assert all(line.startswith("GET /v1/") for line in tt.request_log)


def test_incremental_and_rescan_catch_refunds(db: Database, org: Tenant, tt: FakeTicketTailor) -> None:
    data = seed(tt, orders=30)
    connection_id = connect(db, org, tt)
    run_sync(db, connection_id, options=fast_options())
    drain(db)
    tt.advance(600)
    new = tt.add_order(data["gig"]["id"], email="late@example.com")
    tt.cancel_order(data["orders"][3])  # no updated_at: only the rescan can see it
    tt.request_log.clear()

    result = run_sync(db, connection_id, options=fast_options())
    drain(db)

    assert any("created_at.gte=" in line for line in tt.request_log)
    assert result.orders == 2  # the new order and the refunded one; unchanged rescanned orders are dropped
    rows = order_rows(db, org.organization_id)
    assert new["id"] in rows and rows[data["orders"][3]].status == "refunded"
    assert count_orders(db, org.organization_id) == (31, 31)


def test_killed_sync_resumes(db: Database, org: Tenant, tt: FakeTicketTailor, monkeypatch: pytest.MonkeyPatch) -> None:
    seed(tt, orders=450)  # 5 pages
    connection_id = connect(db, org, tt)
    monkeypatch.setattr(SyncWriter, "flush_records", 1)

    class Killed(Exception):
        pass

    def kill(writer: SyncWriter) -> None:
        if writer.result.orders >= 200:
            raise Killed

    with pytest.raises(Killed):
        run_sync(db, connection_id, options=fast_options(), after_commit=kill)
    with db.read() as session:
        state = session.scalars(select(Checkpoint.state).where(Checkpoint.stream == "orders")).one()
    assert state["run"]["starting_after"]
    tt.request_log.clear()
    result = run_sync(db, connection_id, options=fast_options())
    drain(db)
    assert "starting_after=" in next(line for line in tt.request_log if "/v1/orders" in line)
    assert result.orders == 250
    assert count_orders(db, org.organization_id) == (450, 450)


def test_rate_limit_headers_and_429(db: Database, org: Tenant, tt: FakeTicketTailor) -> None:
    seed(tt, orders=150)
    connection_id = connect(db, org, tt)
    tt.rate_limit, tt.rate_window_seconds = 2, 1.0
    tt.reset_rate_limit()
    run_sync(db, connection_id, options=fast_options())
    drain(db)
    # Remaining hits 0 → the client waits X-Rate-Limit-Reset before asking again: no 429 at all.
    assert tt.rate_limited == 0
    assert count_orders(db, org.organization_id) == (150, 150)


def test_429_with_retry_after_is_honoured(db: Database, org: Tenant, tt: FakeTicketTailor) -> None:
    seed(tt, orders=20)
    connection_id = connect(db, org, tt)
    tt.rate_limit, tt.rate_window_seconds = 1, 1.0
    tt.reset_rate_limit()
    tt.add_event("Another")  # a call from "someone else" with the same key uses the window up
    import httpx

    httpx.get(f"{tt.base_url}/v1/ping", auth=(tt.api_key, ""))
    result = run_sync(db, connection_id, options=fast_options())
    drain(db)
    assert tt.rate_limited >= 1 and result.rate_limited >= 1
    assert count_orders(db, org.organization_id) == (20, 20)


def test_server_errors_are_retried(db: Database, org: Tenant, tt: FakeTicketTailor) -> None:
    seed(tt, orders=120)
    connection_id = connect(db, org, tt)
    tt.fail_next(3, status=502)
    run_sync(db, connection_id, options=fast_options())
    drain(db)
    assert count_orders(db, org.organization_id) == (120, 120)


def test_bad_key_is_rejected(db: Database, org: Tenant, tt: FakeTicketTailor) -> None:
    with pytest.raises(ConnectFailed, match="rejected"):
        connect_tickettailor(db, org.organization_id, "sk_wrong", base_url=tt.base_url)
