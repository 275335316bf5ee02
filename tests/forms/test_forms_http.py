"""Signup forms over HTTP: the hosted page, submissions with and without double opt-in, the proof of
consent in the read API, the confirmation email from the local SMTP server (GET shows a button and
changes nothing, POST confirms once), expiry, and the SMS confirmation by a YES reply."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from fanhub.audience.models import ConsentEvent
from fanhub.audience.segments import count_audience
from fanhub.config import Settings
from fanhub.db.base import utcnow
from fanhub.db.engine import Database
from fanhub.forms import abuse, confirmations, service
from fanhub.forms.models import FormSubmission
from tests.campaigns.conftest import PUBLIC_URL, add_contact, add_event
from tests.conftest import Tenant
from tests.fakes.sms import FakeTwilio, signature
from tests.fakes.smtp import FakeSmtpServer
from tests.forms.conftest import MakeForm

FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}
BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0", "Referer": "https://bellyup.example/join"}


def post_form(client: TestClient, key: str, fields: dict[str, str], headers: dict[str, str] | None = None) -> Any:
    page = client.get(f"/f/{key}")
    assert page.status_code == 200
    stamp = re.search(r'name="t" value="([^"]+)"', page.text)
    assert stamp is not None
    body = {"t": stamp.group(1), "website": "", **fields}
    return client.post(
        f"/f/{key}", content=urlencode(body), headers=FORM_HEADERS | (headers or BROWSER), follow_redirects=False
    )


def contact_by_email(client: TestClient, tenant: Tenant, email: str) -> dict[str, Any]:
    found = client.get("/v1/partners/contacts", params={"email": email}, headers=tenant.headers).json()["response"]
    assert len(found) == 1, found
    detail = client.get(f"/v1/partners/contacts/{found[0]['id']}", headers=tenant.headers)
    assert detail.status_code == 200
    result: dict[str, Any] = detail.json()["response"]
    return result


def confirmation_link(smtp: FakeSmtpServer, address: str) -> str:
    messages = smtp.to(address)
    assert len(messages) == 1, [m["Subject"] for m in messages]
    text = messages[0].get_body(("plain",))
    assert text is not None
    link = re.search(r"http://testserver(/f/c/\S+)", text.get_content())
    assert link is not None
    return link.group(1)


def test_hosted_form_without_double_opt_in_subscribes_at_once_with_proof(
    client: TestClient, db: Database, tenant: Tenant, forms_env: Settings, make_form: MakeForm
) -> None:
    from fanhub.audience.service import create_list

    with db.write() as session:
        list_id = create_list(session, tenant.organization_id, "Presale").id
    event_id = add_event(client, db, tenant, "evt-77")
    form = make_form(
        name="Notify me",
        fields=["email", "phone", "first_name"],
        list_ids=[list_id],
        tags=["website"],
        genres=["jazz"],
        event_id=event_id,
        consent_text="Yes, email me about shows at Belly Up.",
    )
    page = client.get(f"/f/{form.key}")
    assert page.status_code == 200
    assert 'name="website"' in page.text and 'tabindex="-1"' in page.text  # the honeypot
    assert "Yes, email me about shows at Belly Up." in page.text
    assert "<script" not in page.text and 'name="viewport"' in page.text

    response = post_form(client, form.key, {"email": "Ana@Fans.net", "phone": "970-555-0101", "first_name": "Ana"})
    assert response.status_code == 303
    assert response.headers["location"] == f"/f/{form.key}/thanks"
    assert "subscribed" in client.get(response.headers["location"]).text

    contact = contact_by_email(client, tenant, "ana@fans.net")
    assert contact["subscriptions"]["email"]["status"] == "subscribed"
    # A phone field never implies SMS consent: no box ticked, SMS stays unknown.
    assert contact["phone"] == "+19705550101" and contact["subscriptions"]["sms"]["status"] == "unknown"
    assert contact["first_name"] == "Ana"
    assert [entry["name"] for entry in contact["lists"]] == ["Presale"]
    assert contact["tags"] == ["website"] and contact["genres"] == ["Jazz"]
    assert [(i["event_id"], i["source"]) for i in contact["interests"]] == [("evt-77", f"form:{form.id}")]
    (entry,) = contact["consent_history"]
    assert entry["status"] == "subscribed" and entry["via"] == "form" and entry["channel"] == "email"
    assert entry["form_id"] == form.id
    assert entry["consent_text"] == "Yes, email me about shows at Belly Up."
    assert entry["page_url"] == "https://bellyup.example/join"
    assert entry["ip"] == "testclient" and entry["user_agent"].endswith("Firefox/128.0")
    with db.read() as session:
        submission = session.scalars(select(FormSubmission)).one()
        assert submission.status == "subscribed" and submission.email_send_state is None


def test_double_opt_in_confirmation_email_get_changes_nothing_post_confirms_once(
    client: TestClient,
    db: Database,
    tenant: Tenant,
    forms_env: Settings,
    make_form: MakeForm,
    smtp_server: FakeSmtpServer,
) -> None:
    from fanhub.audience.service import create_list

    with db.write() as session:
        list_id = create_list(session, tenant.organization_id, "Weekly").id
    form = make_form(double_opt_in=True, list_ids=[list_id], consent_text="Weekly news, please.")
    assert post_form(client, form.key, {"email": "kim@fans.net"}).status_code == 303
    assert "sent you an email" in client.get(f"/f/{form.key}/thanks").text
    contact = contact_by_email(client, tenant, "kim@fans.net")
    assert contact["subscriptions"]["email"]["status"] == "pending" and contact["lists"] == []
    assert smtp_server.received() == []  # the web request only stored the row

    assert confirmations.send_emails(db, forms_env) == 1
    assert confirmations.send_emails(db, forms_env) == 0  # sent once, never twice
    (received,) = smtp_server.received()
    message = received.parsed()
    assert message["Message-ID"].startswith("<f") and message["To"] == "kim@fans.net"
    assert "Belly Up Aspen" in message["Subject"] and message["List-Unsubscribe"] is None
    link = confirmation_link(smtp_server, "kim@fans.net")

    # A mail scanner fetching the link (twice) changes nothing.
    for _ in range(2):
        page = client.get(link)
        assert page.status_code == 200 and "Confirm my subscription" in page.text and "<form" in page.text
    assert contact_by_email(client, tenant, "kim@fans.net")["subscriptions"]["email"]["status"] == "pending"

    confirmed = client.post(link, headers={"User-Agent": "Phone browser"})
    assert confirmed.status_code == 200 and "subscription is confirmed" in confirmed.text
    again = client.post(link)
    assert again.status_code == 200 and "already confirmed" in again.text
    contact = contact_by_email(client, tenant, "kim@fans.net")
    assert contact["subscriptions"]["email"]["status"] == "subscribed"
    assert [entry["name"] for entry in contact["lists"]] == ["Weekly"]
    pending, confirm = contact["consent_history"]
    assert (pending["status"], pending["via"], pending["subscribed"]) == ("pending", "form.pending", False)
    assert (confirm["status"], confirm["via"]) == ("subscribed", "form.confirm")
    for entry in (pending, confirm):
        assert entry["form_id"] == form.id and entry["consent_text"] == "Weekly news, please."
        assert entry["page_url"] == "https://bellyup.example/join"
    assert confirm["user_agent"] == "Phone browser"
    assert client.get(link).text.count("already confirmed") == 1
    assert client.get("/f/c/fc1.forged").status_code == 404


def test_pending_never_receives_marketing(
    client: TestClient, db: Database, tenant: Tenant, forms_env: Settings, make_form: MakeForm
) -> None:
    add_contact(client, db, tenant, "subscriber@fans.net")
    form = make_form(double_opt_in=True)
    post_form(client, form.key, {"email": "waiting@fans.net"})
    assert contact_by_email(client, tenant, "waiting@fans.net")["subscriptions"]["email"]["status"] == "pending"
    with db.read() as session:
        counts = count_audience(session, tenant.organization_id, {})
    assert counts["email"] == 1  # the subscriber only, not the pending address
    from fanhub.audience.queries import ContactFilter

    assert ContactFilter.from_params({"email": "pending"}).email_status == "pending"


def test_doi_request_never_downgrades_a_subscriber_and_a_renewal_keeps_it_pending(
    client: TestClient, db: Database, tenant: Tenant, forms_env: Settings, make_form: MakeForm
) -> None:
    add_contact(client, db, tenant, "fan@fans.net")
    form = make_form(double_opt_in=True)
    assert post_form(client, form.key, {"email": "fan@fans.net"}).status_code == 303
    contact = contact_by_email(client, tenant, "fan@fans.net")
    assert contact["subscriptions"]["email"]["status"] == "subscribed"
    assert [e["via"] for e in contact["consent_history"]] == ["contact.opt_ins"]

    post_form(client, form.key, {"email": "new@fans.net"})
    post_form(client, form.key, {"email": "new@fans.net"})
    history = contact_by_email(client, tenant, "new@fans.net")["consent_history"]
    assert [(e["status"], e["via"]) for e in history] == [("pending", "form.pending")] * 2


def test_expiry_returns_pending_to_unknown_and_the_old_link_says_expired(
    client: TestClient, db: Database, tenant: Tenant, forms_env: Settings, make_form: MakeForm
) -> None:
    form = make_form(double_opt_in=True)
    then = utcnow() - timedelta(days=8)
    late = service.Submission(email="late@fans.net", stamp=abuse.render_token(form.id, then - timedelta(seconds=20)))
    assert service.submit(db, forms_env, form.key, late, service.RequestInfo(ip="10.0.0.1"), now=then)
    fresh = service.Submission(email="fresh@fans.net", stamp=abuse.render_token(form.id, None))
    assert service.submit(db, forms_env, form.key, fresh, service.RequestInfo())
    assert service.expire_pending(db, utcnow()) == 1
    assert service.expire_pending(db, utcnow()) == 0
    contact = contact_by_email(client, tenant, "late@fans.net")
    assert contact["subscriptions"]["email"]["status"] == "unknown"
    assert [(e["status"], e["via"]) for e in contact["consent_history"]] == [
        ("pending", "form.pending"),
        ("unknown", "form.expired"),
    ]
    assert contact_by_email(client, tenant, "fresh@fans.net")["subscriptions"]["email"]["status"] == "pending"
    with db.read() as session:
        submission_id = session.scalar(select(FormSubmission.id).where(FormSubmission.email == "late@fans.net"))
    assert submission_id is not None
    link = service.confirm_url(forms_env, submission_id).removeprefix(PUBLIC_URL)
    assert "expired" in client.get(link).text
    assert "expired" in client.post(link).text
    assert contact_by_email(client, tenant, "late@fans.net")["subscriptions"]["email"]["status"] == "unknown"


def _post_inbound(client: TestClient, twilio: FakeTwilio, sender: str, body: str) -> None:
    params = {"From": sender, "Body": body}
    headers = FORM_HEADERS | {"X-Twilio-Signature": signature(twilio.auth_token, PUBLIC_URL + "/t/sms/inbound", params)}
    assert client.post("/t/sms/inbound", content=urlencode(params), headers=headers).status_code == 200


def test_sms_double_opt_in_needs_its_own_box_and_its_own_yes(
    client: TestClient,
    db: Database,
    tenant: Tenant,
    forms_env: Settings,
    make_form: MakeForm,
    smtp_server: FakeSmtpServer,
    twilio: FakeTwilio,
) -> None:
    form = make_form(double_opt_in=True, fields=["email", "phone"], sms_consent_text="Text me show alerts.")
    page = client.get(f"/f/{form.key}").text
    assert 'name="sms_opt_in"' in page and "Text me show alerts." in page
    post_form(client, form.key, {"email": "sam@fans.net", "phone": "+19705550150", "sms_opt_in": "1"})
    post_form(client, form.key, {"email": "lou@fans.net", "phone": "+19705550151"})  # no box: no SMS
    assert contact_by_email(client, tenant, "sam@fans.net")["subscriptions"]["sms"]["status"] == "pending"
    assert contact_by_email(client, tenant, "lou@fans.net")["subscriptions"]["sms"]["status"] == "unknown"
    assert confirmations.send_sms(db, forms_env) == 1
    (text,) = twilio.to("+19705550150")
    assert "reply YES" in text.body and twilio.to("+19705550151") == []

    # Confirming the email does not confirm SMS.
    confirmations.send_emails(db, forms_env)
    client.post(confirmation_link(smtp_server, "sam@fans.net"))
    sam = contact_by_email(client, tenant, "sam@fans.net")
    assert (sam["subscriptions"]["email"]["status"], sam["subscriptions"]["sms"]["status"]) == ("subscribed", "pending")
    sms_entry = next(e for e in sam["consent_history"] if e["channel"] == "sms")
    assert sms_entry["consent_text"] == "Text me show alerts." and sms_entry["form_id"] == form.id

    # YES from a number with nothing pending creates no consent.
    _post_inbound(client, twilio, "+19705550151", "YES")
    assert contact_by_email(client, tenant, "lou@fans.net")["subscriptions"]["sms"]["status"] == "unknown"
    _post_inbound(client, twilio, "+19705550150", "yes")
    sam = contact_by_email(client, tenant, "sam@fans.net")
    assert sam["subscriptions"]["sms"]["status"] == "subscribed"
    assert sam["consent_history"][-1]["via"] == "sms_confirm"


def test_confirmations_are_sent_at_most_once_across_a_crash(
    client: TestClient, db: Database, forms_env: Settings, make_form: MakeForm, smtp_server: FakeSmtpServer
) -> None:
    form = make_form(double_opt_in=True)
    post_form(client, form.key, {"email": "one@fans.net"})
    post_form(client, form.key, {"email": "two@fans.net"})
    # A worker claimed the first one and died during the SMTP exchange.
    claimed = confirmations._claim(db, "email_send_state", utcnow() - timedelta(minutes=30), 1)
    assert len(claimed) == 1
    assert confirmations.send_emails(db, forms_env) == 1  # the other, still queued, goes out
    assert confirmations.recover_stale(db) == 1
    assert confirmations.send_emails(db, forms_env) == 0
    assert len(smtp_server.received()) == 1
    with db.read() as session:
        states = dict(session.execute(select(FormSubmission.email, FormSubmission.email_send_state)).all())
    assert states == {"one@fans.net": "unknown", "two@fans.net": "sent"}


def test_confirmation_is_not_sent_to_a_suppressed_address(
    client: TestClient,
    db: Database,
    tenant: Tenant,
    forms_env: Settings,
    make_form: MakeForm,
    smtp_server: FakeSmtpServer,
) -> None:
    from fanhub.audience import suppression

    with db.write() as session:
        suppression.suppress(session, tenant.organization_id, "bounced@fans.net", "hard_bounce", "test")
    form = make_form(double_opt_in=True)
    assert post_form(client, form.key, {"email": "bounced@fans.net"}).status_code == 303
    assert confirmations.send_emails(db, forms_env) == 0
    assert smtp_server.received() == []
    with db.read() as session:
        assert session.scalar(select(FormSubmission.email_send_state)) == "skipped"
        assert session.scalar(select(func.count()).select_from(ConsentEvent)) == 1
