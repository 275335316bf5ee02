"""Repairing SMS subscriptions made by imports from before SMS had its own mode (issue 15).

The fixture writes what the old import worker wrote: an import row without an SMS mode and a contacts
batch whose records carry the one mode for both channels (`opt_ins` email and SMS alike, one `via`).
People, and what must happen to their SMS:
  a  unknown, subscribed by the old import, nothing since         -> put back to unknown
  c  opted out, re-subscribed by an old "subscribe everyone"      -> put back to unsubscribed
  d  subscribed by the old import, then texted STOP               -> kept (unsubscribed)
  e  subscribed by the old import, then ticked SMS on an order    -> kept (subscribed)
  g  unsubscribed by an old "unsubscribe everyone"                -> kept (an unsubscribe is never undone)
  h  subscribed before the import (the import changed nothing)    -> not listed, stays subscribed
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from fanhub.audience.consent import SMS, ConsentChange
from fanhub.audience.models import ConsentEvent, Contact
from fanhub.audience.service import change_consent
from fanhub.db.base import utcnow
from fanhub.db.engine import Database
from fanhub.imports import review as import_review
from fanhub.imports.models import ContactImport
from fanhub.ingest.service import drain, enqueue_batch
from tests.conftest import Tenant, post_and_apply
from tests.manager.helpers import login, make_user

PHONES = {name: f"+1415555{n:04d}" for n, name in enumerate("acdegh", start=200)}


def _legacy_import(db: Database, org: int, mode: str, names: str) -> str:
    wanted = {"subscribe_if_not_opted_out": True, "subscribe_everyone": True, "unsubscribe_everyone": False}[mode]
    public_id = uuid.uuid4().hex
    records = [
        {
            "contact": {"email": f"{n}@example.com", "phone": PHONES[n], "tags": [], "genres": []},
            "opt_ins": {"email": wanted, "sms": wanted},
            "via": f"import.{mode}",
            "list_ids": [],
        }
        for n in names
    ]
    with db.write() as session:
        session.add(
            ContactImport(
                public_id=public_id,
                organization_id=org,
                created_by="staff:1",
                filename=f"{mode}.csv",
                status="done",
                mode=mode,
                header=["email", "phone"],
                mapping={"email": "email", "phone": "phone"},
                queued_at=utcnow(),
            )
        )
        enqueue_batch(session, org, f"import:{public_id}", "contacts", json.dumps({"contacts": records}), len(records))
    drain(db)
    return public_id


def _old_database(client: TestClient, db: Database, tenant: Tenant) -> dict[str, str]:
    org = tenant.organization_id
    for name, opt in (("c", False), ("h", True)):
        body = {"contact": {"email": f"{name}@example.com", "phone": PHONES[name]}, "opt_ins": {"sms": opt}}
        post_and_apply(client, db, tenant, "contact", body)
    first = _legacy_import(db, org, "subscribe_if_not_opted_out", "adehc")
    second = _legacy_import(db, org, "subscribe_everyone", "c")
    third = _legacy_import(db, org, "unsubscribe_everyone", "g")
    with db.write() as session:
        d = session.query(Contact).filter_by(email="d@example.com").one()
        change_consent(session, org, d.id, ConsentChange(SMS, False, "sms_stop", "sms:" + PHONES["d"], utcnow()))
    later = (datetime.now(UTC) + timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
    order = {
        "id": "o-e",
        "event_id": "ev",
        "customer": {"email": "e@example.com"},
        "marketing_opt_ins": {"email": False, "sms": True},
        "items": [{"total_price": 10.0}],
        "created_at": later,
    }
    post_and_apply(client, db, tenant, "orders", {"orders": [order]})
    return {"first": first, "second": second, "third": third}


def _sms(db: Database, org: int) -> dict[str, str]:
    with db.read() as session:
        rows = session.query(Contact).filter(Contact.organization_id == org).all()
        return {(c.email or "")[0]: c.sms_status for c in rows}


def _actions(items: list[dict[str, object]]) -> dict[str, str]:
    return {str(i["email"])[0]: str(i["action"]) for i in items}


def test_review_and_revert_through_the_cli(client: TestClient, db: Database, tenant: Tenant) -> None:
    from fanhub.cli import app

    ids = _old_database(client, db, tenant)
    org = tenant.organization_id
    assert _sms(db, org) == {"a": "subscribed", "c": "subscribed", "d": "unsubscribed", "e": "subscribed"} | {
        "g": "unsubscribed",
        "h": "subscribed",
    }
    base = ["contacts", "import-review", "--org", str(org), "--json"]
    listed = json.loads(CliRunner().invoke(app, base).stdout)
    assert _actions(listed["contacts"]) == {"a": "revert", "c": "revert", "d": "keep", "e": "keep", "g": "keep"}
    assert listed["to_revert"] == 2
    by_letter = {str(i["email"])[0]: i for i in listed["contacts"]}
    assert by_letter["a"]["import_id"] == ids["first"] and by_letter["c"]["import_id"] == ids["second"]
    assert (by_letter["a"]["restore_to"], by_letter["c"]["restore_to"]) == ("unknown", "unsubscribed")
    with db.read() as session:
        assert import_review.needs_review(session, org)
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%d")
    assert json.loads(CliRunner().invoke(app, [*base, "--since", tomorrow]).stdout)["contacts"] == []

    done = json.loads(CliRunner().invoke(app, [*base, "--revert"]).stdout)
    assert done["reverted"] == {"reverted": 2, "keep": 3, "already_reverted": 0}
    assert _sms(db, org) == {"a": "unknown", "c": "unsubscribed", "d": "unsubscribed", "e": "subscribed"} | {
        "g": "unsubscribed",
        "h": "subscribed",
    }
    assert _actions(done["contacts"])["a"] == "reverted" and _actions(done["contacts"])["c"] == "reverted"
    with db.read() as session:
        assert not import_review.needs_review(session, org)
        a = session.query(Contact).filter_by(email="a@example.com").one()
        last = session.query(ConsentEvent).filter_by(contact_id=a.id, channel="sms").order_by(ConsentEvent.id.desc())
        entry = last.first()
        assert entry is not None
        assert (entry.status, entry.via, entry.source, entry.actor, entry.raw_value) == (
            "unknown",
            "import.revert",
            "cli",
            "cli",
            f"import:{ids['first']}",
        )
        assert a.email_status == "subscribed"  # the email the old import subscribed is not part of the repair
    # A second revert changes nothing.
    again = json.loads(CliRunner().invoke(app, [*base, "--revert"]).stdout)
    assert again["reverted"]["reverted"] == 0


def test_admins_see_the_review_on_the_dashboard_until_it_is_done(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    _old_database(client, db, tenant)
    org = tenant.organization_id
    make_user(db, org, "marketer@venue.example", "marketer")
    make_user(db, org, "admin@venue.example", "admin")
    login(client, "marketer@venue.example")
    assert 'id="sms-review-notice"' not in client.get("/manager/").text
    assert client.get("/manager/imports/sms-review").status_code == 403
    client.cookies.clear()
    login(client, "admin@venue.example")
    dashboard = client.get("/manager/").text
    assert 'id="sms-review-notice"' in dashboard
    review = client.get("/manager/imports/sms-review").text
    assert "Put back 2 SMS subscriptions" in review and "c@example.com" in review
    token = review.split('name="csrf_token" value="')[1].split('"')[0]
    reverted = client.post("/manager/imports/sms-review/revert", data={"csrf_token": token}, follow_redirects=False)
    assert reverted.status_code == 303
    assert _sms(db, org)["a"] == "unknown" and _sms(db, org)["d"] == "unsubscribed"
    assert 'id="sms-review-notice"' not in client.get("/manager/").text
    assert 'id="sms-review-done"' in client.get("/manager/imports/sms-review").text
