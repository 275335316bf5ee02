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

import functools
import html
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import formataddr, formatdate, parseaddr

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from fanhub.audience import suppression
from fanhub.campaigns import tokens
from fanhub.campaigns.sending import Ambiguous, Deferred, Message, Rejected, TryLater, email_transport, sms_transport
from fanhub.campaigns.sending.trace import verp_sender
from fanhub.config import Settings
from fanhub.db.base import utcnow
from fanhub.db.engine import Database
from fanhub.forms.models import FAILED, PENDING, QUEUED, SENDING, SENT, SKIPPED, UNKNOWN, Form, FormSubmission
from fanhub.forms.service import confirm_url, rowcount
from fanhub.organizations.dkim_signing import DkimSigner
from fanhub.organizations.sending_domains import dkim_signer_for
from fanhub.organizations.service import get_organization, sender_address

log = logging.getLogger(__name__)
LEASE = timedelta(minutes=10)
BOUNCE = "fb"  # token purpose of a confirmation's VERP envelope sender
# Core statements over the table (executemany, RETURNING) skip the ORM's per-statement work.
_TABLE: Table = FormSubmission.__table__  # type: ignore[assignment]


def _claim(database: Database, column: str, now: datetime, limit: int) -> list[int]:
    """Claim up to `limit` queued rows of one channel (committed before anything is sent).

    One conditional UPDATE for the batch: a row another worker claimed meanwhile is no longer
    `queued` and is not returned."""
    state = getattr(FormSubmission, column)
    stamp = {"email_sent_at" if column == "email_send_state" else "sms_sent_at": now}
    with database.write() as session:
        ids = list(
            session.scalars(select(FormSubmission.id).where(state == QUEUED).order_by(FormSubmission.id).limit(limit))
        )
        if not ids:
            return []
        claim = (
            update(_TABLE)
            .where(_TABLE.c.id.in_(ids), _TABLE.c[column] == QUEUED)
            .values({column: SENDING, **stamp})
            .returning(_TABLE.c.id)
        )
        return sorted(session.scalars(claim))


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
    head = [
        f"From: {mail_from}",
        f"To: {to}",
        f"Subject: {_encoded_subject(subject)}",
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


@functools.lru_cache(maxsize=256)
def _encoded_subject(subject: str) -> str:
    """The RFC 2047 form of a subject; the same for every email of an organization, and encoding it
    was most of the CPU of building one."""
    from email.header import Header

    return Header(subject, "utf-8").encode()


def _bounce_token(submission_id: int) -> str:
    token = tokens.make_token(BOUNCE, submission_id)
    body, _, signature = token.rpartition(".")
    return f"{body}-{signature.encode().hex()}"


def send_emails(database: Database, settings: Settings, now: datetime | None = None, limit: int = 50) -> int:
    """Send up to `limit` queued confirmation emails; returns how many were handed over.

    One read for the whole batch (organizations, senders, DKIM signers and suppressions looked up
    once each) and one write for all the outcomes: the claim committed before sending is what
    makes sending at most once, so the outcomes need no transaction each (a crash before they are
    written leaves the rows `sending`, then `unknown`, never sent again)."""
    now = now or utcnow()
    claimed = _claim(database, "email_send_state", now, limit)
    if not claimed:
        return 0
    with database.read() as session:
        prepared = _prepare_emails(session, settings, claimed)
    outcomes: list[tuple[int, str, dict[str, object]]] = []
    transport = email_transport(settings)
    try:
        for submission_id in claimed:
            ready = prepared.get(submission_id)
            if ready is None:
                outcomes.append((submission_id, SKIPPED, {}))
                continue
            state = _push_email(settings, transport.push, submission_id, ready)
            values: dict[str, object] = {"email_sent_at": utcnow(), "email_message_id": ready.message_id}
            outcomes.append((submission_id, state, values if state == SENT else {}))
            if state == QUEUED:  # the provider is down: the rest waits for the next round too
                outcomes += [(other, QUEUED, {}) for other in claimed[len(outcomes) :]]
                break
    finally:
        transport.close()
        _finish_all(database, "email_send_state", outcomes)
    return sum(1 for _, state, _ in outcomes if state == SENT)


@dataclass
class _Ready:
    """One confirmation email, built (the DKIM signature is added when it is pushed)."""

    to: str
    body: bytes
    message_id: str
    envelope: str
    sign: Callable[[bytes], bytes] | None


def _prepare_emails(session: Session, settings: Settings, ids: list[int]) -> dict[int, _Ready]:
    """The emails to send among the claimed rows; a row still to confirm whose address is not
    suppressed, else it is left out (skipped: expired, confirmed from another request, suppressed)."""
    submissions = list(session.scalars(select(FormSubmission).where(FormSubmission.id.in_(ids))))
    senders: dict[int, tuple[str, str, DkimSigner | None, set[str]]] = {}
    form_names: dict[int, str] = {}
    ready: dict[int, _Ready] = {}
    for submission in submissions:
        org = submission.organization_id
        if org not in senders:
            organization = get_organization(session, org)
            mail_from = sender_address(organization, settings)
            sign = dkim_signer_for(session, org, parseaddr(mail_from)[1].rpartition("@")[2])
            addresses = [s.email for s in submissions if s.organization_id == org]
            senders[org] = (mail_from, organization.name, sign, suppression.suppressed_among(session, org, addresses))
        mail_from, organization_name, sign, suppressed = senders[org]
        if submission.status != PENDING or suppression.normalized(submission.email) in suppressed:
            continue
        if submission.form_id not in form_names:
            form = session.get(Form, submission.form_id)
            form_names[submission.form_id] = form.name if form else ""
        names = (form_names[submission.form_id], organization_name)
        to = formataddr((submission.first_name, submission.email)) if submission.first_name else submission.email
        body, message_id = confirmation_email(settings, submission.id, mail_from, to, names)
        envelope = verp_sender(settings.bounce_address, _bounce_token(submission.id), parseaddr(mail_from)[1])
        ready[submission.id] = _Ready(submission.email, body, message_id, envelope, sign)
    return ready


def _push_email(settings: Settings, push: Callable[[Message], str | None], submission_id: int, ready: _Ready) -> str:
    """The state a confirmation email ends in once handed to the provider (or refused)."""
    body = ready.sign(ready.body) if ready.sign is not None else ready.body
    try:
        push(Message(0, 0, ready.to, sender=ready.envelope, body=body, message_id=ready.message_id))
    except (Rejected, Deferred) as error:
        log.warning("confirmation %s refused: %s", submission_id, error)
        return FAILED
    except Ambiguous:
        return UNKNOWN
    except TryLater:
        return QUEUED
    return SENT


def _finish_all(database: Database, column: str, outcomes: list[tuple[int, str, dict[str, object]]]) -> None:
    """Write the outcomes: one statement executed with many parameter sets per kind of outcome
    (a compiled UPDATE per row cost the worker more CPU than building the email)."""
    if not outcomes:
        return
    table = _TABLE
    kinds: dict[tuple[str, ...], list[dict[str, object]]] = {}
    for submission_id, state, values in outcomes:
        kinds.setdefault(tuple(sorted(values)), []).append({"b_id": submission_id, column: state, **values})
    with database.write() as session:
        connection = session.connection()
        for names, rows in kinds.items():
            statement = (
                update(table)
                .where(table.c.id == bindparam("b_id"), table.c[column] == SENDING)
                .values({name: bindparam(name) for name in (column, *names)})
            )
            connection.execute(statement, rows)


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
