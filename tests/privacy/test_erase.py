"""Erasure: every personal field of the person goes, in every table; the figures stay identical;
the addresses stay only as keyed hashes on the suppression list; the other fan is untouched."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy import select

from fanhub.audience import suppression
from fanhub.audience.models import ConsentEvent, Contact
from fanhub.catalog.models import Order
from fanhub.db.engine import Database
from fanhub.ingest.models import IngestPayload
from fanhub.privacy.redact import Redaction, redact_step
from fanhub.privacy.service import erase_request
from tests.privacy.conftest import EMAIL, NEEDLES, OTHER, PHONE, SOURCE_EMAIL, Person, figures, table_hits
from tests.privacy.test_export import add_submission

# The raw batches as accepted (ingest's replay store) are redacted afterwards by the worker.
RAW = ("ingest_payloads",)


def test_erasure_removes_every_personal_field_and_keeps_the_figures(
    client: TestClient, db: Database, person: Person
) -> None:
    add_submission(db, person)
    before = figures(client, db, person)
    assert set(table_hits(db, NEEDLES, RAW)) >= {"contacts", "orders", "campaign_opens", "form_submissions"}

    with db.write() as session:
        result = erase_request(session, person.org, "staff:1", contact_id=person.contact_id)
    assert result["contact_ids"] == [person.contact_id]
    erased = result["erased"]
    assert erased["contacts"] == 1 and erased["orders"] == 2 and erased["deliveries"] == 1
    assert erased["opens"] == 1 and erased["clicks"] == 1 and erased["bounces"] == 1
    assert erased["source_records"] == 2 and erased["interests"] == 1 and erased["suppressed"] == 3
    assert erased["form_submissions"] == 1

    assert table_hits(db, NEEDLES, RAW) == {}
    assert figures(client, db, person) == before

    with db.read() as session:
        contact = session.get(Contact, person.contact_id)
        assert contact is not None and contact.erased_at is not None
        assert (contact.email, contact.phone, contact.first_name, contact.last_name) == (None, None, None, None)
        # Subscriptions ended through the ledger before the values went.
        assert (contact.email_status, contact.sms_status) == ("unsubscribed", "unsubscribed")
        query = select(ConsentEvent).where(ConsentEvent.contact_id == person.contact_id).order_by(ConsentEvent.id)
        ledger = session.scalars(query).all()
        assert [(e.channel, e.status, e.via) for e in ledger if e.via == "erasure"] == [
            ("email", "unsubscribed", "erasure")
        ]
        assert all(e.raw_value is None for e in ledger) and len(ledger) >= 4
        orders = session.scalars(select(Order).where(Order.contact_id == person.contact_id)).all()
        assert sorted((o.total_cents, o.tickets, o.customer) for o in orders) == [(3000, 1, {}), (8000, 2, {})]
        entries = suppression.page(session, person.org, reason=suppression.ERASED)[0]
        listed = {e.address for e in entries}
        assert listed == {suppression.erased_key(person.org, a) for a in (EMAIL, SOURCE_EMAIL, PHONE)}
        assert all(a.startswith("hmac:") and "@" not in a for a in listed)
        other = session.get(Contact, person.other_id)
        assert other is not None and other.email == OTHER and other.email_status == "subscribed"


def test_a_second_erasure_finds_nothing_left(client: TestClient, db: Database, person: Person) -> None:
    with db.write() as session:
        erase_request(session, person.org, "cli", contact_id=person.contact_id)
    with db.write() as session:
        again = erase_request(session, person.org, "cli", contact_id=person.contact_id)["erased"]
    assert again["contacts"] == 0 and again["suppressed"] == 0 and again["source_records"] == 0


def test_the_worker_redacts_her_raw_batches_and_nothing_else(client: TestClient, db: Database, person: Person) -> None:
    with db.read() as session:
        payloads_before = dict(session.execute(select(IngestPayload.batch_id, IngestPayload.payload)).all())
    with db.write() as session:
        erase_request(session, person.org, "cli", contact_id=person.contact_id)
    assert set(table_hits(db, NEEDLES)) == {"ingest_payloads"}  # only the raw store is left
    steps = 0
    while redact_step(db, limit=2):  # two batches per step: the cursor is exercised
        steps += 1
    assert steps >= 3
    assert table_hits(db, NEEDLES) == {}
    with db.read() as session:
        job = session.scalars(select(Redaction)).one()
        assert (job.status, job.needles, job.redacted) == ("done", "", 3)  # her contact post and both orders
        payloads = dict(session.execute(select(IngestPayload.batch_id, IngestPayload.payload)).all())
    assert payloads.keys() == payloads_before.keys()
    changed = [b for b in payloads if payloads[b] != payloads_before[b]]
    assert len(changed) == 3
    kinds = sorted(next(iter(json.loads(payloads[b]))) for b in changed)
    assert kinds == ["contacts", "orders", "orders"]
    for batch_id in changed:
        for record in json.loads(payloads[batch_id]).get("orders", []):
            assert record["items"] and record["id"] in ("Z1", "O1", "B1")  # the orders and amounts stay
    # The other fan's raw records are intact.
    assert sum(OTHER in p for p in payloads.values()) == sum(OTHER in p for p in payloads_before.values())
