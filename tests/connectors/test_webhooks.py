"""Webhook receivers for the three platforms: accepted, forged, expired, replayed, and worker processing."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from fanhub.audience.consent import EMAIL, ConsentChange
from fanhub.audience.models import Contact
from fanhub.audience.service import change_consent
from fanhub.connectors.models import DONE, PENDING, WebhookDelivery
from fanhub.connectors.service import connect_eventbrite, connect_ticketor, connect_tickettailor
from fanhub.connectors.webhooks import process_due
from fanhub.db.engine import Database
from tests.conftest import Tenant, drain
from tests.fakes.eventbrite import FakeEventbrite
from tests.fakes.ticketor import KINDS, FakeTicketor, build_payload
from tests.fakes.tickettailor import SIGNATURE_HEADER, FakeTicketTailor, sign

from .conftest import event_rows, order_rows

PUBLIC = "http://testserver"


def path_of(url: str) -> str:
    return urlsplit(url).path


def deliveries(db: Database) -> list[WebhookDelivery]:
    with db.read() as session:
        return list(session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def make_due(db: Database) -> None:
    with db.write() as session:
        session.execute(update(WebhookDelivery).values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=1)))


# --- Eventbrite ------------------------------------------------------------------------------------


def eb_setup(db: Database, org: Tenant, eb: FakeEventbrite) -> tuple[str, str, dict[str, str]]:
    organization = eb.add_organization("Belly Up", id="555")
    venue = eb.add_venue("Hall", organization_id=organization["id"])
    event = eb.add_event("Show", organization_id=organization["id"], venue_id=venue["id"])
    result = connect_eventbrite(db, org.organization_id, eb.token, base_url=eb.base_url, public_url=PUBLIC)
    assert eb.webhooks[result["webhook_id"]]["endpoint_url"] == result["webhook_url"]
    return path_of(result["webhook_url"]), result["webhook_id"], event


def test_eventbrite_order_webhook_is_refetched(
    db: Database, org: Tenant, eb: FakeEventbrite, client: TestClient
) -> None:
    path, hook_id, event = eb_setup(db, org, eb)
    order = eb.add_order(event["id"], email="hook@example.com", has_opted_in=True, quantity=2)
    body = eb.webhook_payload("order.placed", eb.api_url_for("order.placed", order["id"]), hook_id)
    response = client.post(path, json=body)
    assert response.status_code == 200 and response.json()["duplicate"] is False
    # Replayed while still waiting: coalesced into the stored delivery.
    assert client.post(path, json=body).json()["duplicate"] is True
    assert len(deliveries(db)) == 1

    assert process_due(db) == 1
    drain(db)
    rows = order_rows(db, org.organization_id)
    assert rows[order["id"]].tickets == 2
    with db.read() as session:
        assert session.scalars(select(Contact.email_status).where(Contact.email == "hook@example.com")).one() == (
            "subscribed"
        )
    # Eventbrite can serve a stale copy for minutes: the delivery is looked at once more later.
    stored = deliveries(db)[0]
    assert stored.status == PENDING and stored.next_attempt_at > datetime.now(UTC)
    eb.update_order(order["id"], status="refunded")
    make_due(db)
    process_due(db)
    drain(db)
    assert deliveries(db)[0].status == DONE
    assert order_rows(db, org.organization_id)[order["id"]].status == "refunded"


def test_eventbrite_404_is_retried_later_not_dropped(
    db: Database, org: Tenant, eb: FakeEventbrite, client: TestClient
) -> None:
    path, hook_id, event = eb_setup(db, org, eb)
    order = eb.add_order(event["id"], email="fresh@example.com")
    eb.hide_for(order["id"], 2)  # eventual consistency: not visible yet
    body = eb.webhook_payload("order.placed", eb.api_url_for("order.placed", order["id"]), hook_id)
    assert client.post(path, json=body).status_code == 200
    process_due(db)
    stored = deliveries(db)[0]
    assert stored.status == PENDING and stored.attempts == 1 and "NOT_FOUND" in (stored.last_error or "")
    assert stored.next_attempt_at > datetime.now(UTC)
    assert process_due(db) == 0  # not due yet
    make_due(db)
    process_due(db)  # still hidden once more
    make_due(db)
    process_due(db)
    drain(db)
    assert order["id"] in order_rows(db, org.organization_id)


def test_eventbrite_event_webhook(db: Database, org: Tenant, eb: FakeEventbrite, client: TestClient) -> None:
    path, hook_id, event = eb_setup(db, org, eb)
    eb.update_event(event["id"], name="Show (moved)")
    body = eb.webhook_payload("event.updated", eb.api_url_for("event.updated", event["id"]), hook_id)
    assert client.post(path, json=body).status_code == 200
    process_due(db)
    drain(db)
    assert event_rows(db, org.organization_id)[event["id"]].name == "Show (moved)"


def test_eventbrite_forged_deliveries_are_refused(
    db: Database, org: Tenant, eb: FakeEventbrite, client: TestClient
) -> None:
    path, hook_id, event = eb_setup(db, org, eb)
    order = eb.add_order(event["id"])
    good_url = eb.api_url_for("order.placed", order["id"])
    unknown_hook = eb.webhook_payload("order.placed", good_url, "999")
    unknown_hook["config"]["webhook_id"] = "999"
    assert client.post(path, json=unknown_hook).status_code == 403
    foreign = eb.webhook_payload("order.placed", f"https://evil.example/v3/orders/{order['id']}/", hook_id)
    assert client.post(path, json=foreign).status_code == 403
    sneaky = eb.webhook_payload("order.placed", good_url.replace("/v3/", "/v3/../admin/"), hook_id)
    assert client.post(path, json=sneaky).status_code == 403
    wrong_secret = path.rsplit("/", 1)[0] + "/not-the-secret"
    assert client.post(wrong_secret, json=eb.webhook_payload("order.placed", good_url, hook_id)).status_code == 404
    assert client.post(path, content=b"not json").status_code == 400
    assert deliveries(db) == []


# --- Ticket Tailor ---------------------------------------------------------------------------------


def tt_setup(db: Database, org: Tenant, tt: FakeTicketTailor) -> tuple[str, dict[str, str], dict[str, str]]:
    event = tt.add_event("Gig")
    order = tt.add_order(event["id"], email="tt@example.com", marketing_opt_in=True)
    result = connect_tickettailor(
        db, org.organization_id, tt.api_key, webhook_secret="whsec_1", base_url=tt.base_url, public_url=PUBLIC
    )
    return path_of(result["webhook_url"]), event, order


def test_tickettailor_signed_order_webhooks(
    db: Database, org: Tenant, tt: FakeTicketTailor, client: TestClient
) -> None:
    path, event, order = tt_setup(db, org, tt)
    headers, raw = tt.signed_delivery("whsec_1", "ORDER.CREATED", order["id"], delivery_id="wh_1")
    assert client.post(path, content=raw, headers=headers).json() == {"received": True, "duplicate": False}
    # Replayed delivery (same id): acknowledged, stored once, processed once.
    assert client.post(path, content=raw, headers=headers).json()["duplicate"] is True
    tt.cancel_order(order["id"])
    headers, raw = tt.signed_delivery("whsec_1", "ORDER.UPDATED", order["id"], delivery_id="wh_2")
    assert client.post(path, content=raw, headers=headers).status_code == 200
    assert len(deliveries(db)) == 2
    assert process_due(db) == 2
    drain(db)
    row = order_rows(db, org.organization_id)[order["id"]]
    assert row.status == "refunded" and row.refunded_cents == row.total_cents
    with db.read() as session:
        assert session.scalars(select(Contact.email_status).where(Contact.email == "tt@example.com")).one() == (
            "subscribed"
        )


def test_tickettailor_ticket_and_event_webhooks(
    db: Database, org: Tenant, tt: FakeTicketTailor, client: TestClient
) -> None:
    path, event, order = tt_setup(db, org, tt)
    tt.cancel_order(order["id"], refund=False)
    ticket_id = next(iter(tt.issued_tickets))
    headers, raw = tt.signed_delivery("whsec_1", "ISSUED_TICKET.UPDATED", ticket_id)
    assert client.post(path, content=raw, headers=headers).status_code == 200
    headers, raw = tt.signed_delivery("whsec_1", "EVENT.CREATED", event["id"])
    assert client.post(path, content=raw, headers=headers).status_code == 200
    headers, raw = tt.signed_delivery("whsec_1", "EVENT.DELETED", event["id"])
    assert client.post(path, content=raw, headers=headers).status_code == 200
    process_due(db)
    drain(db)
    assert order_rows(db, org.organization_id)[order["id"]].status == "canceled"  # re-fetched by the ticket hook
    assert event_rows(db, org.organization_id)[event["id"]].status == "canceled"
    assert all(d.status == DONE for d in deliveries(db))


def test_tickettailor_forged_and_expired_deliveries(
    db: Database, org: Tenant, tt: FakeTicketTailor, client: TestClient
) -> None:
    path, event, order = tt_setup(db, org, tt)
    headers, raw = tt.signed_delivery("wrong-secret", "ORDER.CREATED", order["id"])
    assert client.post(path, content=raw, headers=headers).status_code == 401
    old = int(time.time()) - 301
    headers, raw = tt.signed_delivery("whsec_1", "ORDER.CREATED", order["id"], timestamp=old)
    response = client.post(path, content=raw, headers=headers)
    assert response.status_code == 401 and "5 minutes" in response.json()["message"]
    future = int(time.time()) + 400
    headers, raw = tt.signed_delivery("whsec_1", "ORDER.CREATED", order["id"], timestamp=future)
    assert client.post(path, content=raw, headers=headers).status_code == 401
    # A valid signature over a different body: tampered.
    headers, raw = tt.signed_delivery("whsec_1", "ORDER.CREATED", order["id"])
    tampered = raw.replace(b"tt@example.com", b"xx@example.com")
    assert client.post(path, content=tampered, headers=headers).status_code == 401
    assert client.post(path, content=raw, headers={"Content-Type": "application/json"}).status_code == 401
    # Re-serialised JSON breaks the HMAC: the receiver hashes the raw bytes as sent.
    ts = int(time.time())
    pretty = json.dumps(json.loads(raw), indent=2).encode()
    headers = {SIGNATURE_HEADER: f"t={ts},v1={sign('whsec_1', ts, pretty)}"}
    assert client.post(path, content=pretty, headers=headers).status_code == 200
    assert len(deliveries(db)) == 1


# --- Ticketor --------------------------------------------------------------------------------------


def tr_setup(db: Database, org: Tenant, tr: FakeTicketor) -> str:
    result = connect_ticketor(
        db,
        org.organization_id,
        site=tr.site_host,
        username=tr.username,
        password=tr.password,
        client_id=tr.client_id,
        base_url=tr.base_url,
        public_url=PUBLIC,
        time_zone="America/Los_Angeles",
    )
    return path_of(result["webhook_url"])


def test_ticketor_all_six_payload_types(db: Database, org: Tenant, tr: FakeTicketor, client: TestClient) -> None:
    path = tr_setup(db, org, tr)
    for kind in KINDS:
        response = client.post(path, json=build_payload(kind))
        assert response.status_code == 200, (kind, response.text)
    stored = deliveries(db)
    assert sorted(d.kind for d in stored) == sorted(KINDS)
    assert all("Card" not in json.dumps(d.body) for d in stored)  # card data is never kept
    process_due(db)
    drain(db)
    assert all(d.status == DONE for d in deliveries(db))

    events = event_rows(db, org.organization_id)
    assert events["257"].name == "Great Concert" and events["154112"].name == "Great Concert"
    assert events["257"].start_at == datetime(2013, 12, 17, 18, 1, tzinfo=UTC)
    assert events["257"].image_url is None and events["257"].url is None
    orders = order_rows(db, org.organization_id)
    invoice = orders["26657"]  # invoice with details + the ticket sale + the merchandise sale of that invoice
    assert invoice.event_external_id == "154112" or invoice.event_external_id == "257"
    assert invoice.currency == "USD" and invoice.tickets == 3  # 2 tickets + 1 T shirt
    assert invoice.total_cents == 2500 + 1000 + 500
    with db.read() as session:
        user = session.scalars(select(Contact).where(Contact.email == "test@email.com")).one()
        assert (user.email_status, user.sms_status) == ("subscribed", "subscribed")
        assert user.phone == "+18100000000"


def test_ticketor_replay_wrong_secret_and_unknown_payload(
    db: Database, org: Tenant, tr: FakeTicketor, client: TestClient
) -> None:
    path = tr_setup(db, org, tr)
    sale = build_payload("new_ticket_sale")
    assert client.post(path, json=sale).json()["duplicate"] is False
    assert client.post(path, json=sale).json()["duplicate"] is True
    assert client.post(path.rsplit("/", 1)[0] + "/guess", json=sale).status_code == 404
    assert client.post(path, json={"hello": "world"}).status_code == 422
    # The type can also be named explicitly, for a payload whose shape is ambiguous.
    assert client.post(path + "?type=new_user", json=build_payload("new_user", Id=9)).status_code == 200
    assert len(deliveries(db)) == 2


def test_ticketor_signup_never_resubscribes_an_opt_out(
    db: Database, org: Tenant, tr: FakeTicketor, client: TestClient
) -> None:
    path = tr_setup(db, org, tr)
    client.post(path, json=build_payload("new_user", Id=1, MailingListPermission=True))
    process_due(db)
    drain(db)
    with db.write() as session:
        contact = session.scalars(select(Contact).where(Contact.email == "test@email.com")).one()
        assert contact.email_status == "subscribed"
        change_consent(
            session,
            org.organization_id,
            contact.id,
            ConsentChange(EMAIL, False, "subscribe", "staff:1", datetime.now(UTC)),
        )
    client.post(path, json=build_payload("new_user", Id=2, MailingListPermission=True, SMSPermission=False))
    process_due(db)
    drain(db)
    with db.read() as session:
        contact = session.scalars(select(Contact).where(Contact.email == "test@email.com")).one()
        assert contact.email_status == "unsubscribed"
        assert contact.sms_status == "unsubscribed"  # the platform said no to SMS: honoured


def test_eventbrite_other_actions(db: Database, org: Tenant, eb: FakeEventbrite, client: TestClient) -> None:
    path, hook_id, event = eb_setup(db, org, eb)
    order = eb.add_order(event["id"], email="att@example.com", quantity=2)
    eb.update_order(order["id"], status="refunded")
    attendee_id = next(a["id"] for a in eb.attendees.values() if a["order_id"] == order["id"])
    tc = eb.add_ticket_class(event["id"], "Balcony", price=3000, fee=300)
    sent = [
        ("attendee.updated", attendee_id),
        ("ticket_class.created", tc["id"]),
        ("venue.updated", event["venue_id"]),
        ("order.refunded", order["id"]),
    ]
    for action, object_id in sent:
        body = eb.webhook_payload(action, eb.api_url_for(action, object_id), hook_id)
        assert client.post(path, json=body).status_code == 200, action
    assert process_due(db) == 4
    drain(db)
    row = order_rows(db, org.organization_id)[order["id"]]
    assert row.status == "refunded" and row.tickets == 2  # the attendee hook re-read its whole order
    with db.read() as session:
        from fanhub.catalog.models import TicketType

        names = set(session.scalars(select(TicketType.name)))
    assert "Balcony" in names  # the ticket class hook re-read its event with ticket classes
    venue = next(d for d in deliveries(db) if d.kind == "venue.updated")
    assert venue.status == DONE and "next sync" in (venue.last_error or "")
