"""`fanhub suppressions ...` and `fanhub bounces import` print one JSON object each and go through
the same rules as the other routes (audited removal, a folder of DSNs matched and applied once)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from fanhub.campaigns.sending import run_campaign
from fanhub.cli import app
from fanhub.config import Settings
from fanhub.db.engine import Database
from fanhub.organizations.audit import AuditEntry
from tests.campaigns.conftest import add_contact, campaign_env, smtp_server, twilio  # noqa: F401 (fixtures)
from tests.conftest import Tenant
from tests.deliverability.test_apply import BOUNCES, _campaign, arf, bounce_env, dsn  # noqa: F401 (fixture)
from tests.fakes.smtp import FakeSmtpServer


def _run(*args: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(app, [*args, "--json"])
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, result.stdout  # exactly one JSON object
    return result.exit_code, json.loads(lines[0])


def test_suppression_commands(db: Database, tenant: Tenant, tmp_path: Path) -> None:
    org = str(tenant.organization_id)
    assert _run("suppressions", "add", "Fan@Example.com", "--org", org) == (
        0,
        {"address": "fan@example.com", "added": True},
    )
    code, refused = _run("suppressions", "add", "not-an-address", "--org", org)
    assert code == 1 and "address" in refused["error"]
    export = tmp_path / "other.csv"
    export.write_text("Email Address,Reason\nA@example.com,bounced\nfan@example.com,\nnonsense,\n")
    assert _run("suppressions", "import", str(export), "--org", org)[1] == {
        "read": 3,
        "added": 1,
        "already": 1,
        "invalid": 1,
    }
    code, listed = _run("suppressions", "list", "--org", org)
    assert code == 0 and listed["has_more"] is False and listed["page"] == 1
    assert [(s["address"], s["reason"]) for s in listed["suppressions"]] == [
        ("a@example.com", "imported"),
        ("fan@example.com", "manual"),
    ]
    out = tmp_path / "out.csv"
    assert _run("suppressions", "export", "--org", org, "-o", str(out))[1]["count"] == 2
    assert out.read_text().splitlines()[0] == "address,reason,source,detail,created_at"
    assert _run("suppressions", "remove", "fan@example.com", "--org", org)[1]["removed"] is True
    code, missing = _run("suppressions", "remove", "fan@example.com", "--org", org)
    assert code == 1 and "not on" in missing["error"]
    with db.read() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "suppression.remove")).one()
        assert (entry.actor, entry.details["address"]) == ("cli", "fan@example.com")
    assert _run("suppressions", "list", "--org", "999999")[0] == 1  # another organization: not found


def test_bounces_import_counts_a_folder_once(
    client: TestClient,
    db: Database,
    tenant: Tenant,
    bounce_env: Settings,  # noqa: F811
    smtp_server: FakeSmtpServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    for i in range(3):
        add_contact(client, db, tenant, f"fan{i:02d}@example.com", first_name=f"Fan{i}")
    run_campaign(db, _campaign(db, tenant, "News"))
    folder = tmp_path / "bounces"
    folder.mkdir()
    (folder / "1.eml").write_bytes(dsn(BOUNCES, "fan00@example.com", "5.1.1", "550 5.1.1 User unknown"))
    (folder / "2.eml").write_bytes(dsn(BOUNCES, "fan01@example.com", "4.2.2", "452 4.2.2 Mailbox full"))
    (folder / "3.eml").write_bytes(arf(BOUNCES, "fan02@example.com"))
    (folder / "4.eml").write_bytes(b"From: a@example.net\r\nSubject: hello\r\n\r\nJust a reply\r\n")
    (folder / "5.eml").write_bytes(dsn(BOUNCES, "nobody@example.org", "5.1.1", "550 5.1.1 User unknown"))
    expected = {"read": 5, "hard": 1, "soft": 1, "complaints": 1, "ignored": 1, "unmatched": 1, "duplicates": 0}
    assert _run("bounces", "import", str(folder)) == (0, expected)
    again = _run("bounces", "import", str(folder))[1]
    assert (again["hard"], again["soft"], again["complaints"], again["duplicates"]) == (0, 0, 0, 3)
    assert _run("bounces", "import", str(tmp_path / "missing"))[0] == 1
