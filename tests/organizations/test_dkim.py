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


# Messages the signer reads without dkimpy's parser (organizations.dkim_signing.split_message and
# the relaxed canonicalization of the signed fields only): each signed byte for byte as dkim.sign
# signs it, and verifying with dkim.verify. What a relay or another sender may hand over:
AWKWARD_MESSAGES = {
    # Folded fields (an encoded-word Subject over three lines, tabs and runs of spaces, a folded To),
    # a repeated signed field (the last one is signed), an upper-case name, an unsigned field between.
    "folded_headers": (
        b"FROM: Belly Up <news@venue.example>\r\n"
        b"To: first@example.com\r\n"
        b"Subject: =?utf-8?q?Zo=C3=AB=2C_new_show?=\r\n =?utf-8?q?_on_sale_at_the?=\r\n\t  Belly   Up \r\n"
        b"To:  Zo\xc3\xab Fan\r\n  <fan@example.com>  \r\n"
        b"X-Unsigned: a\r\n\tb\r\n"
        b"Date: Fri, 27 Nov 2026 10:00:00 GMT\r\n"
        b"Message-ID: <c1.d7.abc@venue.example>\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
        b"Hello\r\n"
    ),
    # Trailing blank lines (ignored by relaxed body canonicalization), trailing and inner whitespace.
    "trailing_blank_lines": (
        b"From: news@venue.example\r\nTo: fan@example.com\r\nSubject: Hi\r\n\r\n"
        b"Hello \t \r\n  spaced\t\tout  words\r\n\r\n \r\n\r\n\r\n"
    ),
    # Bare LF line ends throughout (dkimpy reads them as CRLF).
    "lf_line_ends": b"From: news@venue.example\nTo: fan@example.com\nSubject: Hi\n folded\n\nline one\nline two\n\n",
    # Mixed line ends: CRLF fields, an LF before the empty line, a body with both.
    "mixed_line_ends": b"From: news@venue.example\r\nSubject: x\n\r\nline one\nline  two\r\n\n",
    # An mbox "From " line before the fields, and no body at all.
    "mbox_line_no_body": (
        b"From news@venue.example Fri Nov 27 10:00:00 2026\r\nFrom: news@venue.example\r\nSubject: x\r\n\r\n"
    ),
}


@pytest.mark.parametrize("name", sorted(AWKWARD_MESSAGES))
def test_awkward_messages_are_signed_like_dkimpy_and_verify(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from fanhub.organizations.dkim_signing import generate_private_key

    message = AWKWARD_MESSAGES[name]
    pem, public_key = generate_private_key()
    monkeypatch.setattr(dkim.time, "time", lambda: 1_800_000_000)
    expected = dkim.sign(
        message,
        b"fh1",
        b"venue.example",
        pem,
        canonicalize=(b"relaxed", b"relaxed"),
        include_headers=list(SIGNED_HEADERS),
    )
    signature = DkimSigner("venue.example", "fh1", pem).signature(message, timestamp=1_800_000_000)
    assert signature == expected

    def dns(query: bytes, timeout: int = 5) -> bytes | None:
        found = query.decode().rstrip(".") == "fh1._domainkey.venue.example"
        return f"v=DKIM1; k=rsa; p={public_key}".encode() if found else None

    assert dkim.verify(signature + message, dnsfunc=dns)
    # The body is covered: a line added after it breaks the signature, more blank lines do not.
    assert not dkim.verify(signature + message + b"tail\r\n", dnsfunc=dns)
    assert dkim.verify(signature + message + b"\r\n\r\n", dnsfunc=dns)


def test_a_signature_started_when_the_message_is_built_is_the_same() -> None:
    """The sending pipe starts signing at build time, in the signing process
    (campaigns.sending.message.EarlySignature, dkim_signing.sign_in_background); the connection gets
    exactly what signing here would give at that t=, and a body changed since is signed as is."""
    from fanhub.campaigns.sending.message import EarlySignature, sign_early
    from fanhub.organizations.dkim_signing import generate_private_key

    pem, _ = generate_private_key()
    signer = DkimSigner("venue.example", "fh1", pem)
    body = _campaign_email()
    early = EarlySignature(signer, body)
    signed = early(body)
    stamp = int(re.search(rb"t=(\d+);", signed).group(1))  # type: ignore[union-attr]
    assert signed == signer.signature(body, timestamp=stamp) + body
    other = _campaign_email("Another subject")
    assert early(other).endswith(other) and early(other) != signed
    bodies = [_campaign_email(f"Subject {i}") for i in range(19)]
    for position, signature in enumerate(sign_early(signer, bodies)):  # three requests, each its own
        assert signature(bodies[position]).endswith(bodies[position])
        assert dkim.verify(signature(bodies[position]), dnsfunc=_record_of(pem))


def _record_of(pem: bytes):  # type: ignore[no-untyped-def]
    """dkimpy's dnsfunc answering with the public key of `pem` for fh1._domainkey.venue.example."""
    from cryptography.hazmat.primitives import serialization

    from fanhub.organizations.dkim_signing import public_key_of

    key = serialization.load_pem_private_key(pem, password=None)
    record = f"v=DKIM1; k=rsa; p={public_key_of(key)}".encode()  # type: ignore[arg-type]

    def answer(name: bytes, timeout: int = 5) -> bytes | None:
        return record if name.decode().rstrip(".") == "fh1._domainkey.venue.example" else None

    return answer


def test_a_forked_child_signs_early_with_its_own_signing_process() -> None:
    """The signing process belongs to the parent: a child forked after a send still signs, with
    a signing process of its own (it would wait forever on the parent's; SIGALRM ends it if so)."""
    import os
    import signal

    from fanhub.campaigns.sending.message import EarlySignature
    from fanhub.organizations.dkim_signing import generate_private_key

    pem, _ = generate_private_key()
    signer = DkimSigner("venue.example", "fh1", pem)
    body = _campaign_email()
    assert EarlySignature(signer, body)(body).startswith(b"DKIM-Signature:")  # the parent's pool runs
    child = os.fork()
    if child == 0:  # pragma: no cover (runs in the child)
        signal.alarm(20)
        signed = EarlySignature(signer, body)(body)
        os._exit(0 if signed.startswith(b"DKIM-Signature:") else 1)
    _, status = os.waitpid(child, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def test_a_killed_signing_process_is_replaced_and_nothing_goes_unsigned() -> None:
    """Signatures awaited from a signing process that is killed are made where they are collected;
    the next messages get a new signing process."""
    import multiprocessing
    import os
    import signal
    from concurrent.futures import BrokenExecutor

    from fanhub.campaigns.sending.message import sign_early
    from fanhub.organizations.dkim_signing import generate_private_key

    pem, _ = generate_private_key()
    signer = DkimSigner("venue.example", "fh1", pem)
    bodies = [_campaign_email(f"Subject {i}") for i in range(3)]
    assert all(s(b).endswith(b) for s, b in zip(sign_early(signer, bodies), bodies, strict=True))
    children = multiprocessing.active_children()
    assert children  # the signing process
    waiting = _campaign_email("Pending")
    pending = sign_early(signer, [waiting] * 3000)  # most of a second of signing
    for child in children:
        os.kill(child.pid, signal.SIGKILL)  # type: ignore[arg-type]
    assert dkim.verify(pending[-1](waiting), dnsfunc=_record_of(pem))  # signed where it was collected
    assert isinstance(pending[-1]._signed.exception(), BrokenExecutor)
    for later in (sign_early(signer, bodies), sign_early(signer, bodies)):
        for signature, body in zip(later, bodies, strict=True):
            assert dkim.verify(signature(body), dnsfunc=_record_of(pem))
    assert {c.pid for c in multiprocessing.active_children()} - {c.pid for c in children}


def test_signing_requests_from_many_threads_each_get_their_own_signatures() -> None:
    """Replies come back in the order requests went out (one pipe, one reader thread): requests
    sent from several threads at once never get each other's signatures."""
    from concurrent.futures import ThreadPoolExecutor

    from fanhub.organizations.dkim_signing import generate_private_key, sign_in_background

    pem, _ = generate_private_key()
    signer = DkimSigner("venue.example", "fh1", pem)
    verify = _record_of(pem)

    def sign_batch(thread: int) -> list[tuple[bytes, bytes]]:
        bodies = [_campaign_email(f"Thread {thread} message {i}") for i in range(12)]
        futures = [sign_in_background(signer, bodies[i : i + 3]) for i in range(0, 12, 3)]
        lines = [line for future in futures for line in future.result(timeout=30)]
        return list(zip(lines, bodies, strict=True))

    with ThreadPoolExecutor(4) as pool:
        signed = [pair for batch in pool.map(sign_batch, range(4)) for pair in batch]
    assert len(signed) == 48
    assert all(dkim.verify(line + body, dnsfunc=verify) for line, body in signed)


def test_a_message_the_signer_refuses_fails_its_request_only() -> None:
    """A request whose message cannot be parsed gets the parser's error; the signing process
    carries on with the next request."""
    from fanhub.organizations.dkim_signing import generate_private_key, sign_in_background

    pem, _ = generate_private_key()
    signer = DkimSigner("venue.example", "fh1", pem)
    refused = sign_in_background(signer, [b"Not a header line\r\n\r\nbody\r\n"])
    body = _campaign_email()
    after = sign_in_background(signer, [body])
    assert isinstance(refused.exception(timeout=30), dkim.MessageFormatError)
    assert dkim.verify(after.result(timeout=30)[0] + body, dnsfunc=_record_of(pem))
