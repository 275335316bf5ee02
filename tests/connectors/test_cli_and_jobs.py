"""CLI (`connect`, `sync --json`, `connections`), the worker's scheduled syncs, and credentials at rest."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from fanhub.cli import app
from fanhub.config import Settings
from fanhub.connectors import cli as _connector_cli  # noqa: F401  (registers the commands)
from fanhub.connectors import crypto
from fanhub.connectors.jobs import run_due_syncs
from fanhub.connectors.models import Connection
from fanhub.connectors.service import connect_eventbrite, connect_tickettailor, set_interval
from fanhub.db.engine import Database
from fanhub.secrets import KEY_FILE
from tests.conftest import Tenant, drain
from tests.fakes.eventbrite import FakeEventbrite
from tests.fakes.ticketor import FakeTicketor
from tests.fakes.tickettailor import FakeTicketTailor

from .conftest import count_orders

runner = CliRunner()


def invoke(*args: str) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(app, [*args, "--json"])
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, result.stdout  # exactly one JSON object
    return result.exit_code, json.loads(lines[0])


def test_cli_connect_sync_and_list(db: Database, org: Tenant, tt: FakeTicketTailor, tr: FakeTicketor) -> None:
    event = tt.add_event("Gig")
    for i in range(130):
        tt.add_order(event["id"], email=f"cli{i}@example.com")
    code, out = invoke(
        "connect", "tickettailor", "--org", str(org.organization_id), "--api-key", tt.api_key, "--base-url", tt.base_url
    )
    assert code == 0 and set(out) == {"id", "webhook_url"}
    assert str(out["webhook_url"]).startswith("http://127.0.0.1:8000/v1/webhooks/tickettailor/")

    code, summary = invoke("sync", str(out["id"]))
    assert code == 0 and set(summary) == {"events", "orders", "contacts", "calls", "seconds"}
    assert summary["orders"] == 130 and summary["events"] == 1 and summary["calls"] >= 3

    code, listing = invoke("connections", "--org", str(org.organization_id))
    assert code == 0
    (row,) = listing["connections"]
    assert row["status"] == "active" and row["counts"]["orders"] == 130 and row["last_sync_at"]

    code, bad = invoke(
        "connect", "tickettailor", "--org", str(org.organization_id), "--api-key", "nope", "--base-url", tt.base_url
    )
    assert code == 1 and "rejected" in str(bad["error"])
    code, ticketor = invoke(
        "connect",
        "ticketor",
        "--org",
        str(org.organization_id),
        "--site",
        tr.site_host,
        "--username",
        tr.username,
        "--password",
        tr.password,
        "--client-id",
        "1",
        "--base-url",
        tr.base_url,
    )
    assert code == 0 and "/v1/webhooks/ticketor/" in str(ticketor["webhook_url"])
    code, bad = invoke(
        "connect",
        "ticketor",
        "--org",
        str(org.organization_id),
        "--site",
        tr.site_host,
        "--username",
        tr.username,
        "--password",
        "wrong",
        "--client-id",
        "1",
        "--base-url",
        tr.base_url,
    )
    assert code == 1 and "error" in bad
    drain(db)
    assert count_orders(db, org.organization_id) == (130, 130)


def test_cli_eventbrite_needs_a_choice_of_organization(db: Database, org: Tenant, eb: FakeEventbrite) -> None:
    eb.add_organization("One", id="1")
    eb.add_organization("Two", id="2")
    code, out = invoke(
        "connect", "eventbrite", "--org", str(org.organization_id), "--token", eb.token, "--base-url", eb.base_url
    )
    assert code == 1 and "1 (One)" in str(out["error"]) and "2 (Two)" in str(out["error"])
    code, out = invoke(
        "connect",
        "eventbrite",
        "--org",
        str(org.organization_id),
        "--token",
        eb.token,
        "--base-url",
        eb.base_url,
        "--organization-id",
        "2",
        "--public-url",
        "https://fh.example",
    )
    assert code == 0 and str(out["webhook_url"]).startswith("https://fh.example/v1/webhooks/eventbrite/")
    assert [h["endpoint_url"] for h in eb.webhooks.values()] == [out["webhook_url"]]
    code, out = invoke("sync", "999")
    assert code == 1 and "not found" in str(out["error"])


def test_scheduler_runs_due_syncs_and_isolates_failures(
    db: Database, org: Tenant, tt: FakeTicketTailor, eb: FakeEventbrite
) -> None:
    organization = eb.add_organization("Org", id="7")
    show = eb.add_event("Show", organization_id=organization["id"])
    eb.add_order(show["id"], email="a@example.com")
    tt.add_order(tt.add_event("Gig")["id"], email="b@example.com")
    broken_id = connect_eventbrite(db, org.organization_id, eb.token, base_url=eb.base_url)["id"]
    good_id = connect_tickettailor(db, org.organization_id, tt.api_key, base_url=tt.base_url)["id"]
    set_interval(db, good_id, 5)
    eb.fail_next(50, status=400)  # the Eventbrite side misbehaves: it fails, and must not block Ticket Tailor

    assert run_due_syncs(db) and run_due_syncs(db)
    with db.read() as session:
        broken = session.get(Connection, broken_id)
        good = session.get(Connection, good_id)
        assert broken is not None and good is not None
        assert broken.last_error and broken.failures == 1 and broken.next_sync_at is not None
        assert broken.next_sync_at > datetime.now(UTC) and broken.lease_until is None
        assert good.last_error is None and good.last_sync_at is not None
        assert good.next_sync_at is not None
        assert timedelta(minutes=4) < good.next_sync_at - good.last_sync_at <= timedelta(minutes=5)
    assert not run_due_syncs(db)  # nothing due now
    with db.write() as session:
        session.execute(update(Connection).values(next_sync_at=datetime.now(UTC) - timedelta(seconds=1)))
    eb._fail_queue.clear()
    assert run_due_syncs(db) and run_due_syncs(db)
    drain(db)
    assert count_orders(db, org.organization_id) == (2, 2)


def test_credentials_are_encrypted_at_rest(db: Database, org: Tenant, tt: FakeTicketTailor) -> None:
    connect_tickettailor(db, org.organization_id, tt.api_key, webhook_secret="whsec_zz", base_url=tt.base_url)
    with db.read() as session:
        stored = session.scalars(select(Connection.credentials)).one()
    assert tt.api_key not in stored and "whsec_zz" not in stored
    assert crypto.decrypt_json(stored)["api_key"] == tt.api_key


def test_generated_key_file_is_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'x' / 'fanhub.db'}", secret_key=None)
    token = crypto.encrypt_json({"a": 1}, settings)
    key_file = tmp_path / "x" / KEY_FILE
    assert key_file.exists() and stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert crypto.decrypt_json(token, settings) == {"a": 1}  # the same key is read back
    other = Settings(database_url=f"sqlite:///{tmp_path / 'y' / 'fanhub.db'}", secret_key=None)
    with pytest.raises(crypto.CredentialsUnreadable):
        crypto.decrypt_json(token, other)


def test_fanhub_process_sync_json_and_human_listing(
    db: Database, org: Tenant, tt: FakeTicketTailor, database_url: str
) -> None:
    import subprocess
    import sys

    tt.add_order(tt.add_event("Gig")["id"], email="proc@example.com")
    connection_id = connect_tickettailor(db, org.organization_id, tt.api_key, base_url=tt.base_url)["id"]
    env = {**os.environ, "FANHUB_DATABASE_URL": database_url}
    done = subprocess.run(
        [sys.executable, "-m", "fanhub", "sync", str(connection_id), "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.strip().splitlines()
    assert json.loads(line)["orders"] == 1
    human = runner.invoke(app, ["connections", "--org", str(org.organization_id)])
    assert human.exit_code == 0 and "tickettailor" in human.stdout and "orders 1" in human.stdout
