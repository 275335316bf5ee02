"""`fanhub campaign create|preview|send` and `fanhub campaigns`, each printing one JSON object with --json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from fanhub.cli import app
from fanhub.config import Settings
from fanhub.db.engine import Database
from tests.campaigns.conftest import add_contact
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
