"""`fanhub contact export|erase` and `fanhub audit` print one JSON object each (the document, the
counts, the audit page); `fanhub suppressions list` shows an erased address only as its hash; and
no MCP tool can export or erase a person."""

from __future__ import annotations

import inspect
import json
import sys
from typing import Any

import anyio
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from fanhub.audience import suppression
from fanhub.cli import app
from fanhub.db.engine import Database
from fanhub.mcp.server import tool_functions
from tests.conftest import make_tenant
from tests.mcp.conftest import stdio_client
from tests.privacy.conftest import EMAIL, PHONE, SOURCE_EMAIL, Person


def _run(*args: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(app, [*args, "--json"])
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, result.stdout  # exactly one JSON object
    return result.exit_code, json.loads(lines[0])


def test_contact_export_erase_and_audit(client: TestClient, db: Database, person: Person) -> None:
    org, cid = str(person.org), str(person.contact_id)
    code, document = _run("contact", "export", cid, "--org", org)
    assert code == 0 and document["contact_id"] == person.contact_id
    assert document["contact"]["email"] == EMAIL and len(document["orders"]) == 2
    assert set(document) >= {"contact", "consent_history", "orders", "deliveries", "bounces", "form_submissions"}

    code, by_address = _run("contact", "export", "--email", SOURCE_EMAIL, "--org", org)
    assert code == 0 and [d["contact_id"] for d in by_address["contacts"]] == [person.contact_id]

    code, refused = _run("contact", "export", cid, "--email", EMAIL, "--org", org)
    assert code == 1 and "either" in refused["error"]
    code, missing = _run("contact", "erase", "--email", "nobody@example.com", "--org", org)
    assert code == 1 and "no contact" in missing["error"]
    other = make_tenant(db, "Another venue", "other")
    code, foreign = _run("contact", "erase", cid, "--org", str(other.organization_id))
    assert code == 1 and "not found" in foreign["error"]

    code, erased = _run("contact", "erase", "--email", EMAIL, "--org", org)
    assert code == 0 and erased["contact_ids"] == [person.contact_id]
    assert erased["erased"]["contacts"] == 1 and erased["erased"]["orders"] == 2
    assert erased["erased"]["suppressed"] == 3

    code, listed = _run("suppressions", "list", "--org", org, "--reason", "erased")
    assert code == 0
    shown = {s["address"] for s in listed["suppressions"]}
    assert shown == {suppression.erased_key(person.org, a) for a in (EMAIL, SOURCE_EMAIL, PHONE)}
    assert EMAIL not in json.dumps(listed) and PHONE not in json.dumps(listed)

    code, page = _run("audit", "--org", org)
    assert code == 0 and set(page) == {"entries", "page", "has_more"} and page["page"] == 1
    assert page["has_more"] is False
    assert [set(e) for e in page["entries"]] == [{"actor", "action", "contact_id", "at"}] * len(page["entries"])
    privacy = [(e["actor"], e["action"], e["contact_id"]) for e in page["entries"]][:3]
    assert privacy == [
        ("cli", "contact.erase", person.contact_id),
        ("cli", "contact.export", person.contact_id),
        ("cli", "contact.export", person.contact_id),
    ]
    assert all(e["at"].endswith("Z") for e in page["entries"])

    # A staff member lifts the email's hash by typing the address (hashed, never stored): audited.
    assert _run("suppressions", "remove", EMAIL, "--org", org)[1]["removed"] is True
    code, page = _run("audit", "--org", org, "--privacy")
    assert [e["action"] for e in page["entries"]][:2] == ["suppression.remove", "contact.erase"]
    assert EMAIL not in json.dumps(page)


def test_no_mcp_tool_exports_or_erases_a_person(db: Database) -> None:
    """Data-rights requests are for staff in the manager and the operator at the CLI, not for an AI
    client: no tool reaches the privacy package, and none is named or described as erasing or
    exporting a contact (export_attendee_data is an event's buyer list, as before)."""
    words = ("erase", "forget", "wipe", "delete", "contact_export", "export_contact", "personal")
    specs = tool_functions()
    names = {spec.name for spec, _ in specs}
    assert "get_contact" in names and not [n for n in names if any(w in n for w in words)]
    for _, fn in specs:
        source = inspect.getsource(sys.modules[fn.__module__])
        assert "fanhub.privacy" not in source, fn.__module__
    tenant = make_tenant(db)

    async def listed() -> dict[str, str]:
        async with stdio_client(tenant.organization_id) as mcp:
            return {t.name: t.description or "" for t in (await mcp.list_tools()).tools}

    tools = anyio.run(listed)
    assert set(tools) == names  # the full-permission operator sees every tool, and none of them erases
    assert not [n for n, d in tools.items() if any(w in f"{n} {d}".lower() for w in ("erase", "forget", "wipe"))]
