"""Sending double opt-in confirmations (email and SMS) from the stored submission rows.

The web request only stores the submission with `email_send_state = queued` (and `sms_send_state`
when the SMS box was ticked); the worker sends them, like campaign deliveries, at most once:

1. claim: one conditional UPDATE turns `queued` into `sending` and is committed BEFORE the
   provider call (two workers never both claim a row);
2. the provider call, through the normal transports (`campaigns.sending`: SMTP with a Message-ID,
   the VERP envelope sender when FANHUB_BOUNCE_ADDRESS is set, DKIM with the organization's key);
3. the outcome: `sent` (with its time and Message-ID), `failed` when the provider refused it, back
   to `queued` when it was down (tried again on the next round), `skipped` when the address is on
   the suppression list.

A crash between 1 and 3 leaves the row `sending`; after `LEASE` it becomes `unknown` and is NOT
retried: a person may ask again from the form, while a confirmation sent twice is the mail bomb
the form must never be. A queued row survives any crash (it is committed with the submission).
"""

from __future__ import annotations

import html
import logging
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from email.utils import formataddr, formatdate, parseaddr

from sqlalchemy import select, update

from fanhub.audience import suppression
from fanhub.campaigns import tokens
from fanhub.campaigns.sending import Ambiguous, Deferred, Message, Rejected, TryLater, email_transport, sms_transport
from fanhub.campaigns.sending.trace import verp_sender
from fanhub.config import Settings
from fanhub.db.base import utcnow
from fanhub.db.engine import Database
from fanhub.forms.models import FAILED, PENDING, QUEUED, SENDING, SENT, SKIPPED, UNKNOWN, Form, FormSubmission
from fanhub.forms.service import confirm_url, rowcount
from fanhub.organizations.sending_domains import dkim_signer_for
from fanhub.organizations.service import get_organization, sender_address

log = logging.getLogger(__name__)
LEASE = timedelta(minutes=10)
BOUNCE = "fb"  # token purpose of a confirmation's VERP envelope sender


def _claim(database: Database, column: str, now: datetime, limit: int) -> list[int]:
    """Claim up to `limit` queued rows of one channel (committed before anything is sent)."""
    state = getattr(FormSubmission, column)
    with database.write() as session:
        ids = list(
            session.scalars(select(FormSubmission.id).where(state == QUEUED).order_by(FormSubmission.id).limit(limit))
        )
        claimed = []
        for submission_id in ids:
            stamp = {"email_sent_at" if column == "email_send_state" else "sms_sent_at": now}
            done = rowcount(
                session.execute(
                    update(FormSubmission)
                    .where(FormSubmission.id == submission_id, state == QUEUED)
                    .values({column: SENDING, **stamp})
                )
            )
            if done:
                claimed.append(submission_id)
    return claimed


def _finish(database: Database, submission_id: int, column: str, state: str, **values: object) -> None:
    with database.write() as session:
        session.execute(
            update(FormSubmission)
            .where(FormSubmission.id == submission_id, getattr(FormSubmission, column) == SENDING)
            .values({column: state, **values})
        )


def confirmation_email(
    settings: Settings, submission_id: int, mail_from: str, to: str, names: tuple[str, str]
) -> tuple[bytes, str]:
    """(RFC 5322 bytes, Message-ID) of the confirmation email: a plain transactional message with
    the signed link; no tracking, no List-Unsubscribe (nothing to unsubscribe from yet)."""
    form_name, organization_name = names
    link = confirm_url(settings, submission_id)
    domain = parseaddr(mail_from)[1].rpartition("@")[2] or "fanhub.local"
    message_id = f"<f{submission_id}.{secrets.token_hex(6)}@{domain}>"
    subject = f"Confirm your subscription to {organization_name}"
    text = (
        f"Hello,\r\n\r\nsomeone (we hope you) signed up with this address on {organization_name}'s form "
        f'"{form_name}".\r\nTo start receiving emails, confirm here:\r\n\r\n{link}\r\n\r\n'
        "If it was not you, ignore this message: you will not be subscribed.\r\n"
    )
    markup = (
        f"<p>Hello,</p><p>someone (we hope you) signed up with this address on {html.escape(organization_name)}'s "
        f'form &ldquo;{html.escape(form_name)}&rdquo;.</p><p><a href="{html.escape(link)}">Confirm my '
        "subscription</a></p><p>If it was not you, ignore this message: you will not be subscribed.</p>"
    )
    boundary = f"=_fhc_{secrets.token_hex(8)}"
    from email.header import Header

    head = [
        f"From: {mail_from}",
        f"To: {to}",
        f"Subject: {Header(subject, 'utf-8').encode()}",
        f"Date: {formatdate(usegmt=True)}",
        f"Message-ID: {message_id}",
        "MIME-Version: 1.0",
        "Auto-Submitted: auto-generated",
        f'Content-Type: multipart/alternative; boundary="{boundary}"',
    ]
    body = (
        "\r\n".join(head)
        + f"\r\n\r\n--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        + text
        + f"\r\n--{boundary}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        + markup
        + f"\r\n--{boundary}--\r\n"
    )
    return body.encode("utf-8"), message_id


def _bounce_token(submission_id: int) -> str:
    token = tokens.make_token(BOUNCE, submission_id)
    body, _, signature = token.rpartition(".")
    return f"{body}-{signature.encode().hex()}"


def send_emails(database: Database, settings: Settings, now: datetime | None = None, limit: int = 50) -> int:
    """Send up to `limit` queued confirmation emails; returns how many were handed over."""
    now = now or utcnow()
    claimed = _claim(database, "email_send_state", now, limit)
    if not claimed:
        return 0
    transport = email_transport(settings)
    sent = 0
    try:
        for submission_id in claimed:
            sent += _send_email(database, settings, transport.push, submission_id)
    finally:
        transport.close()
    return sent


def _send_email(
    database: Database, settings: Settings, push: Callable[[Message], str | None], submission_id: int
) -> int:
    with database.read() as session:
        submission = session.get(FormSubmission, submission_id)
        assert submission is not None
        # Nothing to confirm any more (expired, or confirmed from another request), or an address
        # nothing may be sent to.
        if submission.status != PENDING or suppression.is_suppressed(
            session, submission.organization_id, submission.email
        ):
            state = SKIPPED
        else:
            state = ""
            organization = get_organization(session, submission.organization_id)
            form = session.get(Form, submission.form_id)
            mail_from = sender_address(organization, settings)
            sign = dkim_signer_for(session, organization.id, parseaddr(mail_from)[1].rpartition("@")[2])
            names = (form.name if form else "", organization.name)
            to = (
                formataddr((submission.first_name or "", submission.email))
                if submission.first_name
                else submission.email
            )
    if state == SKIPPED:
        _finish(database, submission_id, "email_send_state", SKIPPED)
        return 0
    body, message_id = confirmation_email(settings, submission_id, mail_from, to, names)
    if sign is not None:
        body = sign(body)
    envelope = verp_sender(settings.bounce_address, _bounce_token(submission_id), parseaddr(mail_from)[1])
    try:
        push(Message(0, 0, submission.email, sender=envelope, body=body, message_id=message_id))
    except (Rejected, Deferred) as error:
        log.warning("confirmation %s refused: %s", submission_id, error)
        _finish(database, submission_id, "email_send_state", FAILED)
        return 0
    except Ambiguous:
        _finish(database, submission_id, "email_send_state", UNKNOWN)
        return 0
    except TryLater:
        _finish(database, submission_id, "email_send_state", QUEUED)
        return 0
    _finish(database, submission_id, "email_send_state", SENT, email_sent_at=utcnow(), email_message_id=message_id)
    return 1


def sms_text(organization_name: str) -> str:
    return (
        f"{organization_name}: reply YES to confirm you want texts from us. "
        "Msg&data rates may apply. Reply STOP to stop."
    )


def send_sms(database: Database, settings: Settings, now: datetime | None = None, limit: int = 50) -> int:
    """Send up to `limit` queued confirmation texts (the YES request)."""
    now = now or utcnow()
    claimed = _claim(database, "sms_send_state", now, limit)
    if not claimed:
        return 0
    transport = sms_transport(settings)
    sent = 0
    try:
        for submission_id in claimed:
            with database.read() as session:
                submission = session.get(FormSubmission, submission_id)
                assert submission is not None and submission.phone
                phone = submission.phone
                text = sms_text(get_organization(session, submission.organization_id).name)
            try:
                transport.push(Message(0, 0, phone, text=text))
            except (Rejected, Deferred):
                _finish(database, submission_id, "sms_send_state", FAILED)
                continue
            except Ambiguous:
                _finish(database, submission_id, "sms_send_state", UNKNOWN)
                continue
            except TryLater:
                _finish(database, submission_id, "sms_send_state", QUEUED)
                continue
            _finish(database, submission_id, "sms_send_state", SENT, sms_sent_at=utcnow())
            sent += 1
    finally:
        transport.close()
    return sent


def recover_stale(database: Database, now: datetime | None = None) -> int:
    """Rows left `sending` by a crashed worker become `unknown` (maybe sent; never sent again)."""
    now = now or utcnow()
    changed = 0
    with database.write() as session:
        for column, at in (("email_send_state", "email_sent_at"), ("sms_send_state", "sms_sent_at")):
            changed += rowcount(
                session.execute(
                    update(FormSubmission)
                    .where(getattr(FormSubmission, column) == SENDING, getattr(FormSubmission, at) < now - LEASE)
                    .values({column: UNKNOWN})
                )
            )
    return changed
