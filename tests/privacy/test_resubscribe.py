"""Never silently re-subscribed after erasure (audience/consent.may_subscribe_after_erasure):
re-sent old records — an order placed before the erasure, a platform sync, an import in any mode but
"subscribe everyone" with its confirmation — never subscribe the erased address again, and leave the
figures alone; a new explicit opt-in made after the erasure (an order ticked at a later checkout, a
partner's explicit opt-in) does, and lifts the hash from the suppression list (audited)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from fanhub.audience import suppression
from fanhub.audience.models import Contact
from fanhub.catalog import reports
from fanhub.connectors.service import connect_eventbrite, run_sync
from fanhub.db.engine import Database
from fanhub.imports import service as imports
from fanhub.organizations.audit import AuditEntry
from fanhub.privacy.service import erase_request
from tests.campaigns.conftest import order, post_orders
from tests.conftest import Tenant, drain
from tests.connectors.conftest import fast_options
from tests.fakes.eventbrite import FakeEventbrite
from tests.manager.test_imports import work_off
from tests.privacy.conftest import CUSTOMER, EMAIL, PHONE, T0, Person, analytics

NOT_SUBSCRIBED = ("unknown", "unsubscribed")


def _states(db: Database, org: int, email: str = EMAIL) -> list[tuple[str, str]]:
    with db.read() as session:
        rows = session.scalars(select(Contact).where(Contact.organization_id == org, Contact.email == email)).all()
        return [(c.email_status, c.sms_status) for c in rows]


def _erased_listed(db: Database, org: int, address: str) -> bool:
    with db.read() as session:
        return suppression.is_suppressed(session, org, suppression.erased_key(org, address))


def _money(client: TestClient, db: Database, tenant: Tenant) -> dict[str, Any]:
    """Revenue, tickets and campaign figures (a re-sent order may move to a re-created buyer, so the
    distinct-buyer count is not among them)."""
    with db.read() as session:
        totals = reports.sales_totals(session, tenant.organization_id)
        by_day = reports.sales_report(session, tenant.organization_id, group_by="day")
    return {"totals": totals, "by_day": by_day, "campaigns": analytics(client, tenant, type="email")}


def _erase(db: Database, org: int, email: str = EMAIL) -> None:
    with db.write() as session:
        erase_request(session, org, "staff:1", email=email)


def test_old_orders_never_resubscribe_and_a_later_checkout_does(
    client: TestClient, db: Database, person: Person
) -> None:
    org = person.org
    _erase(db, org)
    before = _money(client, db, person.tenant)

    # The same order again, byte for byte: skipped entirely.
    ticked = {"email": True, "sms": True}
    post_orders(
        client,
        db,
        person.tenant,
        order("Z1", EMAIL, T0, total=80.0, quantity=2, customer=CUSTOMER, marketing_opt_ins=ticked),
    )
    # The same order re-sent with a change, placed before the erasure, both boxes ticked.
    changed = {**CUSTOMER, "postal_code": "81611"}
    post_orders(
        client,
        db,
        person.tenant,
        order("Z1", EMAIL, T0, total=80.0, quantity=2, customer=changed, marketing_opt_ins=ticked),
    )
    states = _states(db, org)
    assert states and all(email in NOT_SUBSCRIBED and sms in NOT_SUBSCRIBED for email, sms in states)
    assert _erased_listed(db, org, EMAIL) and _erased_listed(db, org, PHONE)
    assert _money(client, db, person.tenant) == before

    # A new checkout after the erasure with the email box ticked: her own new opt-in.
    later = datetime.now(UTC) + timedelta(minutes=1)
    new = order("Z9", EMAIL, later, total=15.0, marketing_opt_ins={"email": True, "sms": None})
    post_orders(client, db, person.tenant, new)
    assert _states(db, org) == [("subscribed", "unknown")]
    assert not _erased_listed(db, org, EMAIL)
    assert _erased_listed(db, org, PHONE)  # SMS was not asked for: the phone stays listed
    with db.read() as session:
        lifted = session.scalars(
            select(AuditEntry).where(AuditEntry.organization_id == org, AuditEntry.action == "suppression.remove")
        ).all()
    assert [(e.details["reason"], e.details["via"]) for e in lifted] == [("erased", "order.marketing_opt_ins")]
    assert all(EMAIL not in str(e.details) for e in lifted)  # the hash, never the address


def test_a_partner_opt_in_after_the_erasure_subscribes(client: TestClient, db: Database, person: Person) -> None:
    _erase(db, person.org)
    body = {"contact": {"email": EMAIL}, "opt_ins": {"email": None}}
    client.post("/v1/partners/contact", json=body, headers=person.tenant.headers)
    drain(db)
    assert _states(db, person.org) == [("unknown", "unknown")]  # no opt-in, nothing lifted
    assert _erased_listed(db, person.org, EMAIL)
    body = {"contact": {"email": EMAIL}, "opt_ins": {"email": True}}
    assert client.post("/v1/partners/contact", json=body, headers=person.tenant.headers).status_code == 201
    drain(db)
    assert _states(db, person.org) == [("subscribed", "unknown")]
    assert not _erased_listed(db, person.org, EMAIL)


def test_an_eventbrite_resync_never_resubscribes(db: Database, tenant: Tenant, client: TestClient) -> None:
    org = tenant.organization_id
    with FakeEventbrite(page_size=50) as eb:
        eb_org = eb.add_organization("Belly Up", id="555")
        show = eb.add_event("Big Show", organization_id=eb_org["id"])
        placed = eb.add_order(show["id"], email=EMAIL, quantity=2, has_opted_in=True)
        eb.add_order(show["id"], email="someone.else@example.com", quantity=1, has_opted_in=True)
        connection_id = int(connect_eventbrite(db, org, eb.token, base_url=eb.base_url)["id"])
        run_sync(db, connection_id, options=fast_options())
        drain(db)
        assert _states(db, org) == [("subscribed", "unknown")]
        _erase(db, org)
        before = _money(client, db, tenant)
        # Still opted in on Eventbrite, read after the erasure: a platform's list state never re-subscribes.
        eb.update_order(placed["id"], has_opted_in=True, changed=datetime.now(UTC) + timedelta(hours=1))
        run_sync(db, connection_id, full=True, options=fast_options())
        drain(db)
    states = _states(db, org)
    assert states and all(email in NOT_SUBSCRIBED for email, _ in states)
    assert _erased_listed(db, org, EMAIL)
    assert _money(client, db, tenant) == before
    assert _states(db, org, "someone.else@example.com") == [("subscribed", "unknown")]


CSV = f"email,phone,first_name\n{EMAIL},{PHONE},Zelda\nnew.fan@example.com,+19705550142,Nia\n"


def _import(db: Database, org: int, mode: str, sms_mode: str = "dont_change") -> None:
    with db.write() as session:
        item = imports.create_upload(session, org, "fans.csv", CSV.encode(), "staff:7")
        public_id = item.public_id
        imports.configure_import(
            session,
            org,
            public_id,
            mode=mode,
            sms_mode=sms_mode,
            mapping=dict(item.mapping),
            consent_confirmed=True,
            sms_consent_confirmed=True,
            confirmed_by="staff:7",
        )
    work_off(db, public_id)


@pytest.mark.parametrize("mode", ["subscribe_if_not_opted_out", "dont_change", "unsubscribe_if_not_subscribed"])
def test_an_import_never_resubscribes_but_subscribe_everyone_does(
    client: TestClient, db: Database, person: Person, mode: str
) -> None:
    org = person.org
    _erase(db, org)
    before = _money(client, db, person.tenant)
    _import(db, org, mode, mode)
    assert all(e in NOT_SUBSCRIBED and s in NOT_SUBSCRIBED for e, s in _states(db, org))
    assert _erased_listed(db, org, EMAIL) and _erased_listed(db, org, PHONE)
    assert _money(client, db, person.tenant) == before
    if mode == "subscribe_if_not_opted_out":
        assert _states(db, org, "new.fan@example.com") == [("subscribed", "subscribed")]  # others are imported
    # Staff import the file again subscribing everyone, confirming they have everyone's consent.
    _import(db, org, "subscribe_everyone", "subscribe_everyone")
    assert _states(db, org) == [("subscribed", "subscribed")]
    assert not _erased_listed(db, org, EMAIL) and not _erased_listed(db, org, PHONE)
