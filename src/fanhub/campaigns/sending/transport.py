"""Transports: where a built message goes (after listmonk's messenger: a name, `push`, `close`).

A transport takes one `Message` at a time and answers with the provider's id for it (or None), or
raises one of three outcomes the pipe turns into delivery states:

- `Rejected`: refused for good (SMTP 5xx, SMS API 4xx): the delivery fails, a `DeliveryFailure` keeps why;
- `TryLater`: the provider did not take it (down, throttled, SMTP 421, HTTP 429/5xx): safe to send again;
- `Deferred`: a 4xx for this recipient only (greylisting, mailbox busy): retried later with backoff;
- `Ambiguous`: it may or may not have been taken (connection lost mid-transaction): never retried.

Implementations: SMTP (`SmtpTransport`) or an .eml folder (`OutboxEmailTransport`) for email; a
Twilio-compatible API (`TwilioTransport`) or a JSON-lines file (`OutboxSmsTransport`) for SMS. The
outboxes stand in when no provider is configured, so a newcomer can see what would have gone out.
"""

from __future__ import annotations

import contextlib
import json
import smtplib
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx

from fanhub.config import Settings

# --- outcomes ------------------------------------------------------------------------------------


class Rejected(Exception):
    """The provider refused this message for good (SMTP 5xx, API 4xx): recorded as undelivered."""

    def __init__(self, kind: str, code: str | None, detail: str) -> None:
        super().__init__(f"{kind} {code}: {detail}")
        self.kind, self.code, self.detail = kind, code, detail


class TryLater(Exception):
    """The provider did not take the message (down, throttled, 4xx): safe to send again later."""


class Deferred(Exception):
    """The recipient's server said "try later" for this recipient (SMTP 4xx at RCPT or DATA): this
    message waits and is retried with backoff; the rest of the slice goes on."""

    def __init__(self, code: str | None, detail: str) -> None:
        super().__init__(f"deferred {code}: {detail}")
        self.code, self.detail = code, detail


class Ambiguous(Exception):
    """The provider may or may not have taken the message (connection lost mid-transaction)."""


# --- the protocol --------------------------------------------------------------------------------


@dataclass(slots=True)
class Message:
    """One message for one recipient, ready for a transport: email as RFC 5322 bytes, SMS as text."""

    campaign_id: int
    delivery_id: int
    to: str
    sender: str = ""  # the envelope sender (email)
    body: bytes = b""  # email
    text: str = ""  # SMS
    message_id: str | None = None  # email: the Message-ID header, recorded when the provider returns no id
    status_callback: str | None = None  # SMS: where the provider reports delivery
    # DKIM: applied by the lane that pushes the message, in its own thread (OpenSSL releases the
    # GIL), so signing is off the sender's critical path.
    sign: Callable[[bytes], bytes] | None = None


class Transport(Protocol):
    name: str

    def push(self, message: Message) -> str | None:
        """Hand the message to the provider; returns the provider's id for it, if any."""
        ...

    def close(self) -> None: ...


class EmailTransport:
    """Base of the email transports."""

    name = "email"

    def push(self, message: Message) -> str | None:
        raise NotImplementedError

    def close(self) -> None:
        pass


# --- email ---------------------------------------------------------------------------------------


class SmtpTransport(EmailTransport):
    """One SMTP connection reused across messages; `tls` is none | starttls | tls (implicit TLS)."""

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

    def push(self, message: Message) -> str | None:
        if self._smtp is None:
            self._smtp = self._connect()
        smtp = self._smtp
        try:
            smtp.sendmail(message.sender, [message.to], message.body)
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            self._reset(smtp)
            raise _refusal(code, text, per_recipient=True) from exc
        except smtplib.SMTPSenderRefused as exc:
            self._reset(smtp)
            raise _refusal(exc.smtp_code, exc.smtp_error, per_recipient=False) from exc
        except smtplib.SMTPDataError as exc:
            self._reset(smtp)
            raise _refusal(exc.smtp_code, exc.smtp_error, per_recipient=True) from exc
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


def _refusal(code: int, text: bytes | str, *, per_recipient: bool) -> Exception:
    """5xx: refused for good. 4xx: 421 (the server is closing the connection) and a refused sender
    are the server's own trouble, so the slice stops (TryLater); any other 4xx for one recipient is
    that recipient's (greylisting, mailbox busy) and is deferred."""
    if 400 <= code < 500:
        if per_recipient and code != 421:
            return Deferred(str(code), _text(text))
        return TryLater(f"SMTP {code} {_text(text)!r}")
    return Rejected("smtp_rejected", str(code), _text(text))


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class OutboxEmailTransport(EmailTransport):
    """No SMTP host configured: each message becomes an .eml file a newcomer can open."""

    name = "outbox"

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def push(self, message: Message) -> str | None:
        folder = self.folder / f"campaign-{message.campaign_id}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{message.delivery_id}.eml"
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(message.body)
        tmp.replace(path)  # atomic: a reader never sees half a message
        return None


# --- SMS -----------------------------------------------------------------------------------------


class TwilioTransport:
    """POST /2010-04-01/Accounts/{sid}/Messages.json with Basic auth, as Twilio and its clones accept."""

    name = "sms"

    def __init__(self, base_url: str, account_sid: str, auth_token: str, sender: str, timeout: float = 15.0) -> None:
        self.url = f"{base_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self.sender = sender
        self.client = httpx.Client(auth=(account_sid, auth_token), timeout=timeout)

    def push(self, message: Message) -> str | None:
        form = {"To": message.to, "From": self.sender, "Body": message.text, "StatusCallback": message.status_callback}
        try:
            response = self.client.post(self.url, data=form)
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
    # One lock for every instance: lanes of several campaigns append to the same file.
    _lock = threading.Lock()

    def __init__(self, folder: Path) -> None:
        self.path = folder / "sms.jsonl"

    def push(self, message: Message) -> str | None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        record = {"campaign_id": message.campaign_id, "delivery_id": message.delivery_id}
        line = json.dumps(record | {"to": message.to, "body": message.text})
        with self._lock, self.path.open("a", encoding="utf-8") as out:
            out.write(line + "\n")
        return f"outbox-{message.delivery_id}"

    def close(self) -> None:
        pass


# --- from settings -------------------------------------------------------------------------------


def outbox_folder(settings: Settings) -> Path:
    return settings.data_dir / "outbox"


def email_transport(settings: Settings) -> EmailTransport:
    if settings.smtp_host:
        return SmtpTransport(
            settings.smtp_host,
            settings.smtp_port,
            tls=settings.smtp_tls,
            username=settings.smtp_username,
            password=settings.smtp_password,
            timeout=settings.smtp_timeout_seconds,
        )
    return OutboxEmailTransport(outbox_folder(settings))


def sms_transport(settings: Settings) -> Transport:
    if settings.sms_base_url and settings.sms_account_sid and settings.sms_auth_token and settings.sms_from:
        return TwilioTransport(
            settings.sms_base_url, settings.sms_account_sid, settings.sms_auth_token, settings.sms_from
        )
    return OutboxSmsTransport(outbox_folder(settings))
