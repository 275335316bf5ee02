"""Abuse defence of the signup forms over HTTP: honeypot, minimum fill time, rate limits (429 with
Retry-After), address checks; a bot's submission stores nothing and sends no confirmation, and a
known address gets the same answer as a new one. Plus the CLI and no form path undoing an opt-out."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from fanhub.audience.consent import EMAIL, SMS, ConsentChange
from fanhub.audience.models import Contact
from fanhub.audience.service import change_consent
from fanhub.config import Settings, get_settings
from fanhub.db.base import utcnow
from fanhub.db.engine import Database
from fanhub.forms import abuse, confirmations, service
from fanhub.forms.models import FormSubmission
from tests.conftest import Tenant
from tests.fakes.dns import FakeDnsServer
from tests.fakes.sms import FakeTwilio
from tests.fakes.smtp import FakeSmtpServer
from tests.forms.conftest import MakeForm
from tests.forms.test_forms_http import FORM_HEADERS, _post_inbound, contact_by_email, post_form


def _submissions(db: Database) -> int:
    with db.read() as session:
        return int(session.scalar(select(func.count()).select_from(FormSubmission)) or 0)


def _post_raw(client: TestClient, key: str, body: dict[str, str]) -> int:
    response = client.post(f"/f/{key}", content=urlencode(body), headers=FORM_HEADERS, follow_redirects=False)
    return response.status_code


def test_honeypot_and_fill_time_drop_bots_silently_and_send_nothing(
    client: TestClient,
    db: Database,
    forms_env: Settings,
    make_form: MakeForm,
    smtp_server: FakeSmtpServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    form = make_form(double_opt_in=True)
    honeypot = post_form(client, form.key, {"email": "victim@fans.net", "website": "http://spam.example"})
    assert honeypot.status_code == 303 and honeypot.headers["location"] == f"/f/{form.key}/thanks"
    forged = _post_raw(client, form.key, {"email": "victim@fans.net", "t": "fr1.2.forged"})
    missing = _post_raw(client, form.key, {"email": "victim@fans.net"})
    assert forged == missing == 303
    # The default 3 s: a page submitted at once is a bot's; one filled for 10 s is a person's.
    monkeypatch.setenv("FANHUB_FORM_MIN_FILL_SECONDS", "3")
    get_settings.cache_clear()
    assert post_form(client, form.key, {"email": "victim@fans.net"}).status_code == 303
    assert _submissions(db) == 0
    assert confirmations.send_emails(db, get_settings()) == 0 and smtp_server.received() == []
    stamp = abuse.render_token(form.id, utcnow() - timedelta(seconds=10))
    assert _post_raw(client, form.key, {"email": "person@fans.net", "t": stamp, "website": ""}) == 303
    stale = abuse.render_token(form.id, utcnow() - timedelta(days=2))
    assert _post_raw(client, form.key, {"email": "late@fans.net", "t": stale}) == 303
    assert _submissions(db) == 1
    assert confirmations.send_emails(db, get_settings()) == 1
    assert [m.rcpt_tos for m in smtp_server.received()] == [["person@fans.net"]]


def test_rate_limits_per_ip_and_per_form_answer_429_with_retry_after(
    client: TestClient, db: Database, forms_env: Settings, make_form: MakeForm, monkeypatch: pytest.MonkeyPatch
) -> None:
    form = make_form()
    stamp = abuse.render_token(form.id, None)
    for n in range(10):
        assert _post_raw(client, form.key, {"email": f"fan{n}@fans.net", "t": stamp}) == 303
    refused = client.post(
        f"/f/{form.key}", content=urlencode({"email": "fan10@fans.net", "t": stamp}), headers=FORM_HEADERS
    )
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert _submissions(db) == 10

    # Per form: 300 a minute by default; lowered here, with the per-IP limit off.
    monkeypatch.setenv("FANHUB_FORM_RATE_PER_IP", "0")
    monkeypatch.setenv("FANHUB_FORM_RATE_PER_FORM", "12")
    get_settings.cache_clear()
    other = make_form(name="Other")
    other_stamp = abuse.render_token(other.id, None)
    statuses = [_post_raw(client, other.key, {"email": f"x{n}@fans.net", "t": other_stamp}) for n in range(13)]
    assert statuses == [303] * 12 + [429]


def test_rate_limit_windows_slide() -> None:
    limits = abuse.RateLimits()
    for second in range(3):
        assert limits.check("1.2.3.4", "k", 3, 100, now=float(second)) is None
    refused = limits.check("1.2.3.4", "k", 3, 100, now=10.0)
    assert refused == abuse.Limited("ip", 50)
    assert limits.check("5.6.7.8", "k", 3, 100, now=10.0) is None  # another client
    assert limits.check("1.2.3.4", "k", 3, 100, now=60.5) is None  # the first hit left the window


@pytest.mark.parametrize(
    ("email", "message"),
    [
        ("not-an-address", "not a valid email address"),
        ("fan@venue.test", "reserved domain"),
        ("fan@mail.invalid", "reserved domain"),
        ("fan@localhost", "reserved domain"),
        ("fan@shop.example", "reserved domain"),
    ],
)
def test_bad_addresses_are_refused_naming_the_field(
    client: TestClient, db: Database, forms_env: Settings, make_form: MakeForm, email: str, message: str
) -> None:
    form = make_form(fields=["email", "first_name"])
    stamp = abuse.render_token(form.id, utcnow() - timedelta(seconds=5))
    body = {"email": email, "first_name": "Jo", "t": stamp, "website": ""}
    response = client.post(f"/f/{form.key}", content=urlencode(body), headers=FORM_HEADERS)
    assert response.status_code == 400
    assert "email:" in response.text and message in response.text
    assert 'value="Jo"' in response.text  # the page keeps what was typed, and the first render's
    assert f'name="t" value="{stamp}"' in response.text  # stamp: time already spent counts
    assert _submissions(db) == 0


def test_mx_check_only_when_configured(
    client: TestClient, db: Database, forms_env: Settings, make_form: MakeForm, monkeypatch: pytest.MonkeyPatch
) -> None:
    form = make_form()
    with FakeDnsServer() as dns:
        dns.records[("fans.net", "MX")] = ["10 mx.fans.net."]
        monkeypatch.setenv("FANHUB_DNS_RESOLVER", dns.address)
        get_settings.cache_clear()
        assert post_form(client, form.key, {"email": "a@nomail-here.net"}).status_code == 303  # off by default
        assert dns.queries == []
        monkeypatch.setenv("FANHUB_FORM_DNS_CHECK", "mx")
        get_settings.cache_clear()
        refused = post_form(client, form.key, {"email": "b@nomail-here.net"})
        assert refused.status_code == 400 and "has no mail server" in refused.text
        assert post_form(client, form.key, {"email": "c@fans.net"}).status_code == 303
    assert _submissions(db) == 2


def test_same_answer_whether_or_not_the_address_is_known(
    client: TestClient, db: Database, tenant: Tenant, forms_env: Settings, make_form: MakeForm
) -> None:
    form = make_form(double_opt_in=True)
    first = post_form(client, form.key, {"email": "known@fans.net"})
    again = post_form(client, form.key, {"email": "known@fans.net"})
    new = post_form(client, form.key, {"email": "unknown@fans.net"})
    answers = {(r.status_code, r.headers["location"], r.text) for r in (first, again, new)}
    assert len(answers) == 1


def test_no_form_path_undoes_an_opt_out_without_a_confirmed_explicit_opt_in(
    client: TestClient,
    db: Database,
    tenant: Tenant,
    forms_env: Settings,
    make_form: MakeForm,
    smtp_server: FakeSmtpServer,
    twilio: FakeTwilio,
) -> None:
    org = tenant.organization_id
    form = make_form(double_opt_in=True, fields=["email", "phone"])
    person = {"email": "gone@fans.net", "phone": "+19705550160", "sms_opt_in": "1"}
    post_form(client, form.key, person)
    with db.write() as session:
        contact_id = session.scalar(select(Contact.id).where(Contact.email == "gone@fans.net"))
        assert contact_id is not None
        for channel in (EMAIL, SMS):
            change_consent(session, org, contact_id, ConsentChange(channel, False, "unsubscribe_link", "t", utcnow()))
    # The expiry of the request made before the opt-out, a new request over it, a YES reply (the
    # opt-out was not the number's own STOP): the states stay "unsubscribed", no ledger entry.
    assert service.expire_pending(db, utcnow() + timedelta(days=8)) == 1
    post_form(client, form.key, person)
    _post_inbound(client, twilio, "+19705550160", "YES")
    contact = contact_by_email(client, tenant, "gone@fans.net")
    assert contact["subscriptions"]["email"]["status"] == "unsubscribed"
    assert contact["subscriptions"]["sms"]["status"] == "unsubscribed"
    history = [(e["channel"], e["status"], e["via"]) for e in contact["consent_history"]]
    assert history[-2:] == [("email", "unsubscribed", "unsubscribe_link"), ("sms", "unsubscribed", "unsubscribe_link")]
    # Only the confirmed, explicit opt-in lifts the email opt-out (never the SMS one). The expired
    # request's confirmation is not sent at all.
    assert confirmations.send_emails(db, get_settings()) == 1
    (received,) = smtp_server.received()
    with db.read() as session:
        latest = session.scalars(select(FormSubmission).order_by(FormSubmission.id.desc())).first()
        assert latest is not None and latest.status == "pending"
    link = service.confirm_url(get_settings(), latest.id).removeprefix("http://testserver")
    assert link in received.data.decode()
    client.post(link)
    contact = contact_by_email(client, tenant, "gone@fans.net")
    assert contact["subscriptions"]["email"]["status"] == "subscribed"
    assert contact["subscriptions"]["sms"]["status"] == "unsubscribed"
    assert contact["consent_history"][-1]["via"] == "form.confirm"


def test_cli_form_create_and_forms_print_one_json_object(db: Database, tenant: Tenant, forms_env: Settings) -> None:
    from fanhub.cli import app

    runner = CliRunner()
    args = ["form", "create", "--org", str(tenant.organization_id), "--name", "Presale", "--json"]
    created = runner.invoke(app, [*args, "--fields", "email,phone", "--double-opt-in", "--tags", "presale"])
    assert created.exit_code == 0, created.output
    payload = json.loads(created.stdout)
    assert set(payload) == {"id", "url", "embed_html"}
    assert re.fullmatch(r"http://testserver/f/[\w-]+", payload["url"])
    assert payload["embed_html"].startswith(f'<form action="{payload["url"]}" method="post"')
    assert "<script" not in payload["embed_html"] and 'name="sms_opt_in"' in payload["embed_html"]
    bad = runner.invoke(app, [*args, "--fields", "email,shoe_size"])
    assert bad.exit_code == 1 and "fields" in json.loads(bad.stdout)["error"]
    listed = runner.invoke(app, ["forms", "--org", str(tenant.organization_id), "--json"])
    forms = json.loads(listed.stdout)["forms"]
    assert [(f["id"], f["name"], f["double_opt_in"], f["fields"]) for f in forms] == [
        (payload["id"], "Presale", True, ["email", "phone"])
    ]
