"""CSV imports choose a subscription mode per channel (issue 15): the five modes × email and SMS
with states computed by hand, the separate SMS consent confirmation, and what the ledger records.

Before each import the organization holds, set through the Partners API as a partner would, the
same state on both channels for three people; the file adds a fourth (new) and a fifth whose
number is a landline (it can be imported, but never touched on SMS):
  sub  subscribed on email and SMS
  out  unsubscribed on email and SMS (explicit opt-outs)
  unk  unknown on both
"""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from fanhub.audience.models import ConsentEvent, Contact
from fanhub.db.engine import Database
from fanhub.errors import InvalidInput
from fanhub.imports import service as imports
from tests.conftest import Tenant, post_and_apply
from tests.manager.test_imports import work_off

PEOPLE = {"sub": ("+14155550101", True), "out": ("+14155550102", False), "unk": ("+14155550103", None)}
CSV = (
    "email,phone\n"
    "sub@example.com,(415) 555-0101\n"
    "out@example.com,415-555-0102\n"
    "unk@example.com,4155550103\n"
    "new@example.com,+1 415 555 0104\n"
    "land@example.com,+44 20 7183 8750\n"
)
S, U, N = "subscribed", "unsubscribed", "unknown"
# mode -> state afterwards of sub, out, unk, new (the same rules on either channel)
EXPECTED = {
    "subscribe_everyone": (S, S, S, S),
    "subscribe_if_not_opted_out": (S, U, S, S),
    "unsubscribe_everyone": (U, U, U, U),
    "unsubscribe_if_not_subscribed": (S, U, U, U),
    "dont_change": (S, U, N, N),
}
BEFORE = (S, U, N, N)
NAMES = ("sub", "out", "unk", "new")


def _seed(client: TestClient, db: Database, tenant: Tenant) -> None:
    for name, (phone, opt) in PEOPLE.items():
        body = {"contact": {"email": f"{name}@example.com", "phone": phone}, "opt_ins": {"email": opt, "sms": opt}}
        post_and_apply(client, db, tenant, "contact", body)


def _import(db: Database, org: int, **options: object) -> str:
    with db.write() as session:
        item = imports.create_upload(session, org, "fans.csv", CSV.encode(), "staff:7")
        public_id = item.public_id
        imports.configure_import(session, org, public_id, mapping=dict(item.mapping), **options)  # type: ignore[arg-type]
    work_off(db, public_id)
    return public_id


def _states(db: Database, org: int) -> dict[str, tuple[str, str]]:
    with db.read() as session:
        rows = session.query(Contact).filter(Contact.organization_id == org).all()
        return {(c.email or "").split("@")[0]: (c.email_status, c.sms_status) for c in rows}


@pytest.mark.parametrize("channel", ["email", "sms"])
@pytest.mark.parametrize("mode", list(EXPECTED))
def test_each_mode_on_each_channel_leaves_the_other_alone(
    client: TestClient, db: Database, tenant: Tenant, mode: str, channel: str
) -> None:
    _seed(client, db, tenant)
    org = tenant.organization_id
    if channel == "email":
        options = {"mode": mode, "consent_confirmed": True}
    else:
        options = {"mode": "dont_change", "sms_mode": mode, "sms_consent_confirmed": True}
    public_id = _import(db, org, **options)
    got = _states(db, org)
    position = 0 if channel == "email" else 1
    assert tuple(got[n][position] for n in NAMES) == EXPECTED[mode]
    assert tuple(got[n][1 - position] for n in NAMES) == BEFORE  # the other channel: untouched
    assert got["land"][1] == N  # a landline is never touched on SMS, whatever the mode
    if channel == "email":
        assert got["land"][0] == EXPECTED[mode][3]
    # The ledger names the channel's own mode, the upload and the user who confirmed it.
    with db.read() as session:
        entries = session.query(ConsentEvent).filter(ConsentEvent.source == f"import:{public_id}").all()
        assert {(e.channel, e.via, e.actor) for e in entries} <= {(channel, f"import.{mode}", "staff:7")}
        changed = sum(a != b for a, b in zip(EXPECTED[mode], BEFORE, strict=True))
        changed += channel == "email" and EXPECTED[mode][3] != N  # land@ on email
        assert len(entries) == changed
        item = session.query(imports.ContactImport).filter_by(public_id=public_id).one()
        counts = item.counts
    assert counts is not None
    wanted = EXPECTED[mode] + ((EXPECTED[mode][3],) if channel == "email" else (N,))
    before = BEFORE + (N,)
    moved = [after for after, was in zip(wanted, before, strict=True) if after != was]
    assert counts[channel] == {
        "subscribed": moved.count(S),
        "unsubscribed": moved.count(U),
        "unchanged": 5 - len(moved),
    }
    other = "sms" if channel == "email" else "email"
    assert counts[other] == {"subscribed": 0, "unsubscribed": 0, "unchanged": 5}


@pytest.mark.parametrize("mode", ["subscribe_everyone", "subscribe_if_not_opted_out"])
def test_an_sms_mode_that_subscribes_needs_its_own_confirmation(db: Database, tenant: Tenant, mode: str) -> None:
    org = tenant.organization_id
    with db.write() as session:
        item = imports.create_upload(session, org, "fans.csv", CSV.encode(), "cli")
        public_id, mapping = item.public_id, dict(item.mapping)
    # The email confirmation does not stand in for the SMS one.
    with pytest.raises(InvalidInput) as refused, db.write() as session:
        imports.configure_import(
            session, org, public_id, mode="subscribe_everyone", sms_mode=mode, mapping=mapping, consent_confirmed=True
        )
    assert refused.value.errors[0]["field"] == "sms_consent_confirmed"
    assert imports.run_import_step(db) is False  # nothing was queued
    # Modes that do not subscribe need no confirmation.
    with db.write() as session:
        imports.configure_import(
            session, org, public_id, mode="dont_change", sms_mode="unsubscribe_everyone", mapping=mapping
        )


def test_cli_takes_a_mode_per_channel_and_requires_the_sms_confirmation(
    client: TestClient, db: Database, tenant: Tenant, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    from fanhub.cli import app

    _seed(client, db, tenant)
    path = tmp_path / "fans.csv"
    path.write_text(CSV)
    org = str(tenant.organization_id)
    base = ["contacts", "import", str(path), "--org", org, "--json"]
    refused = CliRunner().invoke(app, [*base, "--email-mode", "dont_change", "--sms-mode", "subscribe_everyone"])
    assert refused.exit_code != 0 and "text messages" in json.loads(refused.stdout)["error"]
    assert _states(db, tenant.organization_id)["unk"] == (N, N)
    done = CliRunner().invoke(
        app,
        [*base, "--mode", "subscribe_if_not_opted_out", "--sms-mode", "subscribe_if_not_opted_out"]
        + ["--sms-consent-confirmed"],
    )
    assert done.exit_code == 0, done.output
    body = json.loads(done.stdout)
    assert body["email_mode"] == body["sms_mode"] == "subscribe_if_not_opted_out"
    assert body["channels"]["sms"] == {"subscribed": 2, "unsubscribed": 0, "unchanged": 3}  # unk, new
    got = _states(db, tenant.organization_id)
    assert got["out"] == (U, U) and got["unk"] == (S, S) and got["land"] == (S, N)


def test_a_row_keeps_its_contact_when_a_detail_is_unusable(db: Database, tenant: Tenant) -> None:
    org = tenant.organization_id
    text = "email,genres,birthday,zip\na@example.com,Rock;Polka Metal,not-a-date,81611\n"
    with db.write() as session:
        item = imports.create_upload(session, org, "fans.csv", text.encode(), "cli")
        public_id = item.public_id
        assert item.mapping == {"email": "email", "genres": "genres", "birthday": "birthday", "zip": "postal_code"}
        imports.configure_import(session, org, public_id, mode="dont_change", mapping=dict(item.mapping))
    work_off(db, public_id)
    with db.read() as session:
        contact = session.query(Contact).filter_by(email="a@example.com").one()
        assert (contact.postal_code, contact.address, contact.birthday) == ("81611", None, None)
        result = imports.issue_rows(session, org, public_id, 100)
    assert result["partly_applied"] == 1
    assert [(i["row"], i["outcome"], i["field"], i["value"]) for i in result["issues"]] == [
        (2, "skipped", "birthday", "not-a-date"),
        (2, "skipped", "genres", "Polka Metal"),
    ]
