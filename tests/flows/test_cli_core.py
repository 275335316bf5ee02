"""`fanhub flow validate|create|activate|pause|resume|show|simulate`, `fanhub flows` and `fanhub org
update`, each printing exactly one JSON object with --json; errors name the field or JSON path."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from tests.campaigns.conftest import add_contact, add_event, order, post_orders
from tests.conftest import Tenant
from tests.flows.core_helpers import EMAIL_STEP, document
from typer.testing import CliRunner

from fanhub.cli import app
from fanhub.db.base import utcnow
from fanhub.db.engine import Database
from fanhub.organizations.models import Organization


def _run(*args: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(app, [*args, "--json"])
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, result.stdout
    return result.exit_code, json.loads(lines[0])


def _file(tmp_path: Path, doc: object, name: str = "flow.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return str(path)


def test_validate_names_every_json_path(tmp_path: Path, db: Database) -> None:
    bad = document(
        {"type": "before_event", "offset": "tomorrow"},
        EMAIL_STEP,
        {"type": "wait", "duration": "PT4X"},
        {"type": "condition", "segment": {"tags": ["VIP"]}, "otherwise": "maybe"},
        {"type": "send", "channel": "email", "body": "no subject"},
        {"type": "teleport"},
    )
    code, result = _run("flow", "validate", "--file", _file(tmp_path, bad))
    assert code == 1 and result["valid"] is False
    assert {e["field"] for e in result["errors"]} == {
        "trigger.offset",
        "steps[1].duration",
        "steps[2].otherwise",
        "steps[3].subject",
        "steps[4].type",
    }
    code, result = _run("flow", "validate", "--file", _file(tmp_path, document({"type": "order_placed"}), "ok.json"))
    assert code == 0 and result == {"valid": True, "errors": [], "name": "Test flow"}
    code, result = _run("flow", "validate", "--file", str(tmp_path / "missing.json"))
    assert code == 1 and "--file" in result["error"]


def test_flow_lifecycle_commands(client: TestClient, db: Database, tenant: Tenant, tmp_path: Path) -> None:
    org = str(tenant.organization_id)
    add_event(client, db, tenant)
    ann = add_contact(client, db, tenant, "ann@example.com")
    doc = document({"type": "order_placed"}, EMAIL_STEP, {"type": "wait", "duration": "P1D"}, EMAIL_STEP)
    code, created = _run("flow", "create", "--org", org, "--file", _file(tmp_path, doc))
    assert code == 0 and set(created) == {"id", "status"} and created["status"] == "draft"
    flow_id = str(created["id"])
    code, activated = _run("flow", "activate", flow_id)
    assert code == 0 and activated["status"] == "active"
    code, again = _run("flow", "activate", flow_id)
    assert code == 1 and again["error"].startswith("status:")
    post_orders(client, db, tenant, order("o1", "ann@example.com", utcnow()))
    from fanhub.flows.jobs import advance_enrollments

    advance_enrollments(db)
    code, shown = _run("flow", "show", flow_id)
    assert code == 0 and shown["definition"]["steps"][0]["subject"] == EMAIL_STEP["subject"]
    assert shown["enrollments"]["entered"] == 1 and shown["enrollments"]["active"] == 1
    assert [(s["entered"], s["at_step"], s["completed"], s["sent"]) for s in shown["steps"]] == [
        (1, 0, 1, 1),
        (1, 0, 1, 0),
        (1, 1, 0, 0),
    ]
    at = (utcnow() + timedelta(days=2)).isoformat()
    code, plan = _run("flow", "simulate", flow_id, "--at", at)
    assert code == 0 and [(s["contact_id"], s["step"], s["channel"]) for s in plan["sends"]] == [(ann, 2, "email")]
    code, paused = _run("flow", "pause", flow_id)
    assert code == 0 and paused["status"] == "paused"
    code, resumed = _run("flow", "resume", flow_id)
    assert code == 0 and resumed["status"] == "active"
    code, listed = _run("flows", "--org", org)
    assert code == 0 and [(f["id"], f["status"], f["enrollments"]["entered"]) for f in listed["flows"]] == [
        (int(flow_id), "active", 1)
    ]
    code, missing = _run("flow", "show", "999")
    assert code == 1 and "flow 999 not found" in missing["error"]


def test_activate_with_backfill(client: TestClient, db: Database, tenant: Tenant, tmp_path: Path) -> None:
    add_event(client, db, tenant)
    add_contact(client, db, tenant, "ann@example.com")
    post_orders(client, db, tenant, order("o1", "ann@example.com", utcnow() - timedelta(days=2)))
    doc = document({"type": "order_placed"}, reentry="per_trigger")
    for backfill, expected in ((None, 0), ((utcnow() - timedelta(days=3)).isoformat(), 1)):
        _, created = _run("flow", "create", "--org", str(tenant.organization_id), "--file", _file(tmp_path, doc))
        args = ["--backfill", backfill] if backfill else []
        code, _ = _run("flow", "activate", str(created["id"]), *args)
        _, shown = _run("flow", "show", str(created["id"]))
        assert code == 0 and shown["enrollments"]["entered"] == expected


def test_org_update_settings(db: Database, tenant: Tenant) -> None:
    org = str(tenant.organization_id)
    code, result = _run(
        "org",
        "update",
        org,
        "--max-messages-per-day",
        "3",
        "--quiet-hours",
        "22:00-07:30",
        "--time-zone",
        "Europe/Paris",
    )
    assert code == 0 and result == {
        "id": tenant.organization_id,
        "time_zone": "Europe/Paris",
        "quiet_hours": "22:00-07:30",
        "max_messages_per_day": 3,
        "over_cap": "defer",
    }
    code, result = _run("org", "update", org, "--quiet-hours", "9pm-8am")
    assert code == 1 and result["error"].startswith("quiet_hours:")
    code, result = _run("org", "update", org, "--max-messages-per-day", "-1")
    assert code == 1 and result["error"].startswith("max_messages_per_day:")
    code, result = _run("org", "update", org, "--time-zone", "Mars/Olympus", "--over-cap", "drop")
    assert code == 1 and result["error"].startswith("time_zone:")
    with db.read() as session:
        saved = session.get(Organization, tenant.organization_id)
        assert saved is not None and (saved.time_zone, saved.over_cap, saved.max_messages_per_day) == (
            "Europe/Paris",
            "defer",
            3,
        )
