"""The export's completeness, field by field against what was put in through the Partners API, the
campaign pipe, tracking, a bounce and a form submission; a request by address; the audit entry."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from fanhub.db.engine import Database
from fanhub.errors import NotFound
from fanhub.forms.models import Form, FormSubmission
from fanhub.organizations.audit import AuditEntry
from fanhub.privacy.export import find_contacts
from fanhub.privacy.service import export_request
from tests.conftest import post_and_apply
from tests.privacy.conftest import AGENT, CUSTOMER, EMAIL, FIRST, IP, LAST, LINK, PHONE, SOURCE_EMAIL, Person

FORM_TEXT = "Yes, send me Belly Up's show announcements."


def add_submission(db: Database, person: Person) -> None:
    """A form submission joined to her contact (the forms domain stores these rows as its proof)."""
    with db.write() as session:
        form = Form(organization_id=person.org, key="k" * 32, name="Pre-sale", fields=["email"], consent_text=FORM_TEXT)
        session.add(form)
        session.flush()
        session.add(
            FormSubmission(
                organization_id=person.org,
                form_id=form.id,
                contact_id=person.contact_id,
                email=EMAIL,
                phone=PHONE,
                first_name=FIRST,
                consent_text=FORM_TEXT,
                page_url="https://bellyupaspen.com/presale",
                ip=IP,
                user_agent=AGENT,
                status="subscribed",
            )
        )


def _export(db: Database, person: Person, **request: Any) -> dict[str, Any]:
    with db.write() as session:
        return export_request(session, person.org, "staff:1", **request)


def test_export_holds_everything_that_was_put_in(client: TestClient, db: Database, person: Person) -> None:
    add_submission(db, person)
    doc = _export(db, person, contact_id=person.contact_id)
    assert doc["contact_id"] == person.contact_id and doc["erased_at"] is None
    c = doc["contact"]
    assert (c["email"], c["phone"], c["first_name"], c["last_name"]) == (EMAIL, PHONE, FIRST, LAST)
    assert c["tags"] == ["VIP"] and c["genres"] == ["Rock"]
    assert c["lists"] == [{"id": person.list_id, "name": "Newsletter"}]
    assert [(i["event_id"], i["ticketer"]) for i in c["interests"]] == [("777", "eventbrite")]
    assert c["subscriptions"]["email"]["status"] == "subscribed"
    assert c["subscriptions"]["sms"]["status"] == "unsubscribed"
    sources = {s["source"]: (s["email"], s["phone"], s["name"]) for s in c["sources"]}
    assert sources == {
        "partner:acme": (EMAIL, PHONE, f"{FIRST} {LAST}"),
        "partner:boxoffice": (SOURCE_EMAIL, PHONE, None),
    }

    ledger = [(e["channel"], e["status"], e["via"], e["raw_value"], e["actor"]) for e in doc["consent_history"]]
    assert ledger == [
        ("email", "subscribed", "contact.opt_ins", "true", None),
        ("sms", "subscribed", "contact.opt_ins", "true", None),
        ("sms", "unsubscribed", "staff", "false", "staff:1"),
    ]
    assert all({"form_id", "consent_text", "page_url", "ip", "user_agent"} <= set(e) for e in doc["consent_history"])

    orders = {o["external_id"]: o for o in doc["orders"]}
    assert set(orders) == {"Z1", "B1"}
    z1 = orders["Z1"]
    assert (z1["total_price"], z1["tickets"], z1["marketing_opt_ins"]["email"]) == (80.0, 2, True)
    assert {k: z1["customer"].get(k) for k in CUSTOMER} == CUSTOMER
    assert z1["items"] == [
        {"ticket_type_name": "GA", "quantity": 2, "prefee_price": None, "total_price": 80.0, "currency_code": "USD"}
    ]
    assert orders["B1"]["customer"]["email"] == SOURCE_EMAIL and orders["B1"]["source"] == "partner:boxoffice"

    [delivery] = doc["deliveries"]
    assert (delivery["campaign"], delivery["channel"], delivery["address"], delivery["status"]) == (
        "Spring",
        "email",
        EMAIL,
        "sent",
    )
    assert delivery["sent_at"] and delivery["opened_at"] and delivery["clicked_at"]
    assert [(o["ip_address"], o["user_agent"], o["machine"]) for o in delivery["opens"]] == [(IP, AGENT, False)]
    assert [(k["url"], k["ip_address"], k["user_agent"]) for k in delivery["clicks"]] == [(LINK, IP, AGENT)]
    assert delivery["unsubscribes"] == [] and delivery["failures"] == []

    [bounce] = doc["bounces"]
    assert (bounce["address"], bounce["kind"], bounce["reason"]) == (EMAIL, "soft", "mailbox_full")
    assert EMAIL in bounce["diagnostic"]
    assert doc["suppressions"] == []

    [submission] = doc["form_submissions"]
    assert (submission["form"], submission["email"], submission["phone"], submission["first_name"]) == (
        "Pre-sale",
        EMAIL,
        PHONE,
        FIRST,
    )
    assert (submission["consent_text"], submission["ip"], submission["user_agent"]) == (FORM_TEXT, IP, AGENT)
    assert submission["page_url"] == "https://bellyupaspen.com/presale"

    with db.read() as session:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "contact.export")).all()
    assert [(e.actor, e.contact_id, e.organization_id) for e in entries] == [("staff:1", person.contact_id, person.org)]
    # The next export shows the first one among the entries about her.
    again = _export(db, person, contact_id=person.contact_id)
    assert [(a["actor"], a["action"]) for a in again["audit"]] == [("staff:1", "contact.export")]


def test_a_request_by_address_finds_every_contact_known_by_it(client: TestClient, db: Database, person: Person) -> None:
    # Someone else signs up with the address the box office knew Zelda by: two contacts hold it now.
    post_and_apply(client, db, person.tenant, "contact", {"contact": {"email": SOURCE_EMAIL}, "opt_ins": {}})
    with db.read() as session:
        ids = find_contacts(session, person.org, SOURCE_EMAIL.upper())
        assert find_contacts(session, person.org, EMAIL) == [person.contact_id]
        try:
            find_contacts(session, person.org, "nobody@example.com")
        except NotFound:
            pass
        else:
            raise AssertionError("an unknown address must not be found")
    assert len(ids) == 2 and person.contact_id in ids
    doc = _export(db, person, email=SOURCE_EMAIL)
    assert doc["email"] == SOURCE_EMAIL and sorted(d["contact_id"] for d in doc["contacts"]) == ids
