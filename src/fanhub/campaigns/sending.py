"""Sending: email over SMTP (or an .eml outbox), SMS over a Twilio-compatible API (or an outbox file).

## Resumable, at-most-once sending

A campaign that starts sending gets one `Delivery` row per recipient (`pending`), created in one
`INSERT ... SELECT` from its segment, so the recipient list is fixed at that moment. A worker then
sends it slice by slice:

1. reserve: up to `campaign_batch_size` pending rows become `reserved` by this worker (committed;
   `FOR UPDATE SKIP LOCKED` on PostgreSQL so several workers share a campaign);
2. per message, one transaction marks the previous message's outcome and claims this one as
   `sending` (committed BEFORE the provider call);
3. the provider call; its outcome (`sent` / `failed`) is written by the next message's
   transaction, or by the slice's last one.

After a crash, rows still `reserved` were never handed to a provider and go back to `pending`
(no skip). A row left `sending` was in the provider's hands at the moment of the crash and may or
may not have gone out: it becomes `unknown` and is NOT retried. This is the at-most-once choice:
a marketing message sent twice to a fan costs trust (and, for SMS, money and carrier complaints),
while one possibly-missing message per crashed worker is an acceptable, visible loss
(`CampaignStats.unknown`). The window is the messages in flight, at most
`campaign_send_connections` per worker (each on its own provider connection), never a slice.

Durability: the per-message commits are made without waiting for the disk (SQLite WAL with
`synchronous=NORMAL`, PostgreSQL `synchronous_commit=off`, for the sender's connection only; on
PostgreSQL the usual mark-and-claim is one autocommitted UPDATE, a single round trip).
They survive the sender process dying, the crash this design is about; only an operating-system
crash or power loss can lose the last few commits, and then those messages may go out twice.
Waiting for an fsync per message would cost several times the SMTP exchange itself.

Rows are stale when their worker's lease (`LEASE_SECONDS`) ran out, or at once when the worker
was a process on this host that no longer exists.

A provider that is down (connection refused, 4xx "try later", HTTP 429/5xx) did not take the
message: it goes back to `pending` (after `MAX_ATTEMPTS` it fails) and the slice stops, to be
retried on the worker's next round. A contact who unsubscribed after the campaign started is
`skipped` when their turn comes.

## Failures
An SMTP 5xx at MAIL/RCPT/DATA, or a 4xx from the SMS API, is a permanent failure: the delivery is
`failed`, a `DeliveryFailure` row keeps the code and text, and `num_undelivered` counts it. SMS
status callbacks reporting `undelivered`/`failed` do the same later (`campaigns.tracking`).
Asynchronous bounces (DSN emails to the envelope sender) are not read yet.

## Rate limits
Per campaign: `CampaignStats.send_per_second`, else `FANHUB_CAMPAIGN_SEND_PER_SECOND` (0 = no
limit). Per provider: `FANHUB_SMTP_PER_SECOND` / `FANHUB_SMS_PER_SECOND` (0 = no limit), shared by
every campaign sending in this worker process. Both pace messages evenly by sleeping the sender.
"""

from __future__ import annotations

import binascii
import contextlib
import functools
import json
import logging
import os
import queue
import secrets
import smtplib
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.header import Header
from email.utils import formataddr, formatdate, parseaddr
from pathlib import Path
from typing import Any, Protocol

import httpx
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import Connection, and_, bindparam, func, insert, literal, select, text, update
from sqlalchemy.orm import Session

from fanhub.audience.models import SUBSCRIBED, Contact
from fanhub.audience.segments import segment_query
from fanhub.campaigns import tokens
from fanhub.campaigns.models import (
    ATTEMPTING,
    DELIVERED,
    EMAIL,
    FAILED,
    PENDING,
    RESERVED,
    SCHEDULED,
    SENDING,
    SENT,
    SKIPPED,
    UNKNOWN,
    Campaign,
    CampaignLink,
    CampaignStats,
    Delivery,
    DeliveryFailure,
)
from fanhub.campaigns.render import CampaignRenderer, Recipient, RenderedEmail
from fanhub.config import Settings, get_settings
from fanhub.db.base import UTCDateTime, utcnow
from fanhub.db.engine import Database
from fanhub.organizations.service import get_organization, sender_address

log = logging.getLogger(__name__)

LEASE_SECONDS = 600
MAX_ATTEMPTS = 3
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"


class ProviderSettings(BaseSettings):
    """Per-provider rate limits (messages per second per worker process; 0 = no limit)."""

    model_config = SettingsConfigDict(env_prefix="FANHUB_", extra="ignore")
    smtp_per_second: float = 0.0
    sms_per_second: float = 0.0
    smtp_timeout_seconds: float = 30.0


# --- outcomes ------------------------------------------------------------------------------------


class Rejected(Exception):
    """The provider refused this message for good (SMTP 5xx, API 4xx): recorded as undelivered."""

    def __init__(self, kind: str, code: str | None, detail: str) -> None:
        super().__init__(f"{kind} {code}: {detail}")
        self.kind, self.code, self.detail = kind, code, detail


class TryLater(Exception):
    """The provider did not take the message (down, throttled, 4xx): safe to send again later."""


class Ambiguous(Exception):
    """The provider may or may not have taken the message (connection lost mid-transaction)."""


# --- rate limiting -------------------------------------------------------------------------------


class RateLimiter:
    """Even pacing (no bursts: providers count per second) that sleeps the caller; thread-safe."""

    def __init__(self, per_second: float) -> None:
        self.per_second = per_second
        self._lock = threading.Lock()
        self._next = time.monotonic()

    def wait(self) -> None:
        if self.per_second <= 0:
            return
        with self._lock:
            now = time.monotonic()
            interval = 1.0 / self.per_second
            start = max(self._next, now)
            self._next = start + interval
            delay = start - now
        if delay > 0:
            time.sleep(delay)


_provider_limiters: dict[tuple[str, float], RateLimiter] = {}
_limiters_lock = threading.Lock()


def provider_limiter(provider: str, per_second: float) -> RateLimiter:
    with _limiters_lock:
        return _provider_limiters.setdefault((provider, per_second), RateLimiter(per_second))


# --- transports ----------------------------------------------------------------------------------


class EmailTransport(Protocol):
    name: str

    def send(self, sender: str, recipient: str, message: bytes, delivery_id: int, campaign_id: int) -> str | None: ...

    def close(self) -> None: ...


class SmtpTransport:
    """One SMTP connection reused for a slice; `tls` is none | starttls | tls (implicit TLS)."""

    name = "smtp"

    def __init__(
        self,
        host: str,
        port: int,
        *,
        tls: str = "none",
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.host, self.port, self.tls = host, port, tls
        self.username, self.password, self.timeout = username, password, timeout
        self._smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        try:
            smtp: smtplib.SMTP
            if self.tls == "tls":
                smtp = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, context=ssl.create_default_context()
                )
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
                if self.tls == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
            if self.username:
                smtp.login(self.username, self.password or "")
        except (OSError, smtplib.SMTPException) as exc:
            raise TryLater(f"cannot connect to SMTP {self.host}:{self.port}: {exc}") from exc
        return smtp

    def send(self, sender: str, recipient: str, message: bytes, delivery_id: int, campaign_id: int) -> str | None:
        if self._smtp is None:
            self._smtp = self._connect()
        smtp = self._smtp
        try:
            smtp.sendmail(sender, [recipient], message)
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            self._reset(smtp)
            if 400 <= code < 500:
                raise TryLater(f"SMTP {code} {text!r}") from exc
            raise Rejected("smtp_rejected", str(code), _text(text)) from exc
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            self._reset(smtp)
            if 400 <= exc.smtp_code < 500:
                raise TryLater(f"SMTP {exc.smtp_code} {exc.smtp_error!r}") from exc
            raise Rejected("smtp_rejected", str(exc.smtp_code), _text(exc.smtp_error)) from exc
        except (smtplib.SMTPServerDisconnected, OSError, smtplib.SMTPException) as exc:
            # The connection died somewhere in MAIL/RCPT/DATA: we cannot tell whether it was taken.
            self._smtp = None
            raise Ambiguous(f"SMTP connection lost: {exc}") from exc
        return None

    def _reset(self, smtp: smtplib.SMTP) -> None:
        try:
            smtp.rset()
        except (OSError, smtplib.SMTPException):
            self._smtp = None

    def close(self) -> None:
        if self._smtp is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self._smtp.quit()
            self._smtp = None


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class OutboxEmailTransport:
    """No SMTP host configured: each message becomes an .eml file a newcomer can open."""

    name = "outbox"

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send(self, sender: str, recipient: str, message: bytes, delivery_id: int, campaign_id: int) -> str | None:
        folder = self.folder / f"campaign-{campaign_id}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{delivery_id}.eml"
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(message)
        tmp.replace(path)  # atomic: a reader never sees half a message
        return None

    def close(self) -> None:
        pass


class SmsTransport(Protocol):
    name: str

    def send(self, to: str, body: str, status_callback: str, delivery_id: int, campaign_id: int) -> str | None: ...

    def close(self) -> None: ...


class TwilioTransport:
    """POST /2010-04-01/Accounts/{sid}/Messages.json with Basic auth, as Twilio and its clones accept."""

    name = "sms"

    def __init__(self, base_url: str, account_sid: str, auth_token: str, sender: str, timeout: float = 15.0) -> None:
        self.url = f"{base_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self.sender = sender
        self.client = httpx.Client(auth=(account_sid, auth_token), timeout=timeout)

    def send(self, to: str, body: str, status_callback: str, delivery_id: int, campaign_id: int) -> str | None:
        try:
            response = self.client.post(
                self.url, data={"To": to, "From": self.sender, "Body": body, "StatusCallback": status_callback}
            )
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise TryLater(f"SMS provider unreachable: {exc}") from exc
        except httpx.HTTPError as exc:
            raise Ambiguous(f"SMS provider request failed: {exc}") from exc
        if response.status_code == 429 or response.status_code >= 500:
            raise TryLater(f"SMS provider answered {response.status_code}")
        try:
            payload: dict[str, Any] = response.json()
        except ValueError:
            payload = {}
        if response.status_code >= 400:
            raise Rejected(
                "sms_rejected", str(payload.get("code") or response.status_code), str(payload.get("message") or "")
            )
        return str(payload.get("sid")) if payload.get("sid") else None

    def close(self) -> None:
        self.client.close()


class OutboxSmsTransport:
    """No SMS provider configured: messages are appended to outbox/sms.jsonl."""

    name = "outbox"
    _lock = threading.Lock()

    def __init__(self, folder: Path) -> None:
        self.path = folder / "sms.jsonl"

    def send(self, to: str, body: str, status_callback: str, delivery_id: int, campaign_id: int) -> str | None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"campaign_id": campaign_id, "delivery_id": delivery_id, "to": to, "body": body})
        with self._lock, self.path.open("a", encoding="utf-8") as out:
            out.write(line + "\n")
        return f"outbox-{delivery_id}"

    def close(self) -> None:
        pass


def outbox_folder(settings: Settings) -> Path:
    return settings.data_dir / "outbox"


def email_transport(settings: Settings) -> EmailTransport:
    if settings.smtp_host:
        timeout = ProviderSettings().smtp_timeout_seconds
        return SmtpTransport(
            settings.smtp_host,
            settings.smtp_port,
            tls=settings.smtp_tls,
            username=settings.smtp_username,
            password=settings.smtp_password,
            timeout=timeout,
        )
    return OutboxEmailTransport(outbox_folder(settings))


def sms_transport(settings: Settings) -> SmsTransport:
    if settings.sms_base_url and settings.sms_account_sid and settings.sms_auth_token and settings.sms_from:
        return TwilioTransport(
            settings.sms_base_url, settings.sms_account_sid, settings.sms_auth_token, settings.sms_from
        )
    return OutboxSmsTransport(outbox_folder(settings))


# --- the email itself ----------------------------------------------------------------------------


def _header(value: str) -> str:
    value = " ".join(value.split())  # no CR/LF: no header injection
    try:
        value.encode("ascii")
    except UnicodeEncodeError:
        return Header(value, "utf-8").encode(maxlinelen=76)
    return value


# Makes Message-IDs unique across installations and re-sends; one random draw per process
# (a system call per message is measurable under load).
_PROCESS_NONCE = secrets.token_hex(6)


def _part(text: str) -> tuple[str, bytes]:
    """(Content-Transfer-Encoding, body) of a text part: 7bit when it is ASCII with short lines (fewer,
    shorter lines for every relay to process), else quoted-printable."""
    text = text.replace("\r\n", "\n")
    if text.isascii() and max(map(len, text.split("\n")), default=0) <= 900:
        return "7bit", text.replace("\n", "\r\n").encode("ascii")
    encoded = binascii.b2a_qp(text.encode("utf-8"))
    return "quoted-printable", encoded.replace(b"\n", b"\r\n")


def build_email(
    *, mail_from: str, to_name: str | None, to_address: str, rendered: RenderedEmail, message_id: str, campaign_id: int
) -> bytes:
    """RFC 5322 multipart/alternative bytes with CRLF line ends, built by hand because
    `email.message.EmailMessage` costs about a millisecond per message, as much as the SMTP exchange."""
    # Unique per message without a system call (a process nonce and the delivery id); bodies never
    # contain it: they hold no Message-ID, and quoted-printable ones cannot contain "=_" at all.
    boundary = f"=_fh_{_PROCESS_NONCE}_{message_id.strip('<>').partition('@')[0]}"
    to_header = formataddr((" ".join(to_name.split()), to_address)) if to_name else to_address
    head = [
        f"From: {_header_addr(mail_from)}",
        f"To: {to_header}",
        f"Subject: {_header(rendered.subject)}",
        f"Date: {formatdate(usegmt=True)}",
        f"Message-ID: {message_id}",
        "MIME-Version: 1.0",
        f"List-Unsubscribe: <{rendered.unsubscribe_url}>",
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
        "Precedence: bulk",
        f"X-Fanhub-Campaign: {campaign_id}",
        f'Content-Type: multipart/alternative; boundary="{boundary}"',
    ]
    text_encoding, text_body = _part(rendered.text)
    html_encoding, html_body = _part(rendered.html)
    parts = [
        "\r\n".join(head).encode("utf-8"),
        b"\r\n\r\n",
        f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Transfer-Encoding: {text_encoding}\r\n\r\n".encode(),
        text_body,
        f"\r\n--{boundary}\r\nContent-Type: text/html; charset=utf-8\r\n"
        f"Content-Transfer-Encoding: {html_encoding}\r\n\r\n".encode(),
        html_body,
        f"\r\n--{boundary}--\r\n".encode(),
    ]
    return b"".join(parts)


@functools.lru_cache(maxsize=64)
def _header_addr(value: str) -> str:
    name, address = parseaddr(value)
    return formataddr((name, address)) if name else address


def _message_domain(mail_from: str) -> str:
    address = parseaddr(mail_from)[1]
    return address.rpartition("@")[2] or "fanhub.local"


# --- starting a campaign -------------------------------------------------------------------------


def start_sending(session: Session, campaign: Campaign) -> int:
    """Fix the recipient list (one pending delivery per subscribed contact in the segment); returns its size."""
    if campaign.status != SCHEDULED:
        return 0
    address = Contact.email if campaign.type == EMAIL else Contact.phone
    ids = segment_query(campaign.organization_id, campaign.audience, campaign.type).subquery()
    source = select(
        literal(campaign.organization_id),
        literal(campaign.id),
        Contact.id,
        literal(campaign.type),
        address,
        literal(PENDING),
        literal(0),
    ).where(Contact.id.in_(select(ids.c.id)))
    result = session.execute(
        insert(Delivery).from_select(
            ["organization_id", "campaign_id", "contact_id", "channel", "address", "status", "attempts"], source
        )
    )
    count = int(getattr(result, "rowcount", 0) or 0)
    if count < 0:  # some drivers do not report INSERT ... SELECT counts
        count = int(session.scalar(select(func.count()).where(Delivery.campaign_id == campaign.id)) or 0)
    now = utcnow()
    campaign.status = SENDING
    # delivered_at: when the campaign went out (its first message), as the analytics list it.
    campaign.delivered_at = now
    stats = session.get(CampaignStats, campaign.id)
    if stats is None:
        stats = CampaignStats(campaign_id=campaign.id, organization_id=campaign.organization_id)
        session.add(stats)
    stats.recipients = count
    stats.started_at = now
    session.flush()
    return count


def start_due(session: Session, now: Any = None) -> list[int]:
    """Start every scheduled campaign whose time has come; returns their ids."""
    now = now or utcnow()
    due = session.scalars(
        select(Campaign)
        .where(Campaign.status == SCHEDULED, Campaign.scheduled_at <= now)
        .order_by(Campaign.scheduled_at, Campaign.id)
        .limit(10)
        .with_for_update(skip_locked=True)
    ).all()
    for campaign in due:
        start_sending(session, campaign)
    return [c.id for c in due]


# --- sending a slice -----------------------------------------------------------------------------


def _pid_gone(worker: str | None) -> bool:
    """A reservation by a process of this host that no longer exists is stale at once."""
    if not worker or ":" not in worker:
        return False
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def recover_stale(session: Session, campaign_id: int, lease_seconds: float = LEASE_SECONDS) -> tuple[int, int]:
    """Reservations of dead workers: `reserved` rows go back to pending, `sending` rows become unknown."""
    cutoff = utcnow() - timedelta(seconds=lease_seconds)
    rows = session.execute(
        select(Delivery.id, Delivery.status, Delivery.reserved_by, Delivery.reserved_at).where(
            Delivery.campaign_id == campaign_id, Delivery.status.in_((RESERVED, ATTEMPTING))
        )
    ).all()
    released: list[int] = []
    unknown: list[int] = []
    for row in rows:
        if (row.reserved_at is not None and row.reserved_at <= cutoff) or _pid_gone(row.reserved_by):
            (released if row.status == RESERVED else unknown).append(row.id)
    if released:
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(released), Delivery.status == RESERVED)
            .values(status=PENDING, reserved_by=None, reserved_at=None)
        )
    if unknown:
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(unknown), Delivery.status == ATTEMPTING)
            .values(status=UNKNOWN, error="worker stopped during the provider call; not retried (at-most-once)")
        )
        _bump(session, campaign_id, unknown=len(unknown))
    return len(released), len(unknown)


def _bump(session: Session | Connection, campaign_id: int, **deltas: int) -> None:
    values = {name: getattr(CampaignStats, name) + delta for name, delta in deltas.items() if delta}
    if values:
        session.execute(update(CampaignStats).where(CampaignStats.campaign_id == campaign_id).values(**values))


@dataclass
class SliceResult:
    reserved: int = 0
    delivered: int = 0
    failed: int = 0
    skipped: int = 0
    unknown: int = 0
    retry: int = 0
    finished: bool = False
    stopped: str | None = None


@dataclass
class _Mark:
    delivery_id: int
    status: str
    sent_at: Any = None
    provider_id: str | None = None
    error: str | None = None
    failure: DeliveryFailure | None = None
    attempts: int | None = None
    counters: dict[str, int] = field(default_factory=dict)


class LinkBook:
    """The campaign's links by URL; a URL first seen while rendering is stored at once (its own commit)."""

    def __init__(self, database: Database, campaign_id: int, event_url: str | None) -> None:
        self.database = database
        self.campaign_id = campaign_id
        self.event_url = (event_url or "").strip() or None
        with database.read() as session:
            self.ids = {
                url: link_id
                for link_id, url in session.execute(
                    select(CampaignLink.id, CampaignLink.url)
                    .where(CampaignLink.campaign_id == campaign_id)
                    .order_by(CampaignLink.id.desc())
                )
            }

    def __call__(self, url: str) -> int | None:
        link_id = self.ids.get(url)
        if link_id is None:
            with self.database.write() as session:
                link = CampaignLink(campaign_id=self.campaign_id, url=url, is_event_link=url == self.event_url)
                session.add(link)
                session.flush()
                link_id = link.id
            self.ids[url] = link_id
        return link_id


@dataclass
class Transports:
    email: EmailTransport | None = None
    sms: SmsTransport | None = None

    def close(self) -> None:
        for transport in (self.email, self.sms):
            if transport is not None:
                transport.close()


def _as_list(transports: Transports | list[Transports]) -> list[Transports]:
    return transports if isinstance(transports, list) else [transports]


def new_lanes(settings: Settings) -> list[Transports]:
    """One (not yet connected) Transports per provider connection a sending worker may use."""
    return [Transports() for _ in range(settings.campaign_send_connections)]


def _reserve(session: Session, campaign_id: int, limit: int, worker: str) -> list[int]:
    candidates = (
        select(Delivery.id)
        .where(Delivery.campaign_id == campaign_id, Delivery.status == PENDING)
        .order_by(Delivery.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = list(session.scalars(candidates))
    if ids:
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(ids), Delivery.status == PENDING)
            .values(status=RESERVED, reserved_by=worker, reserved_at=utcnow())
        )
    return ids


def send_slice(
    database: Database,
    campaign_id: int,
    *,
    transports: Transports | list[Transports] | None = None,
    settings: Settings | None = None,
    batch_size: int | None = None,
    worker: str = WORKER_ID,
    lease_seconds: float = LEASE_SECONDS,
) -> SliceResult:
    """Send the next slice of a sending campaign; marks it sent when nothing is left."""
    settings = settings or get_settings()
    provider_settings = ProviderSettings()
    result = SliceResult()
    with database.write() as session:
        campaign = session.get(Campaign, campaign_id)
        if campaign is None or campaign.status != SENDING:
            result.finished = True
            return result
        stats = session.get(CampaignStats, campaign_id)
        recover_stale(session, campaign_id, lease_seconds)
        per_second = (stats.send_per_second if stats and stats.send_per_second else None) or (
            settings.campaign_send_per_second
        )
        limit = batch_size or settings.campaign_batch_size
        if per_second > 0:
            # Keep a slice well inside the lease when the sender is throttled.
            limit = max(1, min(limit, int(per_second * 60)))
        ids = _reserve(session, campaign_id, limit, worker)
        if not ids:
            busy = session.scalar(
                select(func.count()).where(
                    Delivery.campaign_id == campaign_id, Delivery.status.in_((PENDING, RESERVED, ATTEMPTING))
                )
            )
            if not busy:
                campaign.status = SENT
                if stats is not None:
                    stats.finished_at = utcnow()
                    stats.delivered = int(
                        session.scalar(
                            select(func.count()).where(
                                Delivery.campaign_id == campaign_id, Delivery.status == DELIVERED
                            )
                        )
                        or 0
                    )
                result.finished = True
            return result
        status_column = Contact.email_status if campaign.type == EMAIL else Contact.sms_status
        rows = session.execute(
            select(
                Delivery.id,
                Delivery.address,
                Delivery.attempts,
                Contact.first_name,
                Contact.last_name,
                Contact.full_name,
                Contact.email,
                Contact.phone,
                status_column.label("status"),
            )
            .join(Contact, Contact.id == Delivery.contact_id)
            .where(Delivery.id.in_(ids))
            .order_by(Delivery.id)
        ).all()
        event_url = None
        if campaign.event_id is not None:
            from fanhub.catalog.models import Event

            event = session.get(Event, campaign.event_id)
            event_url = event.url if event else None
        links = LinkBook(database, campaign_id, event_url)
        from fanhub.campaigns.service import renderer_for

        renderer = renderer_for(session, campaign, links)
        channel = campaign.type
        from_header = sender_address(get_organization(session, campaign.organization_id), settings)
    result.reserved = len(rows)

    own = transports is None
    # A single Transports handed in is used as it is, one message at a time; a list is one lane
    # (connection) per entry; our own are `campaign_send_connections` lanes.
    lanes = new_lanes(settings) if transports is None else _as_list(transports)
    for lane in lanes:
        if channel == EMAIL and lane.email is None:
            lane.email = email_transport(settings)
        if channel != EMAIL and lane.sms is None:
            lane.sms = sms_transport(settings)
    campaign_limiter = RateLimiter(per_second)
    provider = provider_limiter(
        "smtp" if channel == EMAIL else "sms",
        provider_settings.smtp_per_second if channel == EMAIL else provider_settings.sms_per_second,
    )
    prepared = _Prepared(settings, campaign_id, from_header)
    engine = database.engine.execution_options(sqlite_immediate=True)
    marks: list[_Mark] = []
    sender = _Sender(lanes, channel, prepared)
    in_flight: deque[tuple[Any, _Payload, Future[Any]]] = deque()

    def settle() -> bool:
        """Wait for the oldest message in the provider's hands and turn its outcome into a mark; False = stop."""
        if not in_flight:
            return True
        row, payload, pending = in_flight.popleft()
        outcome = pending.result()
        if isinstance(outcome, BaseException) and not isinstance(outcome, Exception):
            raise outcome  # the process is going down (KeyboardInterrupt, SystemExit): leave rows as they are
        if isinstance(outcome, Rejected):
            marks.append(_failure(row.id, campaign_id, outcome.kind, outcome.code, outcome.detail))
            result.failed += 1
        elif isinstance(outcome, TryLater):
            attempts = row.attempts + 1
            if attempts >= MAX_ATTEMPTS:
                marks.append(_failure(row.id, campaign_id, "provider_unavailable", None, str(outcome)))
                result.failed += 1
            else:
                marks.append(_Mark(row.id, PENDING, error=str(outcome)[:500], attempts=attempts))
                result.retry += 1
            result.stopped = str(outcome)
            return False
        elif isinstance(outcome, Exception):
            # Ambiguous, or anything unforeseen during the provider call: maybe sent, never retried.
            marks.append(
                _Mark(row.id, UNKNOWN, error=f"{outcome}; not retried (at-most-once)"[:2000], counters={"unknown": 1})
            )
            result.unknown += 1
        else:
            marks.append(_Mark(row.id, DELIVERED, sent_at=utcnow(), provider_id=outcome or payload.message_id))
            result.delivered += 1
        return True

    try:
        with engine.connect() as conn, _relaxed_commits(conn, database, settings):
            for index, row in enumerate(rows):
                if row.status != SUBSCRIBED:
                    marks.append(_Mark(row.id, SKIPPED, error="unsubscribed before sending", counters={"skipped": 1}))
                    result.skipped += 1
                    continue
                recipient = Recipient(
                    delivery_id=row.id,
                    address=row.address,
                    first_name=row.first_name,
                    last_name=row.last_name,
                    full_name=row.full_name,
                    email=row.email,
                    phone=row.phone,
                )
                try:
                    payload = prepared.payload(renderer, channel, recipient)
                except Exception as exc:  # a template that rendered for the sample but not for this contact
                    marks.append(_failure(row.id, campaign_id, "render_error", None, str(exc)))
                    continue
                if len(in_flight) >= sender.width and not settle():
                    # The provider is down or throttling: hand the rest of the slice back and stop.
                    marks += [_Mark(r.id, PENDING) for r in rows[index:]]
                    break
                campaign_limiter.wait()
                provider.wait()
                # The claim is committed before the provider call, together with the outcomes
                # settled since: one commit per message, and never more in flight than connections.
                if not _commit(conn, campaign_id, marks, claim=row.id, worker=worker):
                    marks = []
                    continue  # recovered by someone else meanwhile: not ours any more
                marks = []
                in_flight.append((row, payload, sender.submit(recipient, payload)))
            while in_flight:
                settle()  # after a stop too: messages already handed over keep their real outcome
            _commit(conn, campaign_id, marks, claim=None, worker=worker)
            if result.delivered:
                # Running total for progress displays; recounted exactly when the campaign finishes.
                with _transaction(conn):
                    _bump(conn, campaign_id, delivered=result.delivered)
    finally:
        sender.stop()
        if own:
            for lane in lanes:
                lane.close()
    return result


class _Sender:
    """Provider calls, each lane (one connection) carrying one message at a time.

    With one lane the call runs inline. With more, lanes run in threads: a provider round trip is
    mostly waiting (MAIL, RCPT, DATA and the message each wait for the server), so a second
    connection overlaps that wait with the next message's rendering, claim and send.
    """

    def __init__(self, lanes: list[Transports], channel: str, prepared: _Prepared) -> None:
        self.channel, self.prepared = channel, prepared
        self.width = len(lanes)
        self._free: queue.SimpleQueue[Transports] = queue.SimpleQueue()
        for lane in lanes:
            self._free.put(lane)
        self._pool = ThreadPoolExecutor(self.width, thread_name_prefix="fanhub-send") if self.width > 1 else None

    def submit(self, recipient: Recipient, payload: _Payload) -> Future[Any]:
        if self._pool is None:
            done: Future[Any] = Future()
            done.set_result(self._call(recipient, payload))
            return done
        return self._pool.submit(self._call, recipient, payload)

    def _call(self, recipient: Recipient, payload: _Payload) -> Any:
        """The provider id (or None) on success, else the exception the provider call raised."""
        lane = self._free.get()
        try:
            return self.prepared.send(lane, self.channel, recipient, payload)
        except BaseException as exc:  # settle() decides; a dying process's exceptions are re-raised there
            return exc
        finally:
            self._free.put(lane)

    def stop(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)


@dataclass
class _Payload:
    message_id: str | None
    email: bytes | None = None
    sms: str | None = None
    status_callback: str | None = None


class _Prepared:
    """Per-slice constants of message building (parsed once, not per message)."""

    def __init__(self, settings: Settings, campaign_id: int, mail_from: str) -> None:
        self.campaign_id = campaign_id
        self.mail_from = mail_from
        self.envelope_from = parseaddr(mail_from)[1] or "no-reply@localhost"
        self.domain = _message_domain(mail_from)
        self.status_base = f"{settings.public_url.rstrip('/')}/t/sms/status/"

    def payload(self, renderer: CampaignRenderer, channel: str, recipient: Recipient) -> _Payload:
        if channel == EMAIL:
            rendered = renderer.render_email(recipient)
            message_id = f"<c{self.campaign_id}.d{recipient.delivery_id}.{_PROCESS_NONCE}@{self.domain}>"
            name = recipient.full_name or " ".join(p for p in (recipient.first_name, recipient.last_name) if p)
            data = build_email(
                mail_from=self.mail_from,
                to_name=name or None,
                to_address=recipient.address,
                rendered=rendered,
                message_id=message_id,
                campaign_id=self.campaign_id,
            )
            return _Payload(message_id=message_id, email=data)
        callback = self.status_base + tokens.make_token(tokens.SMS_STATUS, recipient.delivery_id)
        return _Payload(message_id=None, sms=renderer.render_sms(recipient), status_callback=callback)

    def send(self, transports: Transports, channel: str, recipient: Recipient, payload: _Payload) -> str | None:
        if channel == EMAIL:
            assert transports.email is not None and payload.email is not None
            return transports.email.send(
                self.envelope_from, recipient.address, payload.email, recipient.delivery_id, self.campaign_id
            )
        assert transports.sms is not None and payload.sms is not None and payload.status_callback is not None
        return transports.sms.send(
            recipient.address, payload.sms, payload.status_callback, recipient.delivery_id, self.campaign_id
        )


def _failure(delivery_id: int, campaign_id: int, kind: str, code: str | None, detail: str) -> _Mark:
    return _Mark(
        delivery_id,
        FAILED,
        error=f"{kind} {code or ''} {detail}".strip()[:2000],
        failure=DeliveryFailure(
            delivery_id=delivery_id, campaign_id=campaign_id, kind=kind, code=code, detail=detail[:2000]
        ),
        counters={"undelivered": 1},
    )


# Plain SQL for the per-message statements: building SQLAlchemy constructs per message costs more
# than executing them.
_MARK_SENT = text(
    "UPDATE campaign_deliveries SET status = 'sent', sent_at = :sent_at, provider_id = :provider_id WHERE id = :id"
).bindparams(bindparam("sent_at", type_=UTCDateTime()))
_CLAIM = text(
    "UPDATE campaign_deliveries SET status = 'sending', reserved_at = :now, attempts = attempts + 1"
    " WHERE id = :id AND status = 'reserved' AND reserved_by = :worker"
).bindparams(bindparam("now", type_=UTCDateTime()))


def _sqlite_time(value: datetime) -> str:
    # The text UTCDateTime/SQLAlchemy store on SQLite: naive UTC with microseconds.
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _commit(conn: Connection, campaign_id: int, marks: list[_Mark], *, claim: int | None, worker: str) -> bool:
    """One transaction: write the outcomes in `marks`, then claim `claim` as `sending`. False if the claim lost."""
    now = utcnow()
    if len(marks) <= 1 and all(m.status == DELIVERED for m in marks):
        # The steady state: one statement in autocommit mode (see _relaxed_commits), atomic on its
        # own. One round trip instead of four (BEGIN, mark, claim, COMMIT) on PostgreSQL; on
        # SQLite each call gives up the GIL and must win it back from the connection threads.
        sqlite = conn.dialect.name == "sqlite"
        mark = marks[0] if marks else None
        sent_at = mark.sent_at if mark else None
        returned = (
            (_sqlite(conn) if sqlite else _postgres(conn))
            .execute(
                _SQLITE_MARK_AND_CLAIM if sqlite else _PG_MARK_AND_CLAIM,
                {
                    "prev": mark.delivery_id if mark else -1,
                    "sent_at": _sqlite_time(sent_at) if sqlite and sent_at else sent_at,
                    "provider_id": mark.provider_id if mark else None,
                    "claim": claim if claim is not None else -1,
                    "now": _sqlite_time(now) if sqlite else now,
                    "worker": worker,
                },
            )
            .fetchall()
        )
        return claim is None or any(row[0] == claim for row in returned)
    if conn.dialect.name == "sqlite" and all(m.status == DELIVERED for m in marks):
        # Several outcomes settled at once (one per connection), straight on the driver:
        # SQLAlchemy's per-statement work costs as much as SQLite's (same SQL as _MARK_SENT and _CLAIM).
        raw = _sqlite(conn)
        raw.execute("BEGIN IMMEDIATE")
        try:
            if marks:
                raw.executemany(
                    "UPDATE campaign_deliveries SET status = 'sent', sent_at = ?, provider_id = ? WHERE id = ?",
                    [(_sqlite_time(m.sent_at), m.provider_id, m.delivery_id) for m in marks],
                )
            claimed = True
            if claim is not None:
                cursor = raw.execute(
                    "UPDATE campaign_deliveries SET status = 'sending', reserved_at = ?, attempts = attempts + 1"
                    " WHERE id = ? AND status = 'reserved' AND reserved_by = ?",
                    (_sqlite_time(now), claim, worker),
                )
                claimed = cursor.rowcount == 1
            raw.execute("COMMIT")
        except BaseException:
            raw.execute("ROLLBACK")
            raise
        return claimed
    claimed = True
    with _transaction(conn):
        counters: dict[str, int] = {}
        for mark in marks:
            if mark.status == DELIVERED:
                conn.execute(
                    _MARK_SENT, {"id": mark.delivery_id, "sent_at": mark.sent_at, "provider_id": mark.provider_id}
                )
                continue
            values: dict[str, Any] = {"status": mark.status, "error": mark.error}
            if mark.status == PENDING:
                values |= {"reserved_by": None, "reserved_at": None}
            if mark.attempts is not None:
                values["attempts"] = mark.attempts
            conn.execute(update(Delivery).where(Delivery.id == mark.delivery_id).values(**values))
            if mark.failure is not None:
                conn.execute(
                    insert(DeliveryFailure).values(
                        delivery_id=mark.failure.delivery_id,
                        campaign_id=mark.failure.campaign_id,
                        kind=mark.failure.kind,
                        code=mark.failure.code,
                        detail=mark.failure.detail,
                        permanent=True,
                        occurred_at=now,
                    )
                )
            for name, delta in mark.counters.items():
                counters[name] = counters.get(name, 0) + delta
        _bump(conn, campaign_id, **counters)
        if claim is not None:
            claimed = conn.execute(_CLAIM, {"id": claim, "now": now, "worker": worker}).rowcount == 1
    return claimed


_SQLITE_MARK_AND_CLAIM = """
UPDATE campaign_deliveries SET
    status = CASE WHEN id = :claim THEN 'sending' ELSE 'sent' END,
    sent_at = CASE WHEN id = :claim THEN sent_at ELSE :sent_at END,
    provider_id = CASE WHEN id = :claim THEN provider_id ELSE :provider_id END,
    reserved_at = CASE WHEN id = :claim THEN :now ELSE reserved_at END,
    attempts = CASE WHEN id = :claim THEN attempts + 1 ELSE attempts END
WHERE id = :prev OR (id = :claim AND status = 'reserved' AND reserved_by = :worker)
RETURNING id
"""

_PG_MARK_AND_CLAIM = """
UPDATE campaign_deliveries SET
    status = CASE WHEN id = %(claim)s THEN 'sending' ELSE 'sent' END,
    sent_at = CASE WHEN id = %(claim)s THEN sent_at ELSE %(sent_at)s END,
    provider_id = CASE WHEN id = %(claim)s THEN provider_id ELSE %(provider_id)s END,
    reserved_at = CASE WHEN id = %(claim)s THEN %(now)s ELSE reserved_at END,
    attempts = CASE WHEN id = %(claim)s THEN attempts + 1 ELSE attempts END
WHERE id = %(prev)s OR (id = %(claim)s AND status = 'reserved' AND reserved_by = %(worker)s)
RETURNING id
"""


def _postgres(conn: Connection) -> Any:
    return conn.connection.driver_connection


@contextlib.contextmanager
def _transaction(conn: Connection) -> Iterator[None]:
    """A real transaction on the sender's connection, which runs in autocommit mode on PostgreSQL."""
    if conn.dialect.name != "postgresql":
        with conn.begin():
            yield
        return
    raw = _postgres(conn)
    raw.autocommit = False
    try:
        with conn.begin():
            yield
    finally:
        raw.autocommit = True


@contextlib.contextmanager
def _relaxed_commits(conn: Connection, database: Database, settings: Settings) -> Iterator[None]:
    """Per-message commits without waiting for the disk (see "Durability" in the module docstring)."""
    if database.is_sqlite:
        # Outside any transaction (SQLite refuses the change inside one); the driver is in autocommit mode.
        _sqlite(conn).execute("PRAGMA synchronous=NORMAL")
    else:
        with conn.begin():
            conn.exec_driver_sql("SET synchronous_commit TO OFF")
        _postgres(conn).autocommit = True
    try:
        yield
    finally:
        # The connection goes back to the pool: restore the process-wide durability setting.
        if database.is_sqlite:
            _sqlite(conn).execute(f"PRAGMA synchronous={settings.sqlite_synchronous}")
            conn.connection.info["synchronous"] = settings.sqlite_synchronous  # what db.engine's writes read
        else:
            raw = _postgres(conn)
            if raw.info.transaction_status != 0:  # not idle: a statement failed mid-way
                raw.rollback()
            raw.autocommit = False
            with conn.begin():
                conn.exec_driver_sql("RESET synchronous_commit")


def _sqlite(conn: Connection) -> Any:
    return conn.connection.driver_connection


# --- driving a campaign to the end (CLI --wait, benchmarks) ---------------------------------------


def run_campaign(
    database: Database,
    campaign_id: int,
    *,
    transports: Transports | None = None,
    settings: Settings | None = None,
    batch_size: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    max_idle_rounds: int = 50,
) -> dict[str, int]:
    """Start (if due) and send a campaign to completion in this process; returns its counters."""
    with database.write() as session:
        campaign = session.get(Campaign, campaign_id)
        if (
            campaign is not None
            and campaign.status == SCHEDULED
            and (campaign.scheduled_at is None or campaign.scheduled_at <= utcnow())
        ):
            start_sending(session, campaign)
    own = transports is None
    # Connections stay open from slice to slice.
    lanes = [transports] if transports is not None else new_lanes(settings or get_settings())
    idle = 0
    try:
        while True:
            outcome = send_slice(database, campaign_id, transports=lanes, settings=settings, batch_size=batch_size)
            if outcome.finished:
                break
            if progress is not None:
                with database.read() as session:
                    done, total = _progress(session, campaign_id)
                progress(done, total)
            if outcome.stopped or outcome.reserved == 0:
                idle += 1
                if idle > max_idle_rounds:
                    break
                time.sleep(min(5.0, 0.1 * idle))
            else:
                idle = 0
    finally:
        if own:
            for lane in lanes:
                lane.close()
    with database.read() as session:
        stats = session.get(CampaignStats, campaign_id)
        done, total = _progress(session, campaign_id)
        if progress is not None:
            progress(done, total)
        return {
            "recipients": stats.recipients if stats else 0,
            "delivered": stats.delivered if stats else 0,
            "undelivered": stats.undelivered if stats else 0,
            "skipped": stats.skipped if stats else 0,
            "unknown": stats.unknown if stats else 0,
        }


def _progress(session: Session, campaign_id: int) -> tuple[int, int]:
    total = session.scalar(select(func.count()).where(Delivery.campaign_id == campaign_id)) or 0
    waiting = (
        session.scalar(
            select(func.count()).where(
                and_(Delivery.campaign_id == campaign_id, Delivery.status.in_((PENDING, RESERVED, ATTEMPTING)))
            )
        )
        or 0
    )
    return int(total - waiting), int(total)
