"""Erasure reaches every copy fanhub keeps: CSV import rows (a draft never run keeps its chunks, a
run import its preview), connector webhook bodies, the MCP call log, suppression removals in the
audit log, and bounces or complaints arriving after the erasure. Each is put there through its real
path, the person is erased, the worker's redaction job runs, and then every text and JSON column of
every table is scanned for her addresses, phone and names: a future table holding personal data
fails here unless erasure covers it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import JSON, LargeBinary, String, Text, select

from fanhub.audience import suppression
from fanhub.audience.models import Contact
from fanhub.auth.actor import Actor
from fanhub.campaigns.sending.trace import delivery_token
from fanhub.config import Settings, get_settings
from fanhub.connectors.models import WebhookDelivery
from fanhub.connectors.service import connect_tickettailor
from fanhub.connectors.webhooks import process_due
from fanhub.db.base import Base
from fanhub.db.engine import Database
from fanhub.deliverability.apply import apply_message
from fanhub.deliverability.models import Bounce
from fanhub.errors import NotFound
from fanhub.imports import service as imports
from fanhub.imports.models import ContactImport, ImportChunk
from fanhub.mcp.models import McpAuditEntry
from fanhub.mcp.tools.base import WriteCall
from fanhub.organizations.audit import AuditEntry
from fanhub.privacy.redact import Redaction, redact_step
from fanhub.privacy.scrub import Needles
from fanhub.privacy.service import erase_request
from tests.conftest import drain
from tests.deliverability.test_apply import arf, dsn
from tests.fakes.tickettailor import FakeTicketTailor
from tests.manager.test_imports import work_off
from tests.privacy.conftest import EMAIL, FIRST, LAST, NEEDLES, OTHER, PHONE, Person, delivery_for

BOUNCES = "bounces@mail.bellyup.example"
NATIONAL = "(970) 555-0199"  # her phone as a venue's spreadsheet writes it
CSV = (
    "Email,Phone,First Name,Last Name,Notes\n"
    f"Zelda.Quartz@Example.COM,{NATIONAL},{FIRST},{LAST},met {FIRST} at the bar\n"
    f"{OTHER},,Otto,Other,regular\n"
)
# Every form of her the stores below were given, beside the fixture's (addresses, names, IP, agent).
EVERY_NEEDLE = (*NEEDLES, "555-0199", "met zelda")
OTHER_NAMES = ("Otto", OTHER)


@pytest.fixture
def tt() -> Iterator[FakeTicketTailor]:
    with FakeTicketTailor(rate_limit=None) as fake:
        yield fake


@pytest.fixture
def bounce_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    monkeypatch.setenv("FANHUB_BOUNCE_ADDRESS", BOUNCES)
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


def text_hits(db: Database, needles: tuple[str, ...]) -> dict[str, list[str]]:
    """{"table.column": [needle, ...]} over every text, JSON and binary column of every table."""
    hits: dict[str, list[str]] = {}
    with db.read() as session:
        for table in Base.metadata.sorted_tables:
            columns = [c for c in table.columns if isinstance(c.type, String | Text | JSON | LargeBinary)]
            for column in columns:
                values = session.scalars(select(column).where(column.is_not(None))).all()
                text = "\n".join(_as_text(v) for v in values).lower()
                found = sorted({n for n in needles if n.lower() in text})
                if found:
                    hits[f"{table.name}.{column.name}"] = found
    return hits


def _as_text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _put_her_everywhere(client: TestClient, db: Database, person: Person, tt: FakeTicketTailor) -> None:
    org = person.org
    with db.write() as session:
        draft = imports.create_upload(session, org, "bar-signups.csv", CSV.encode(), "staff:1")
        ran = imports.create_upload(session, org, "old-list.csv", CSV.encode(), "staff:1")
        ran_id = ran.public_id
        imports.configure_import(session, org, ran_id, mode="dont_change", mapping=dict(ran.mapping))
        assert draft.status == "draft"
    work_off(db, ran_id)
    # A Ticket Tailor order webhook, stored for processing and replay, then processed.
    event = tt.add_event("Gig")
    order = tt.add_order(event["id"], email=EMAIL, first_name=FIRST, last_name=LAST, phone=PHONE)
    tt.add_order(event["id"], email=OTHER, first_name="Otto", last_name="Other", phone=None)
    result = connect_tickettailor(
        db, org, tt.api_key, webhook_secret="whsec_1", base_url=tt.base_url, public_url="http://testserver"
    )
    headers, raw = tt.signed_delivery("whsec_1", "ORDER.CREATED", order["id"], delivery_id="wh_1")
    path = "/" + result["webhook_url"].split("/", 3)[3]
    assert client.post(path, content=raw, headers=headers).status_code == 200
    process_due(db)
    drain(db)
    # An MCP write tool's call naming her, refused: its arguments and error are logged.
    call = WriteCall(db, Actor.mcp(org, None, frozenset({"mcp:write"})), "tag_contacts")
    call.record({"emails": [EMAIL, OTHER], "tag": "VIP"}, "error", {}, NotFound(f"no contact {EMAIL}"))
    # Staff suppressed her by hand and lifted it again, before the erasure.
    with db.write() as session:
        suppression.suppress(session, org, EMAIL, suppression.MANUAL, "staff:1")
        assert suppression.remove(session, org, EMAIL, "staff:1")


def test_erasure_and_the_redaction_job_leave_her_nowhere(
    client: TestClient, db: Database, person: Person, tt: FakeTicketTailor, bounce_settings: Settings
) -> None:
    _put_her_everywhere(client, db, person, tt)
    before = text_hits(db, EVERY_NEEDLE)
    for column in (
        "contact_import_chunks.rows",
        "contact_imports.preview",
        "connector_webhook_deliveries.body",
        "mcp_audit_log.arguments",
        "mcp_audit_log.error",
        "audit_log.details",
    ):
        assert column in before, column

    with db.write() as session:
        erase_request(session, person.org, "staff:1", contact_id=person.contact_id)
    steps = 0
    while redact_step(db, limit=2):  # two rows per step: every store's cursor moves
        steps += 1
    assert steps >= 6
    with db.read() as session:
        job = session.scalars(select(Redaction)).one()
        assert (job.status, job.needles) == ("done", "")
    assert text_hits(db, EVERY_NEEDLE) == {}

    # The other fan is still everywhere she was.
    with db.read() as session:
        chunk = json.loads(session.scalars(select(ImportChunk.rows)).one())
        assert chunk[0] == ["", "", "", "", ""] and chunk[1][:3] == [OTHER, "", "Otto"]
        previews = session.scalars(select(ContactImport.preview)).all()
        assert all(p[0] == [""] * 5 and p[1][0] == OTHER for p in previews)
        body = session.scalars(select(WebhookDelivery.body)).one()
        assert body["payload"]["id"] and body["event"] == "ORDER.CREATED"  # the order itself stays
        logged = session.scalars(select(McpAuditEntry)).one()
        assert logged.arguments == {"emails": ["[erased]", OTHER], "tag": "VIP"}
        assert logged.error == "no contact [erased]"
        removal = session.scalars(select(AuditEntry).where(AuditEntry.action == "suppression.remove")).one()
        assert removal.details["address"] == suppression.erased_key(person.org, EMAIL)
    assert set(text_hits(db, OTHER_NAMES)) >= {"contact_import_chunks.rows", "contacts.email"}


def test_a_queued_import_skips_her_blanked_row(client: TestClient, db: Database, person: Person) -> None:
    with db.write() as session:
        item = imports.create_upload(session, person.org, "late.csv", CSV.encode(), "staff:1")
        public_id = item.public_id
        imports.configure_import(session, person.org, public_id, mode="dont_change", mapping=dict(item.mapping))
    with db.write() as session:
        erase_request(session, person.org, "staff:1", contact_id=person.contact_id)
    while redact_step(db):
        pass
    work_off(db, public_id)
    with db.read() as session:
        done = imports.get_import(session, person.org, public_id)
        assert (done.status, done.skipped, done.enqueued_rows) == ("done", 1, 1)
    assert text_hits(db, EVERY_NEEDLE) == {}


def _bounces(db: Database, org: int) -> list[tuple[str, str | None, str]]:
    with db.read() as session:
        query = select(Bounce.address, Bounce.diagnostic, Bounce.matched_by).where(Bounce.organization_id == org)
        return [tuple(row) for row in session.execute(query.order_by(Bounce.id))]  # type: ignore[misc]


def test_a_bounce_after_the_erasure_stores_only_her_hash(
    client: TestClient, db: Database, person: Person, bounce_settings: Settings
) -> None:
    delivery_id = delivery_for(db, person.campaign_id, person.contact_id).id
    verp = BOUNCES.replace("@", f"+{delivery_token(delivery_id)}@")
    # A soft bounce before the erasure: its replay key ("msg:<digest>:<recipient>") names her too.
    early = dsn(verp, EMAIL, "4.2.2", f"452 4.2.2 <{EMAIL}>: Mailbox over quota")
    assert apply_message(db, early, bounce_settings).soft == 1
    with db.write() as session:
        erase_request(session, person.org, "staff:1", contact_id=person.contact_id)
    while redact_step(db):
        pass
    hashed = suppression.erased_key(person.org, EMAIL)
    before = _bounces(db, person.org)
    assert all(address != EMAIL for address, _, _ in before)
    late = dsn(verp, EMAIL, "5.1.1", f"550 5.1.1 <{EMAIL}>: Recipient address rejected")
    assert apply_message(db, late, bounce_settings).hard == 1
    assert apply_message(db, late, bounce_settings).duplicates == 1  # its hashed replay key is found again
    # A complaint or a DSN naming her address only: her deliveries no longer carry it, nothing matches.
    assert apply_message(db, arf(BOUNCES, EMAIL), bounce_settings).unmatched == 1
    assert apply_message(db, dsn(BOUNCES, EMAIL, "5.1.1", f"550 <{EMAIL}> unknown"), bounce_settings).unmatched == 1
    after = _bounces(db, person.org)
    assert after[: len(before)] == before and after[len(before) :] == [(hashed, None, "verp")]
    with db.read() as session:
        listed = session.scalars(
            select(suppression.Suppression.reason).where(suppression.Suppression.address == hashed)
        ).all()
        assert listed == ["erased"]  # the hash keeps its entry and its reason
        assert suppression.erased_since(session, person.org, [EMAIL])
        contact = session.get(Contact, person.contact_id)
        assert contact is not None and (contact.email, contact.email_status) == (None, "unsubscribed")
    assert text_hits(db, (EMAIL, "Recipient address rejected", "over quota")) == {}


def test_needles_find_her_in_any_shape_and_leave_others() -> None:
    needles = Needles.of([EMAIL, PHONE, "+447123456789"])
    body = {
        "Id": 5550199,  # a number that is not a phone stays
        "Buyer": {"Email": EMAIL.upper(), "FirstName": FIRST, "LastName": LAST, "Mobile": "07123 456789"},
        "Tickets": [{"Holder": {"full_name": "Otto Other", "email": OTHER, "phone": "+1 970 555 0100"}}],
        "Note": f"Resent to {EMAIL} by staff",
        "Contact": {"tel": "(970) 555-0199", "city": "Aspen", "event_name": "Gig"},
    }
    scrubbed, changed = needles.scrub_json(body)
    assert changed and scrubbed["Id"] == 5550199
    assert scrubbed["Buyer"] == {"Email": None, "FirstName": None, "LastName": None, "Mobile": None}
    assert scrubbed["Tickets"][0]["Holder"] == {"full_name": "Otto Other", "email": OTHER, "phone": "+1 970 555 0100"}
    assert scrubbed["Note"] == "Resent to [erased] by staff"
    # The phone named her: the city and the name keys of that object go with it.
    assert scrubbed["Contact"] == {"tel": "[erased]", "city": None, "event_name": None}
    row = ["x", "+44 7123 456789", "VIP"]
    assert needles.scrub_row(row) and row == ["", "", ""]
    assert not needles.scrub_row([OTHER, "555-0100", "12345678"])
