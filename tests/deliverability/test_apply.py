"""End to end: a campaign over real SMTP, its bounces by each route (SMTP-time rejection, a DSN
matched by VERP token, by Message-ID and by address, an ARF complaint, a replay), then a second
campaign that skips every suppressed address. Counts are computed by hand in the comments."""

from __future__ import annotations

from collections.abc import Iterator
from email import message_from_bytes

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from fanhub.audience import suppression
from fanhub.audience.models import ConsentEvent, Contact
from fanhub.campaigns.models import CampaignStats, Delivery
from fanhub.campaigns.sending import run_campaign, start_due
from fanhub.campaigns.sending.trace import read_delivery_token
from fanhub.campaigns.service import create_campaign, schedule_campaign
from fanhub.config import Settings, get_settings
from fanhub.db.engine import Database
from fanhub.deliverability.apply import apply_message
from tests.campaigns.conftest import add_contact, campaign_env, smtp_server, twilio  # noqa: F401 (fixtures)
from tests.conftest import Tenant
from tests.fakes.smtp import FakeSmtpServer

BOUNCES = "bounces@mail.bellyup.example"


@pytest.fixture
def bounce_env(campaign_env: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:  # noqa: F811
    monkeypatch.setenv("FANHUB_BOUNCE_ADDRESS", BOUNCES)
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


def dsn(to: str, recipient: str, status: str, diagnostic: str, original_message_id: str | None = None) -> bytes:
    """An RFC 3464 delivery status notification as Postfix writes it (RFC 3464 section 3, Postfix's
    bounce(8) template): human part, message/delivery-status, the returned headers."""
    returned = f"Message-ID: {original_message_id}\r\n" if original_message_id else ""
    return (
        "From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\r\n"
        f"To: {to}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nI'm sorry to have to inform you that your message could not\r\n"
        "be delivered to one or more recipients.\r\n\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.net\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: {status}\r\n"
        f"Diagnostic-Code: smtp; {diagnostic}\r\n\r\n"
        f"--B\r\nContent-Type: text/rfc822-headers\r\n\r\n{returned}Subject: News\r\n\r\n--B--\r\n"
    ).encode()


def arf(to: str, recipient: str) -> bytes:
    """An RFC 5965 abuse report (the example in RFC 5965 appendix B.1, as Yahoo sends them)."""
    return (
        "From: feedback@arf.mail.yahoo.com\r\n"
        f"To: {to}\r\n"
        "Subject: FW: News\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="A"\r\n\r\n'
        "--A\r\nContent-Type: text/plain\r\n\r\nThis is an email abuse report.\r\n\r\n"
        "--A\r\nContent-Type: message/feedback-report\r\n\r\n"
        "Feedback-Type: abuse\r\nUser-Agent: Yahoo!-Mail-Feedback/2.0\r\nVersion: 1\r\n"
        f"Original-Rcpt-To: {recipient}\r\n\r\n"
        f"--A\r\nContent-Type: message/rfc822\r\n\r\nFrom: news@bellyup.example\r\nTo: {recipient}\r\n"
        "Subject: News\r\n\r\nHello\r\n--A--\r\n"
    ).encode()


def _campaign(db: Database, tenant: Tenant, name: str) -> int:
    with db.write() as session:
        campaign = create_campaign(
            session, tenant.organization_id, type="email", name=name, subject=name, body="Hello {{ first_name }}"
        )
        schedule_campaign(session, tenant.organization_id, campaign.id)
        assert start_due(session) == [campaign.id]
        return campaign.id


def _envelope(smtp: FakeSmtpServer, address: str) -> tuple[str, str]:
    """(envelope sender, Message-ID) of the last message to `address`."""
    received = [r for r in smtp.received() if r.rcpt_tos == [address]][-1]
    return received.mail_from, str(message_from_bytes(received.data)["Message-ID"])


def _stats(db: Database, campaign_id: int) -> tuple[int, ...]:
    with db.read() as session:
        s = session.get(CampaignStats, campaign_id)
        assert s is not None
        return (s.recipients, s.delivered, s.undelivered, s.hard_bounces, s.soft_bounces, s.complaints, s.suppressed)


def test_bounces_by_every_route_then_the_next_campaign_skips_suppressed(
    client: TestClient,
    db: Database,
    tenant: Tenant,
    bounce_env: Settings,
    smtp_server: FakeSmtpServer,  # noqa: F811
) -> None:
    org = tenant.organization_id
    for i in range(6):
        add_contact(client, db, tenant, f"fan{i:02d}@example.com", first_name=f"Fan{i}")
    smtp_server.refuse_recipient("fan00@example.com", "550 5.1.1 <fan00@example.com>: Recipient address rejected")
    first = _campaign(db, tenant, "First")
    run_campaign(db, first)

    # Every message carries its own VERP sender and the providers' metadata headers.
    sender, message_id = _envelope(smtp_server, "fan01@example.com")
    local, _, domain = sender.partition("@")
    assert domain == "mail.bellyup.example" and local.startswith("bounces+")
    with db.read() as session:
        fan01 = session.scalar(select(Delivery).where(Delivery.campaign_id == first, Delivery.address.like("fan01%")))
        assert fan01 is not None and read_delivery_token(local.partition("+")[2]) == fan01.id
    headers = message_from_bytes([r for r in smtp_server.received() if r.rcpt_tos == ["fan01@example.com"]][0].data)
    for name in ("X-SMTPAPI", "X-Mailgun-Variables", "X-PM-Metadata-fanhub_delivery", "X-SES-MESSAGE-TAGS"):
        assert local.partition("+")[2] in str(headers[name])

    # SMTP-time 5xx (fan00): hard, suppressed at once. 6 recipients, 5 delivered, 1 undelivered.
    assert _stats(db, first) == (6, 5, 1, 1, 0, 0, 0)

    # A DSN to fan01's VERP address, naming the address it was forwarded to: applies to fan01.
    hard = dsn(sender, "fan01@forwarded.example.net", "5.1.1", "550 5.1.1 User unknown")
    assert apply_message(db, hard).as_dict() == {
        "read": 1,
        "hard": 1,
        "soft": 0,
        "complaints": 0,
        "ignored": 0,
        "unmatched": 0,
        "duplicates": 0,
    }
    # The same DSN again (a mailbox re-read, an import twice): nothing changes.
    assert apply_message(db, hard).duplicates == 1

    # fan02: mailbox full, matched by the original Message-ID only (no token in the address).
    _, fan02_id = _envelope(smtp_server, "fan02@example.com")
    soft = dsn(BOUNCES, "fan02@example.com", "4.2.2", "552 4.2.2 Mailbox full", original_message_id=fan02_id)
    assert apply_message(db, soft).soft == 1
    # fan03 complains: matched by address (the latest delivery to it within 30 days).
    assert apply_message(db, arf(BOUNCES, "fan03@example.com")).complaints == 1
    # Nobody fanhub ever mailed: unmatched, no organization to tell.
    assert apply_message(db, dsn(BOUNCES, "stranger@example.org", "5.1.1", "550 unknown")).unmatched == 1

    # delivered 5 - fan01 (hard) - fan02 (soft) = 3; undelivered 1 + 2 = 3; hard 2, soft 1, complaints 1.
    assert _stats(db, first) == (6, 3, 3, 2, 1, 1, 0)
    with db.read() as session:
        listed = {s.address: s.reason for s in suppression.page(session, org)[0]}
        assert listed == {
            "fan00@example.com": "hard_bounce",
            "fan01@example.com": "hard_bounce",
            "fan03@example.com": "complaint",
        }
        fan03 = session.scalar(select(Contact).where(Contact.email == "fan03@example.com"))
        assert fan03 is not None and fan03.email_status == "unsubscribed"
        ledger = session.scalars(select(ConsentEvent).where(ConsentEvent.contact_id == fan03.id)).all()
        assert ledger[-1].via == "complaint" and ledger[-1].status == "unsubscribed"
        fan01_contact = session.scalar(select(Contact).where(Contact.email == "fan01@example.com"))
        assert fan01_contact is not None and fan01_contact.email_status == "subscribed"  # a bounce never unsubscribes

    # The second campaign: fan03 unsubscribed (not in the segment); fan00 and fan01 suppressed
    # (left out, counted); fan02 (one soft bounce), fan04, fan05 receive it.
    smtp_server.messages.clear()
    second = _campaign(db, tenant, "Second")
    run_campaign(db, second)
    assert sorted(r.rcpt_tos[0] for r in smtp_server.received()) == [
        "fan02@example.com",
        "fan04@example.com",
        "fan05@example.com",
    ]
    assert _stats(db, second) == (3, 3, 0, 0, 0, 0, 2)

    # Two more soft bounces for fan02 within 30 days reach FANHUB_SOFT_BOUNCE_LIMIT (3): suppressed.
    sender2, _ = _envelope(smtp_server, "fan02@example.com")
    assert apply_message(db, dsn(sender2, "fan02@example.com", "4.2.2", "452 4.2.2 Over quota")).soft == 1
    with db.read() as session:
        assert not suppression.is_suppressed(session, org, "fan02@example.com")
    other = dsn(sender2, "fan02@example.com", "5.2.2", "552 5.2.2 Mailbox full (second notice)")
    assert apply_message(db, other).soft == 1
    with db.read() as session:
        assert suppression.is_suppressed(session, org, "fan02@example.com")
        assert suppression.page(session, org)[0][0].reason == "soft_bounce"


def test_smtp_failures_a_crash_left_unclassified_are_caught_up(
    client: TestClient,
    db: Database,
    tenant: Tenant,
    bounce_env: Settings,  # noqa: F811
    smtp_server: FakeSmtpServer,  # noqa: F811
) -> None:
    from fanhub.campaigns.sending import pipe
    from fanhub.deliverability.apply import apply_smtp_failures, catch_up_smtp_failures

    add_contact(client, db, tenant, "gone@example.com", first_name="Gone")
    smtp_server.refuse_recipient("gone@example.com", "550 5.1.1 No such user")
    pipe.on_failures.remove(apply_smtp_failures)  # the process "died" before the hook ran
    try:
        run_campaign(db, _campaign(db, tenant, "Crash"))
    finally:
        pipe.on_failures.append(apply_smtp_failures)
    with db.read() as session:
        assert not suppression.is_suppressed(session, tenant.organization_id, "gone@example.com")
    assert catch_up_smtp_failures(db) == 1
    assert catch_up_smtp_failures(db) == 0  # once
    with db.read() as session:
        assert suppression.is_suppressed(session, tenant.organization_id, "gone@example.com")


def test_campaign_mail_is_dkim_signed_when_the_organization_has_a_sending_domain(
    client: TestClient,
    db: Database,
    tenant: Tenant,
    bounce_env: Settings,  # noqa: F811
    smtp_server: FakeSmtpServer,  # noqa: F811
) -> None:
    import dkim

    from fanhub.auth.actor import Actor
    from fanhub.organizations.sending_domains import add_sending_domain, dns_records

    with db.write() as session:  # campaign_env's From is news@bellyup.example
        domain = add_sending_domain(session, Actor.cli(tenant.organization_id), "bellyup.example")
        record = next(r for r in dns_records(domain) if r.purpose == "dkim")
    add_contact(client, db, tenant, "fan@example.com", first_name="Fan")
    run_campaign(db, _campaign(db, tenant, "Signed"))
    (received,) = smtp_server.received()
    assert received.data.startswith(b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=bellyup.example;")

    def dns(name: bytes, timeout: int = 5) -> bytes | None:
        return record.value.encode() if name.decode().rstrip(".") == record.name else None

    # aiosmtpd hands over the DATA as sent, so the signature must verify as the recipient's MTA sees it.
    assert dkim.verify(received.data.replace(b"\n", b"\r\n").replace(b"\r\r\n", b"\r\n"), dnsfunc=dns)


def test_no_suppression_change_ever_undoes_an_opt_out(
    client: TestClient,
    db: Database,
    tenant: Tenant,
    bounce_env: Settings,  # noqa: F811
    smtp_server: FakeSmtpServer,  # noqa: F811
) -> None:
    """A complaint from someone who has since opted out changes nothing in the ledger; lifting the
    suppression a complaint made leaves the person unsubscribed; a bounce of a subscriber leaves
    them subscribed (suppressed, not unsubscribed)."""
    org = tenant.organization_id
    for name in ("opted", "bounced"):
        add_contact(client, db, tenant, f"{name}@example.com", first_name=name)
    run_campaign(db, _campaign(db, tenant, "News"))
    with db.write() as session:  # opted@ unsubscribes after the campaign went out
        contact = session.scalar(select(Contact).where(Contact.email == "opted@example.com"))
        assert contact is not None
        from fanhub.audience.consent import ConsentChange
        from fanhub.audience.service import change_consent
        from fanhub.db.base import utcnow

        change_consent(session, org, contact.id, ConsentChange("email", False, "unsubscribe_link", "t", utcnow()))
        opted_id = contact.id

    def ledger(contact_id: int) -> list[tuple[str, str]]:
        with db.read() as session:
            rows = session.scalars(select(ConsentEvent).where(ConsentEvent.contact_id == contact_id)).all()
            return [(e.status, e.via) for e in rows]

    before = ledger(opted_id)
    assert apply_message(db, arf(BOUNCES, "opted@example.com")).complaints == 1
    assert ledger(opted_id) == before  # already unsubscribed: no new entry, nothing undone
    with db.write() as session:
        assert suppression.remove(session, org, "opted@example.com", "staff:1")
    with db.read() as session:
        opted = session.get(Contact, opted_id)
        assert opted is not None and opted.email_status == "unsubscribed"
        assert not suppression.is_suppressed(session, org, "opted@example.com")

    assert apply_message(db, dsn(BOUNCES, "bounced@example.com", "5.1.1", "550 5.1.1 unknown")).hard == 1
    with db.read() as session:
        bounced = session.scalar(select(Contact).where(Contact.email == "bounced@example.com"))
        assert bounced is not None and bounced.email_status == "subscribed"
        assert suppression.is_suppressed(session, org, "bounced@example.com")
    assert ledger(bounced.id)[-1][0] == "subscribed"


def test_a_signed_campaign_signs_each_message_for_its_own_recipient_in_groups(
    client: TestClient,
    db: Database,
    tenant: Tenant,
    bounce_env: Settings,  # noqa: F811
    smtp_server: FakeSmtpServer,  # noqa: F811
) -> None:
    """The pipe builds a signed campaign's messages in groups signed together (pipe._BuiltAhead):
    across 19 recipients (two groups and a part), with one unsubscribed and one whose message does
    not render, every message sent carries one signature, of its own body, and nobody is missed."""
    import dkim

    from fanhub.auth.actor import Actor
    from fanhub.organizations.sending_domains import add_sending_domain, dns_records

    with db.write() as session:
        domain = add_sending_domain(session, Actor.cli(tenant.organization_id), "bellyup.example")
        record = next(r for r in dns_records(domain) if r.purpose == "dkim")
    for i in range(19):
        add_contact(client, db, tenant, f"fan{i}@example.com", first_name="Ann" if i == 9 else f"Fan{i:02d}")
    add_contact(client, db, tenant, "left@example.com", first_name="Left", email_opt_in=False)
    with db.write() as session:
        campaign = create_campaign(
            session,
            tenant.organization_id,
            type="email",
            name="Groups",
            subject="Hi {{ first_name }}",
            body="Hello {{ first_name }}, row {{ 100 // (first_name|length - 3) }}",  # "Ann" divides by zero
        )
        schedule_campaign(session, tenant.organization_id, campaign.id)
        assert start_due(session) == [campaign.id]
    counters = run_campaign(db, campaign.id)
    assert counters["delivered"] == 18, counters

    def dns(name: bytes, timeout: int = 5) -> bytes | None:
        return record.value.encode() if name.decode().rstrip(".") == record.name else None

    received = smtp_server.received()
    assert sorted(r.rcpt_tos[0] for r in received) == sorted(f"fan{i}@example.com" for i in range(19) if i != 9)
    for message in received:
        data = message.data.replace(b"\n", b"\r\n").replace(b"\r\r\n", b"\r\n")
        assert data.count(b"DKIM-Signature:") == 1
        assert f"<{message.rcpt_tos[0]}>\r\n".encode() in data.split(b"\r\nTo: ", 1)[1][:80]
        assert dkim.verify(data, dnsfunc=dns), message.rcpt_tos
    with db.read() as session:
        failed = session.scalars(
            select(Delivery).where(Delivery.campaign_id == campaign.id, Delivery.status == "failed")
        )
        assert [(d.address, (d.error or "").split()[0]) for d in failed] == [("fan9@example.com", "render_error")]
