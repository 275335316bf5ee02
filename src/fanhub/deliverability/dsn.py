"""Read one raw message that came back to the bounce address: `parse_bounce(raw) -> [BounceReport, ...]`.

One report per failed recipient; a message that is not a failure gives exactly one "ignored" report
(reason "auto_reply", "delivered", "delayed" or "not_a_bounce"). In order:

1. RFC 5965 ARF (`message/feedback-report`): a complaint per reported recipient (Yahoo, AOL, the
   ARF form of Microsoft JMRP);
2. RFC 3464 DSN (`message/delivery-status`, also how Postfix, Sendmail, SES, Gmail, Google Workspace
   and Exchange/Office 365 report): one report per recipient block with `Action: failed`;
3. Microsoft JMRP's older "RFC822 attachment" complaint (from staff@hotmail.com);
4. RFC 3834 auto-replies (unless the sender is a mailer daemon: Exim marks its bounces
   `Auto-Submitted: auto-replied` too);
5. the plain-text bounces of qmail, Yahoo, Exim, Sendmail, Gmail and old Exchange, recognised by
   their sender, subject or wording; the failure section (before the returned copy) is cut into
   one block per recipient address (`_address_blocks`);
6. anything else: ignored, "not_a_bounce".

Whatever the format: the VERP token comes from the address the bounce was delivered to (see
`verp_token`), the original Message-ID from the returned message or its quoted headers, and
classification from `classify.classify`. Parsing uses the standard library's compat32 email parser
(the fastest one; only raw strings are needed). `parse_bounce` never raises on bad input.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from email import message_from_bytes
from email.message import Message
from email.parser import HeaderParser
from email.utils import parsedate_to_datetime

from fanhub.deliverability.classify import classify, find_status
from fanhub.deliverability.reports import BounceReport

__all__ = ["parse_bounce", "verp_token"]

DIAGNOSTIC_LIMIT = 500
# Headers naming the address a message was delivered to, most trustworthy first: the final MTA
# writes X-Original-To/Delivered-To (Postfix), Envelope-To (Exim); To is what the bounce says.
ENVELOPE_HEADERS = ("X-Original-To", "Delivered-To", "Envelope-To", "X-Envelope-To", "To")
DAEMON_LOCALPARTS = frozenset({"mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon", "mdaemon"})
COMPLAINT_TYPES = frozenset({"abuse", "fraud", "virus", "other", "dmarc"})

_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_TAGGED_ADDRESS = re.compile(r"([A-Za-z0-9.!#$%&'*/=?^_`{|}~-]+)\+([^@\s<>\"+]+)@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")
_DAEMON = re.compile(r"(?:^|[\s<\"(])(?:" + "|".join(DAEMON_LOCALPARTS) + r")@", re.IGNORECASE)
_MESSAGE_ID = re.compile(r"^[ \t>]*Message-ID:[ \t]*<([^>\r\n]+)>", re.IGNORECASE | re.MULTILINE)
_TAGS = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered|delivery (?:status notification|failure|has failed|failed|problem)|failure notice"
    r"|returned mail|mail delivery (?:failed|subsystem|system)|non.?delivery|could not be delivered"
    r"|delivery notification|mail system error",
    re.IGNORECASE,
)
_AUTO_SUBJECT = re.compile(
    r"^(?:auto:|automatic reply|auto.?reply|autoreply|auto.?response|out of (?:the )?office|vacation|away from"
    r"|abwesenheit|r[ée]ponse automatique|respuesta autom[aá]tica)",
    re.IGNORECASE,
)
# Where the failure section of a text bounce ends and the returned message begins.
_ORIGINAL_MARKERS = re.compile(
    r"^\s*(?:-+ ?Below this line is a copy of the message|-+ This is a copy of the message"
    r"|-+ ?Original message|-+ ?Message header follows|-+ Returned message|Original message headers:"
    r"|-+ Original Message|-+ The header of the original message)"
    r"|^(?:Return-Path|Received|DKIM-Signature|Message-ID): ",
    re.IGNORECASE | re.MULTILINE,
)
_DELAY_WORDING = re.compile(
    r"will (?:continue to )?(?:try|retry)|still being retried|has been delayed|delivery (?:is )?delayed"
    r"|Warning: could not send message for past|temporarily deferred|not yet been delivered",
    re.IGNORECASE,
)
_FINAL_WORDING = re.compile(r"permanent|failed permanently|giving up|could not be delivered", re.IGNORECASE)
_TEXT_FORMATS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("qmail", re.compile(r"This is the qmail-send program", re.IGNORECASE)),
    ("yahoo", re.compile(r"Sorry, we were unable to deliver your message|yahoo\.com", re.IGNORECASE)),
    ("exim", re.compile(r"created automatically by mail delivery software|address\(es\) failed", re.IGNORECASE)),
    ("sendmail", re.compile(r"had permanent fatal errors|Transcript of session follows", re.IGNORECASE)),
    ("gmail", re.compile(r"Google tried to deliver|recipient failed permanently|googlemail", re.IGNORECASE)),
    ("exchange", re.compile(r"did not reach the following recipient|cannot be reached|administrators:", re.I)),
    ("postfix", re.compile(r"This is the mail system at host", re.IGNORECASE)),
)


class _Headers:
    """A message's own header fields by lower-cased name, read once (Message.get scans them all per call)."""

    def __init__(self, message: Message) -> None:
        self._fields: dict[str, list[str]] = {}
        for name, value in message.items():
            self._fields.setdefault(name.lower(), []).append(str(value))

    def get(self, name: str) -> str:
        values = self._fields.get(name.lower())
        return values[0] if values else ""

    def get_all(self, name: str) -> list[str]:
        return self._fields.get(name.lower(), [])


@dataclass
class _Parts:
    """The parts of a message that matter, found in one walk (never into the returned message)."""

    plain: list[Message] = field(default_factory=list)
    html: list[Message] = field(default_factory=list)
    delivery_status: Message | None = None
    feedback: Message | None = None
    original: Message | None = None  # the returned message, or just its headers
    _text: list[str] | None = None

    @property
    def text(self) -> list[str]:
        """The human-readable parts, decoded only when asked (most DSNs never need them)."""
        if self._text is None:
            if self.plain:
                self._text = [_decoded_text(part) for part in self.plain]
            else:
                self._text = [_TAGS.sub(" ", _decoded_text(part)) for part in self.html[:1]]
        return self._text


def parse_bounce(raw: bytes, *, bounce_address: str | None = None) -> list[BounceReport]:
    """Every failed recipient `raw` reports, or one ignored report saying why there is none.

    `bounce_address` ("bounces@mail.venue.example"), when given, limits the VERP token to
    addresses with that local part and domain.
    """
    try:
        message = message_from_bytes(raw)
        return _parse(message, bounce_address)
    except Exception as error:  # a malformed message must not stop a mailbox poll or an import
        return [BounceReport(kind="ignored", reason="unreadable", diagnostic=_trim(repr(error)))]


def _parse(message: Message, bounce_address: str | None) -> list[BounceReport]:
    parts = _collect_parts(message)
    headers = _Headers(message)
    base = BounceReport(
        kind="ignored",
        reason="not_a_bounce",
        verp_token=_envelope_token(headers, bounce_address),
        message_id=_original_message_id(parts),
        occurred_at=_date(headers.get("Date")),
    )
    if parts.feedback is not None:
        return _arf(parts, base, bounce_address)
    if parts.delivery_status is not None:
        reports = _dsn(parts, base)
        if reports:
            return reports
    if _is_jmrp(headers, parts):
        return _jmrp(parts, base, bounce_address)
    daemon = _from_daemon(headers)
    replied_to = base.message_id or _in_reply_to(headers)
    if not daemon and _is_auto_reply(headers):
        return [replace(base, reason="auto_reply", message_id=replied_to)]
    if daemon or headers.get("X-Failed-Recipients") or _BOUNCE_SUBJECT.search(headers.get("Subject")):
        reports = _text_bounce(headers, parts, base)
        if reports:
            return reports
    if _is_auto_reply(headers):
        return [replace(base, reason="auto_reply", message_id=replied_to)]
    return [replace(base, message_id=replied_to)]


# --- walking the message ---------------------------------------------------------------------


def _collect_parts(message: Message) -> _Parts:
    parts = _Parts()
    for part, ctype in _walk(message):
        if ctype == "text/plain":
            parts.plain.append(part)
        elif ctype == "text/html":
            parts.html.append(part)
        elif ctype == "message/delivery-status" and parts.delivery_status is None:
            parts.delivery_status = part
        elif ctype == "message/feedback-report" and parts.feedback is None:
            parts.feedback = part
        elif ctype in ("message/rfc822", "message/global") and parts.original is None:
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                parts.original = payload[0]
        elif ctype in ("text/rfc822-headers", "message/rfc822-headers") and parts.original is None:
            parts.original = HeaderParser().parsestr(_decoded_text(part))
    return parts


def _walk(message: Message) -> Iterator[tuple[Message, str]]:
    """Like Message.walk, but never into a returned message/rfc822 (its parts are not the report's)."""
    ctype = message.get_content_type()
    yield message, ctype
    if ctype.startswith("multipart/"):
        payload = message.get_payload()
        if isinstance(payload, list):
            for sub in payload:
                if isinstance(sub, Message):
                    yield from _walk(sub)


def _decoded_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        inner = part.get_payload()
        return inner if isinstance(inner, str) else ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:
        return payload.decode("latin-1")


def _field_blocks(part: Message) -> list[Message]:
    """The header blocks of a delivery-status or feedback-report part, however it was encoded."""
    payload = part.get_payload()
    if isinstance(payload, list) and all(isinstance(block, Message) for block in payload):
        return list(payload)
    text = _decoded_text(part).replace("\r\n", "\n")
    return [HeaderParser().parsestr(block.strip() + "\n") for block in re.split(r"\n\s*\n", text) if block.strip()]


# --- addresses, ids, dates -------------------------------------------------------------------


def verp_token(message: Message, bounce_address: str | None = None) -> str | None:
    """The part after '+' in the local part of the address the bounce was delivered to.

    X-Failed-Recipients names the failed recipient, never the bounce address, so it is not read here.
    """
    return _envelope_token(_Headers(message), bounce_address)


def _envelope_token(headers: _Headers, bounce_address: str | None) -> str | None:
    return _token_in((value for name in ENVELOPE_HEADERS for value in headers.get_all(name)), bounce_address)


def _returned_token(parts: _Parts, fields: Message | None, bounce_address: str | None) -> str | None:
    """A complaint goes to the feedback address, not the VERP one: our envelope sender is in the
    report's Original-Mail-From (RFC 5965 s3.2) or the returned message's Return-Path."""
    values = list(fields.get_all("Original-Mail-From", [])) if fields is not None else []
    if parts.original is not None:
        values += parts.original.get_all("Return-Path", [])
    return _token_in(values, bounce_address)


def _token_in(values: Iterable[str], bounce_address: str | None) -> str | None:
    base_local, _, base_domain = (bounce_address or "").lower().partition("@")
    for value in values:
        for found in _TAGGED_ADDRESS.finditer(value):
            tagged, token, domain = found.groups()
            if bounce_address is None or (tagged.lower() == base_local and domain.lower() == base_domain):
                return token
    return None


def _address(value: str | None) -> str | None:
    """'rfc822; <Fan@Example.NET>' -> 'fan@example.net'."""
    if not value:
        return None
    _, _, rest = value.rpartition(";") if ";" in value else ("", "", value)
    found = _ADDRESS.search(rest)
    return found.group(0).lower() if found else None


def _original_message_id(parts: _Parts) -> str | None:
    if parts.original is not None:
        value = parts.original.get("Message-ID")
        if value:
            return value.strip().strip("<>").strip() or None
    for text in parts.text:
        found = _MESSAGE_ID.search(text)
        if found:
            return found.group(1).strip()
    return None


def _in_reply_to(headers: _Headers) -> str | None:
    found = re.search(r"<([^>]+)>", headers.get("In-Reply-To"))
    return found.group(1) if found else None


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None


def _trim(text: str | None) -> str | None:
    if not text:
        return None
    flat = _SPACE.sub(" ", text).strip()
    return flat[:DIAGNOSTIC_LIMIT] or None


def _from_daemon(headers: _Headers) -> bool:
    return any(_DAEMON.search(value) for value in headers.get_all("From"))


def _is_auto_reply(headers: _Headers) -> bool:
    """RFC 3834 and the headers and subjects real autoresponders use (sisimai rfc3834, notes §1.4)."""
    submitted = headers.get("Auto-Submitted").strip().lower()
    if submitted and submitted != "no":
        return True
    if headers.get("X-Autoreply") or headers.get("X-Autorespond") or headers.get("X-Autoresponder"):
        return True
    if headers.get("Precedence").strip().lower() == "auto_reply":
        return True
    if headers.get("X-Apple-Action").strip().lower() == "vacation":
        return True
    return bool(_AUTO_SUBJECT.search(headers.get("Subject").strip()))


# --- RFC 3464 delivery status notifications ---------------------------------------------------


def _dsn(parts: _Parts, base: BounceReport) -> list[BounceReport]:
    assert parts.delivery_status is not None
    blocks = _field_blocks(parts.delivery_status)
    per_message, recipients = (blocks[0], blocks[1:]) if blocks else (Message(), [])
    recipients = [block for block in recipients if block.get("Final-Recipient") or block.get("Original-Recipient")]
    failed: list[Message] = []
    actions: set[str] = set()
    for block in recipients:
        action = (block.get("Action") or "").strip().lower()
        status = find_status(block.get("Status") or "")
        if not action:  # a block without Action: its status class says what happened
            action = "failed" if status and status[0] == "5" else "delayed" if status else "failed"
        actions.add(action)
        if action == "failed":
            failed.append(block)
    if not recipients:
        return []
    if not failed:
        reason = "delayed" if "delayed" in actions else "delivered"
        return [replace(base, reason=reason, recipient=_recipient_of(recipients[0]), source="dsn")]
    human = "\n".join(parts.text) if len(failed) == 1 else ""
    arrival = _date(per_message.get("Arrival-Date"))
    return [_dsn_report(block, base, human, arrival) for block in failed]


def _recipient_of(block: Message) -> str | None:
    return _address(block.get("Original-Recipient")) or _address(block.get("Final-Recipient"))


def _dsn_report(block: Message, base: BounceReport, human: str, arrival: datetime | None) -> BounceReport:
    code = block.get("Diagnostic-Code") or ""
    diagnostic = code.partition(";")[2] if ";" in code else code
    status = find_status(block.get("Status") or "")
    better = find_status(diagnostic) if diagnostic else None
    if better and (status is None or status.endswith(".0.0")) and not better.endswith(".0.0"):
        status = better  # "Status: 5.0.0" with "550 5.1.1 ..." in the diagnostic: the precise one
    verdict = classify(status, diagnostic or _failure_section(human) or None)
    return replace(
        base,
        kind=verdict.kind,
        reason=verdict.reason,
        sender_warning=verdict.sender_warning,
        recipient=_recipient_of(block),
        status=status,
        diagnostic=_trim(diagnostic),
        source="dsn",
        occurred_at=_date(block.get("Last-Attempt-Date")) or arrival or base.occurred_at,
    )


# --- complaints --------------------------------------------------------------------------------


def _arf(parts: _Parts, base: BounceReport, bounce_address: str | None) -> list[BounceReport]:
    assert parts.feedback is not None
    blocks = _field_blocks(parts.feedback)
    fields = blocks[0] if blocks else Message()
    feedback_type = (fields.get("Feedback-Type") or "abuse").strip().lower()
    token = base.verp_token or _returned_token(parts, fields, bounce_address)
    base = replace(
        base, verp_token=token, source="arf", occurred_at=_date(fields.get("Arrival-Date")) or base.occurred_at
    )
    if feedback_type == "auth-failure":  # RFC 6591: a report that our own authentication failed
        return [replace(base, reason="auth_failure_report", sender_warning=True)]
    if feedback_type not in COMPLAINT_TYPES:  # not-spam (RFC 6430) and unknown types
        return [replace(base, reason="not_a_bounce")]
    recipients = [_address(value) for value in fields.get_all("Original-Rcpt-To", [])]
    found: list[str | None] = [address for address in recipients if address]
    if not found:
        found = [_original_recipient(parts.original)]
    return [replace(base, kind="complaint", reason=feedback_type, recipient=address) for address in found]


def _original_recipient(original: Message | None) -> str | None:
    if original is None:
        return None
    for name in ("X-HmXmrOriginalRecipient", "To"):  # Microsoft JMRP keeps the recipient in the former
        address = _address(original.get(name))
        if address:
            return address
    return None


def _is_jmrp(headers: _Headers, parts: _Parts) -> bool:
    """Microsoft JMRP's "RFC822 attachment" format: staff@hotmail.com forwards the reported message."""
    sender = headers.get("From")
    subject = headers.get("Subject")
    return parts.original is not None and (
        "staff@hotmail.com" in sender.lower() or subject.lower().startswith("complaint about message from")
    )


def _jmrp(parts: _Parts, base: BounceReport, bounce_address: str | None) -> list[BounceReport]:
    token = base.verp_token or _returned_token(parts, None, bounce_address)
    recipient = _original_recipient(parts.original)
    return [
        replace(base, kind="complaint", reason="abuse", recipient=recipient, verp_token=token, source="heuristic:jmrp")
    ]


# --- plain-text bounces ------------------------------------------------------------------------


def _text_bounce(headers: _Headers, parts: _Parts, base: BounceReport) -> list[BounceReport]:
    body = "\n".join(parts.text).replace("\r\n", "\n")
    section = _failure_section(body)
    mta = next((name for name, marker in _TEXT_FORMATS if marker.search(body)), "generic")
    if _DELAY_WORDING.search(section) and not _FINAL_WORDING.search(section):
        return [replace(base, reason="delayed", source=f"heuristic:{mta}")]
    ours = {
        address.lower()
        for value in headers.get_all("To") + headers.get_all("From")
        for address in _ADDRESS.findall(value)
    }
    blocks: list[tuple[str | None, str]] = [
        (address, text) for address, text in _address_blocks(section) if address not in ours
    ]
    named = [_address(value) for value in ",".join(headers.get_all("X-Failed-Recipients")).split(",")]
    for address in named:
        if address and all(address != known for known, _ in blocks):
            blocks.append((address, section))
    if not blocks:
        if not find_status(section):
            return []
        blocks = [(None, section)]  # a bounce that names nobody: the VERP token or Message-ID can still match it
    reports = []
    for address, text in blocks:
        status = find_status(text)
        verdict = classify(status, text)
        reports.append(
            replace(
                base,
                kind=verdict.kind,
                reason=verdict.reason,
                sender_warning=verdict.sender_warning,
                recipient=address,
                status=status,
                diagnostic=_trim(_diagnostic_line(text)),
                source=f"heuristic:{mta}",
            )
        )
    return reports


def _failure_section(body: str) -> str:
    """The part of a bounce's text before the returned message (whose addresses are not failures)."""
    end = _ORIGINAL_MARKERS.search(body)
    return body[: end.start()] if end else body


_ADDRESS_LINE = re.compile(
    r"^[ \t]*<?(?P<address>" + _ADDRESS.pattern + r")>?(?:[ \t]*(?::|\.\.\.|\bon\b|$))(?P<rest>.*)$"
)


def _address_blocks(section: str) -> list[tuple[str, str]]:
    """(recipient, its text) for each line that starts with an address, the text running to the next
    such line: qmail/Yahoo `<a@b>:` blocks, Exim and Sendmail indented lists, Postfix `<a@b>: host ...
    said:`, Gmail and Exchange address lines with the reason below."""
    blocks: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in section.split("\n"):
        found = _ADDRESS_LINE.match(line)
        if found:
            address = found.group("address").lower()
            current = blocks.setdefault(address, [])
            current.append(found.group("rest"))
        elif current is not None:
            current.append(line)
    return [(address, "\n".join(lines).strip()) for address, lines in blocks.items()]


def _diagnostic_line(text: str) -> str:
    """From a recipient's block, the remote server's reply when it can be found, else the block."""
    found = re.search(r"(?<![\d.])[45]\d\d[ :-][^\n]*(?:\n(?:[ \t]+|[45]\d\d[ -])[^\n]+)*", text)
    return found.group(0) if found else text
