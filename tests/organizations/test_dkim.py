"""DKIM: a campaign email built by the sending pipe, signed with the organization's key, verifies
with dkimpy against the record the sending-domain page publishes; any change to the body or a
signed header breaks it; the signature is dkimpy's own, byte for byte."""

from __future__ import annotations

import re

import dkim
import pytest

from fanhub.auth.actor import Actor
from fanhub.campaigns.render import RenderedEmail
from fanhub.campaigns.sending.message import build_email
from fanhub.db.engine import Database
from fanhub.organizations.dkim_signing import SIGNED_HEADERS, DkimSigner
from fanhub.organizations.models import SendingDomain
from fanhub.organizations.sending_domains import add_sending_domain, dkim_signer_for, dns_records
from fanhub.secrets import decrypt_text
from tests.conftest import Tenant, make_tenant


def _campaign_email(subject: str = "Fan, new show on sale") -> bytes:
    rendered = RenderedEmail(
        subject=subject,
        html='<p>Hi Fan,</p><p>The Head &amp; The Heart plays Belly Up. <a href="https://venue.example/t">Tickets</a></p>',
        text="Hi Fan,\nThe Head & The Heart plays Belly Up. Tickets (https://venue.example/t)\n",
        unsubscribe_url="https://fans.venue.example/t/u/abc",
    )
    return build_email(
        mail_from="Belly Up <news@venue.example>",
        to_name="Zoë Fan",
        to_address="fan@example.com",
        rendered=rendered,
        message_id="<c1.d7.abc@venue.example>",
        campaign_id=1,
    )


@pytest.fixture
def sending_domain(db: Database, tenant: Tenant) -> SendingDomain:
    with db.write() as session:
        added = add_sending_domain(session, Actor.cli(tenant.organization_id), "venue.example")
        session.expunge(added)
        return added


def _dns(domain: SendingDomain):  # type: ignore[no-untyped-def]
    """dkimpy's dnsfunc answering with the DKIM record the page tells the venue to publish."""
    record = next(r for r in dns_records(domain) if r.purpose == "dkim")

    def answer(name: bytes, timeout: int = 5) -> bytes | None:
        return record.value.encode() if name.decode().rstrip(".") == record.name else None

    return answer


def test_a_signed_campaign_email_verifies(db: Database, tenant: Tenant, sending_domain: SendingDomain) -> None:
    with db.read() as session:
        sign = dkim_signer_for(session, tenant.organization_id, "VENUE.example")
    assert sign is not None
    signed = sign(_campaign_email())
    assert signed.startswith(b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=venue.example;")
    assert signed.endswith(_campaign_email()[-200:])
    header = signed.split(b"\r\nFrom: ", 1)[0].decode()
    assert f"s={sending_domain.selector};" in header
    signed_names = re.search(r"h=([^;]+);", header, re.S).group(1)  # type: ignore[union-attr]
    assert [n.strip() for n in signed_names.split(":")] == [h.decode() for h in SIGNED_HEADERS]
    assert dkim.verify(signed, dnsfunc=_dns(sending_domain))


def test_a_changed_body_or_subject_fails_verification(
    db: Database, tenant: Tenant, sending_domain: SendingDomain
) -> None:
    with db.read() as session:
        sign = dkim_signer_for(session, tenant.organization_id, "venue.example")
    assert sign is not None
    signed = sign(_campaign_email())
    tampered_body = signed.replace(b"plays Belly Up", b"plays Belly Down")
    assert tampered_body != signed
    assert not dkim.verify(tampered_body, dnsfunc=_dns(sending_domain))
    tampered_subject = signed.replace(b"Subject: Fan, new show", b"Subject: Fan, old show")
    assert tampered_subject != signed
    assert not dkim.verify(tampered_subject, dnsfunc=_dns(sending_domain))
    # Relaxed canonicalization: whitespace a relay may change inside a line does not matter.
    assert dkim.verify(signed.replace(b"Subject: Fan,", b"Subject:   Fan,"), dnsfunc=_dns(sending_domain))


def test_the_signature_is_dkimpys_byte_for_byte(
    db: Database, sending_domain: SendingDomain, monkeypatch: pytest.MonkeyPatch
) -> None:
    with db.read() as session:
        stored = session.get(SendingDomain, sending_domain.id)
        assert stored is not None
        pem = decrypt_text(stored.private_key_encrypted).encode()
    message = _campaign_email()
    monkeypatch.setattr(dkim.time, "time", lambda: 1_800_000_000)
    expected = dkim.sign(
        message,
        sending_domain.selector.encode(),
        b"venue.example",
        pem,
        canonicalize=(b"relaxed", b"relaxed"),
        include_headers=list(SIGNED_HEADERS),
    )
    signer = DkimSigner("venue.example", sending_domain.selector, pem)
    assert signer.signature(message, timestamp=1_800_000_000) == expected


def test_no_signer_without_a_sending_domain_for_that_from_domain(
    db: Database, tenant: Tenant, sending_domain: SendingDomain
) -> None:
    other = make_tenant(db, "Other venue", "other")
    with db.read() as session:
        assert dkim_signer_for(session, tenant.organization_id, "other.example") is None
        assert dkim_signer_for(session, tenant.organization_id, "news.venue.example") is None
        assert dkim_signer_for(session, other.organization_id, "venue.example") is None
