"""Issue 18: a sync that finds another running waits for it and reports what it did; counts are right."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from typer.testing import CliRunner

from fanhub.cli import app
from fanhub.connectors import service
from fanhub.connectors.models import Checkpoint
from fanhub.connectors.service import SyncBusy, connect_eventbrite, connect_tickettailor, run_sync
from fanhub.connectors.sync import SyncResult, SyncWriter
from fanhub.db.engine import Database
from tests.conftest import Tenant, drain
from tests.fakes.eventbrite import FakeEventbrite
from tests.fakes.tickettailor import FakeTicketTailor

from .conftest import count_orders, fast_options


def _eventbrite_with_nine_buyers(eb: FakeEventbrite) -> None:
    organization = eb.add_organization("Belly Up", id="555")
    for name in ("Early Show", "Late Show"):
        show = eb.add_event(name, organization_id=organization["id"])
        for i in range(4 if name == "Early Show" else 5):
            eb.add_order(show["id"], email=f"{name.split()[0].lower()}{i}@example.com")


def test_a_sync_waits_for_the_running_one_and_reports_what_it_did(
    db: Database, org: Tenant, eb: FakeEventbrite, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`fanhub sync ID --json` while the worker syncs: it waits, then counts the worker's 2 events and 9 orders."""
    _eventbrite_with_nine_buyers(eb)
    connection_id = int(connect_eventbrite(db, org.organization_id, eb.token, base_url=eb.base_url)["id"])
    holding, someone_waits = threading.Event(), threading.Event()
    original_wait = service._wait_for_release

    def noticed_wait(*args: Any) -> SyncResult:
        someone_waits.set()
        return original_wait(*args)

    monkeypatch.setattr(service, "_wait_for_release", noticed_wait)

    def hold_until_someone_waits(writer: SyncWriter) -> None:
        if not holding.is_set():
            holding.set()
            assert someone_waits.wait(timeout=60)

    worker_results: list[SyncResult] = []
    worker = threading.Thread(
        target=lambda: worker_results.append(
            run_sync(db, connection_id, options=fast_options(), after_commit=hold_until_someone_waits)
        )
    )
    worker.start()
    assert holding.wait(timeout=60)
    with pytest.raises(SyncBusy):  # without waiting: says so
        run_sync(db, connection_id, options=fast_options())
    someone_waits.clear()
    result = CliRunner().invoke(app, ["sync", str(connection_id), "--json"])
    worker.join(timeout=60)

    (line,) = [line for line in result.stdout.splitlines() if line.strip()]
    summary = json.loads(line)
    assert result.exit_code == 0 and set(summary) == {"events", "orders", "contacts", "calls", "seconds"}
    assert (summary["events"], summary["orders"], summary["contacts"]) == (2, 9, 9)
    (by_worker,) = worker_results
    assert (by_worker.events, by_worker.orders, by_worker.contacts) == (2, 9, 9)
    assert summary["calls"] == by_worker.calls  # it finished: nothing left to read, no second count
    drain(db)
    assert count_orders(db, org.organization_id) == (9, 9)


def test_the_connection_counts_the_buyers_it_brought(db: Database, org: Tenant, eb: FakeEventbrite) -> None:
    """Eventbrite sends no contact records: its buyers are the connection's contacts all the same."""
    _eventbrite_with_nine_buyers(eb)
    connection_id = int(connect_eventbrite(db, org.organization_id, eb.token, base_url=eb.base_url)["id"])
    result = run_sync(db, connection_id, options=fast_options())
    assert (result.events, result.orders, result.contacts) == (2, 9, 9)
    drain(db)
    again = run_sync(db, connection_id, options=fast_options())
    assert (again.events, again.orders, again.contacts, again.joined) == (0, 0, 0, False)  # nothing new
    listing = CliRunner().invoke(app, ["connections", "--org", str(org.organization_id), "--json"])
    (row,) = json.loads(listing.stdout)["connections"]
    assert row["counts"]["events"] == 2 and row["counts"]["orders"] == 9 and row["counts"]["contacts"] == 9


def test_a_scan_checkpointed_before_the_declared_streams_resumes(
    db: Database, org: Tenant, tt: FakeTicketTailor
) -> None:
    """Run states written with the old key names (gte, max_created) resume where they stood."""
    event = tt.add_event("Gig")
    orders = [tt.add_order(event["id"], email=f"r{i}@example.com") for i in range(150)]
    connection_id = int(connect_tickettailor(db, org.organization_id, tt.api_key, base_url=tt.base_url)["id"])
    newest_first = sorted(orders, key=lambda o: int(str(o["id"]).rsplit("_", 1)[-1]), reverse=True)
    with db.write() as session:
        session.add(Checkpoint(connection_id=connection_id, stream="events", state={}))
        legacy = {"gte": None, "starting_after": newest_first[99]["id"], "max_created": 1}
        session.add(Checkpoint(connection_id=connection_id, stream="orders", state={"cursor": None, "run": legacy}))
    tt.request_log.clear()
    result = run_sync(db, connection_id, options=fast_options())
    assert "starting_after=" in next(line for line in tt.request_log if "/v1/orders" in line)
    assert result.orders == 50  # the 50 older than the position, not all 150
    with db.read() as session:
        state = next(c.state for c in session.query(Checkpoint).filter_by(stream="orders"))
    assert "run" not in state and isinstance(state["cursor"], int) and state["cursor"] > 1
