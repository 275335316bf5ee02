"""`fanhub campaign create|edit|duplicate|delete|preview|send|cancel|pause|resume` and `fanhub campaigns`,
each printing one JSON object with --json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from fanhub.cli import app
from fanhub.config import Settings
from fanhub.db.engine import Database
from tests.campaigns.conftest import add_contact, add_event
from tests.conftest import Tenant
from tests.fakes.smtp import FakeSmtpServer


def _run(*args: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(app, [*args, "--json"])
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, result.stdout
    return result.exit_code, json.loads(lines[0])


def test_campaign_commands(
    client: TestClient,
    db: Database,
    tenant: Tenant,
    campaign_env: Settings,
    smtp_server: FakeSmtpServer,
    tmp_path: Path,
) -> None:
    org = str(tenant.organization_id)
    add_contact(client, db, tenant, "ann@example.com", first_name="Ann")
    add_contact(client, db, tenant, "ben@example.com", first_name="Ben")
    body = tmp_path / "body.html"
    body.write_text("<p>Hello {{ first_name }}, see <a href='https://bellyupaspen.com/'>shows</a></p>")

    code, created = _run(
        "campaign",
        "create",
        "--org",
        org,
        "--type",
        "email",
        "--name",
        "Hello",
        "--subject",
        "Hi {{ first_name }}",
        "--body-file",
        str(body),
        "--audience",
        "{}",
    )
    assert code == 0 and set(created) == {"id"}
    campaign_id = str(created["id"])

    code, preview = _run("campaign", "preview", campaign_id)
    assert code == 0 and preview["recipients"] == 2 and preview["sample"]["subject"] == "Hi Ann"

    code, error = _run(
        "campaign",
        "create",
        "--org",
        org,
        "--type",
        "email",
        "--name",
        "Bad",
        "--subject",
        "S",
        "--body-file",
        str(body),
        "--audience",
        '{"nope": []}',
    )
    assert code != 0 and "audience.nope" in error["error"]

    code, sent = _run("campaign", "send", campaign_id, "--wait")
    assert code == 0
    assert (sent["status"], sent["recipients"], sent["delivered"]) == ("sent", 2, 2)
    assert len(smtp_server.received()) == 2

    code, listing = _run("campaigns", "--org", org)
    assert code == 0 and [(c["id"], c["status"]) for c in listing["campaigns"]] == [(int(campaign_id), "sent")]

    code, again = _run("campaign", "send", campaign_id)
    assert code != 0 and "already sent" in again["error"]

    code, later = _run("campaign", "create", "--org", org, "--type", "sms", "--name", "Later", "--body-file", str(body))
    code, scheduled = _run("campaign", "send", str(later["id"]), "--at", "2099-01-01T00:00:00Z")
    assert code == 0 and scheduled == {"id": later["id"], "status": "scheduled", "scheduled_at": "2099-01-01T00:00:00Z"}

    # Without --json: a Rich progress bar, then a sentence for people.
    code, second = _run(
        "campaign",
        "create",
        "--org",
        org,
        "--type",
        "email",
        "--name",
        "Again",
        "--subject",
        "S",
        "--body-file",
        str(body),
    )
    result = CliRunner().invoke(app, ["campaign", "send", str(second["id"]), "--wait"])
    assert result.exit_code == 0, result.stdout
    assert f"Campaign {second['id']} sent: 2 delivered" in result.stdout


def _create(org: str, body: Path, *extra: str) -> int:
    code, created = _run(
        "campaign", "create", "--org", org, "--type", "email", "--name", "Draft", "--subject", "S",
        "--body-file", str(body), *extra,
    )  # fmt: skip
    assert code == 0, created
    return int(created["id"])


def test_campaign_lifecycle_commands(
    client: TestClient,
    db: Database,
    tenant: Tenant,
    campaign_env: Settings,
    smtp_server: FakeSmtpServer,
    tmp_path: Path,
) -> None:
    from fanhub.audience.service import create_tag
    from fanhub.campaigns.lifecycle import pause_campaign
    from fanhub.campaigns.sending import start_due

    org = str(tenant.organization_id)
    event_id = add_event(client, db, tenant)
    with db.write() as session:
        create_tag(session, tenant.organization_id, "VIP")
    for i in range(3):
        add_contact(client, db, tenant, f"fan{i}@example.com", first_name=f"Fan{i}", tags=["VIP"] if i else None)
    body = tmp_path / "body.html"
    body.write_text("<p>Hello {{ first_name }}</p>")
    campaign_id = str(_create(org, body))

    # edit takes create's options; only those given change
    new_body = tmp_path / "new.html"
    new_body.write_text("<p>Hi {{ first_name }}, {{ event_name }}</p>")
    code, edited = _run(
        "campaign", "edit", campaign_id, "--name", "Renamed", "--subject", "New {{ first_name }}",
        "--body-file", str(new_body), "--audience", '{"tags": ["VIP"]}', "--event", str(event_id),
    )  # fmt: skip
    assert code == 0, edited
    assert (edited["name"], edited["subject"], edited["audience"], edited["event_id"]) == (
        "Renamed", "New {{ first_name }}", {"tags": ["VIP"]}, event_id,
    )  # fmt: skip
    assert edited["status"] == "draft" and "edit" in edited["actions"]
    code, error = _run("campaign", "edit", campaign_id, "--audience", '{"nope": []}')
    assert code != 0 and "audience.nope" in error["error"]
    code, error = _run("campaign", "edit", campaign_id)
    assert code != 0 and "nothing to change" in error["error"]

    code, copy = _run("campaign", "duplicate", campaign_id)
    assert code == 0 and (copy["name"], copy["status"]) == ("Copy of Renamed", "draft")
    code, deleted = _run("campaign", "delete", str(copy["id"]))
    assert code == 0 and deleted == {"id": copy["id"], "deleted": True}
    code, error = _run("campaign", "delete", str(copy["id"]))
    assert code != 0 and "not found" in error["error"]

    # scheduled (a local time, read in the organization's zone), then cancelled back to draft
    code, scheduled = _run("campaign", "send", campaign_id, "--at", "2099-01-01T09:00")
    assert code == 0 and scheduled["scheduled_at"] == "2099-01-01T09:00:00Z"  # the organization is on UTC
    code, error = _run("campaign", "edit", campaign_id, "--name", "x")
    assert code != 0 and "cancel the scheduled send to edit it" in error["error"]
    code, cancelled = _run("campaign", "cancel", campaign_id)
    assert code == 0 and (cancelled["status"], cancelled["scheduled_at"]) == ("draft", None)
    code, error = _run("campaign", "pause", campaign_id)
    assert code != 0 and "only a sending campaign can be paused" in error["error"]

    # sending: paused, the --wait send stops at once; resumed, it finishes with nobody twice
    code, _ = _run("campaign", "send", campaign_id)
    with db.write() as session:
        assert start_due(session) == [int(campaign_id)]
        pause_campaign(session, tenant.organization_id, int(campaign_id))
    code, error = _run("campaign", "pause", campaign_id)
    assert code != 0 and "already paused" in error["error"]
    code, resumed = _run("campaign", "resume", campaign_id)
    assert code == 0 and resumed["status"] == "sending" and "pause" in resumed["actions"]
    code, paused = _run("campaign", "pause", campaign_id)
    assert code == 0 and paused["status"] == "paused" and paused["paused_at"]
    code, _ = _run("campaign", "resume", campaign_id)
    code, sent = _run("campaign", "send", campaign_id, "--wait")
    assert code != 0 and "already sending" in sent["error"]
    code, error = _run("campaign", "cancel", str(_create(org, body)))
    assert code != 0 and "there is no send to cancel" in error["error"]


def test_send_wait_shows_a_progress_bar_and_stops_when_cancelled(
    client: TestClient, db: Database, tenant: Tenant, campaign_env: Settings, tmp_path: Path
) -> None:
    org = str(tenant.organization_id)
    for i in range(3):
        add_contact(client, db, tenant, f"fan{i}@example.com", first_name=f"Fan{i}")
    body = tmp_path / "body.html"
    body.write_text("<p>Hello {{ first_name }}</p>")
    campaign_id = _create(org, body)
    result = CliRunner().invoke(app, ["campaign", "send", str(campaign_id), "--wait"])
    assert result.exit_code == 0, result.stdout
    assert "sending" in result.stdout and "3/3" in result.stdout  # the Rich bar's last frame
    code, error = _run("campaign", "cancel", str(campaign_id))
    assert code != 0 and "is sent; there is nothing left to cancel" in error["error"]
