"""Building one recipient's message: the rendered campaign as MIME bytes (email) or text (SMS), with
the headers mail providers expect from bulk senders (List-Unsubscribe one-click, Precedence) and
the tracking parts (links stored as `CampaignLink`s, the SMS status callback)."""

from __future__ import annotations

import binascii
import functools
import secrets
from collections.abc import Sequence
from concurrent.futures import BrokenExecutor, Future
from email.header import Header
from email.utils import formataddr, formatdate, parseaddr

from sqlalchemy import select

from fanhub.campaigns import tokens
from fanhub.campaigns.models import EMAIL, CampaignLink
from fanhub.campaigns.render import CampaignRenderer, Recipient, RenderedEmail
from fanhub.campaigns.sending import trace
from fanhub.campaigns.sending.transport import Message
from fanhub.config import Settings
from fanhub.db.engine import Database
from fanhub.organizations.dkim_signing import DkimSigner, sign_in_background

# Makes Message-IDs unique across installations and re-sends; one random draw per process
# (a system call per message is measurable under load).
_PROCESS_NONCE = secrets.token_hex(6)


class EarlySignature:
    """`Message.sign` for a message whose signing started when it was built (with the others built
    alongside it, `sign_early`): the signed bytes of that body, from the signing process. A body
    changed since, or a signing process that died, is signed here and now."""

    def __init__(
        self,
        sign: DkimSigner,
        body: bytes,
        together: Future[list[bytes]] | None = None,
        position: int = 0,
    ) -> None:
        self._sign, self._body, self._position = sign, body, position
        self._signed = together if together is not None else sign_in_background(sign, [body])

    def __call__(self, body: bytes) -> bytes:
        if body is not self._body:
            return self._sign(body)
        try:
            return self._signed.result()[self._position] + body
        except BrokenExecutor:
            return self._sign(body)


# Bodies per request to the signing process. A reply comes back whole, so the first message of a
# sending slice waits for its piece: 32 at a time, every 200-message slice began with a 12 ms stall
# and signed campaigns sent 0.87-0.89 x their unsigned rate; pieces of 8 sent 0.90-0.95 x
# (bench/send.py --dkim, Postfix's smtp-sink, 20k emails, A B A B; 4 and 16 did no better).
SIGN_PIECE = 8


def sign_early(sign: DkimSigner, bodies: Sequence[bytes]) -> list[EarlySignature]:
    """Starts signing `bodies`, a piece at a time, while the pipe claims and pushes the messages
    before them: the provider connections only collect finished signatures (signing in a
    connection's thread delayed its provider call)."""
    signatures: list[EarlySignature] = []
    for start in range(0, len(bodies), SIGN_PIECE):
        piece = bodies[start : start + SIGN_PIECE]
        together = sign_in_background(sign, piece)
        signatures += [EarlySignature(sign, body, together, position) for position, body in enumerate(piece)]
    return signatures


def _header(value: str) -> str:
    value = " ".join(value.split())  # no CR/LF: no header injection
    try:
        value.encode("ascii")
    except UnicodeEncodeError:
        return Header(value, "utf-8").encode(maxlinelen=76)
    return value


def _part(text: str) -> tuple[str, bytes]:
    """(Content-Transfer-Encoding, body) of a text part: 7bit when it is ASCII with short lines (fewer,
    shorter lines for every relay to process), else quoted-printable."""
    text = text.replace("\r\n", "\n")
    if text.isascii() and max(map(len, text.split("\n")), default=0) <= 900:
        return "7bit", text.replace("\n", "\r\n").encode("ascii")
    encoded = binascii.b2a_qp(text.encode("utf-8"))
    return "quoted-printable", encoded.replace(b"\n", b"\r\n")


def build_email(
    *,
    mail_from: str,
    to_name: str | None,
    to_address: str,
    rendered: RenderedEmail,
    message_id: str,
    campaign_id: int,
    extra_headers: Sequence[str] = (),
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
        *extra_headers,
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


def message_domain(mail_from: str) -> str:
    address = parseaddr(mail_from)[1]
    return address.rpartition("@")[2] or "fanhub.local"


class MessageBuilder:
    """Builds each recipient's `Message` for one campaign; the per-campaign constants (sender,
    Message-ID domain, status callback base) are parsed once, not per message."""

    def __init__(
        self,
        settings: Settings,
        campaign_id: int,
        channel: str,
        mail_from: str,
        renderer: CampaignRenderer,
        sign: DkimSigner | None = None,
    ):
        self.campaign_id = campaign_id
        self.channel = channel
        self.renderer = renderer
        self.mail_from = mail_from
        self.envelope_from = parseaddr(mail_from)[1] or "no-reply@localhost"
        self.bounce_address = settings.bounce_address
        # DKIM (organizations.sending_domains): prepends a DKIM-Signature, when the organization
        # has a sending domain for the From address.
        self.sign = sign
        self.domain = message_domain(mail_from)
        self.status_base = f"{settings.public_url.rstrip('/')}/t/sms/status/"

    def build_many(self, recipients: Sequence[Recipient]) -> list[Message | Exception]:
        """Each recipient's message, or what its template raised (the pipe records a render error);
        the signed ones are signed together, starting now."""
        built: list[Message | Exception] = []
        for recipient in recipients:
            try:
                built.append(self._build(recipient))
            except Exception as exc:  # a template that rendered for the sample but not for this contact
                built.append(exc)
        if self.sign is not None:
            messages = [message for message in built if isinstance(message, Message)]
            for message, signature in zip(messages, sign_early(self.sign, [m.body for m in messages]), strict=True):
                message.sign = signature
        return built

    def build(self, recipient: Recipient) -> Message:
        """Raises whatever the template raises for this recipient."""
        built = self.build_many([recipient])[0]
        if isinstance(built, Exception):
            raise built
        return built

    def _build(self, recipient: Recipient) -> Message:
        """The message, unsigned."""
        if self.channel == EMAIL:
            rendered = self.renderer.render_email(recipient)
            message_id = f"<c{self.campaign_id}.d{recipient.delivery_id}.{_PROCESS_NONCE}@{self.domain}>"
            name = recipient.full_name or " ".join(p for p in (recipient.first_name, recipient.last_name) if p)
            token = trace.delivery_token(recipient.delivery_id)
            data = build_email(
                mail_from=self.mail_from,
                to_name=name or None,
                to_address=recipient.address,
                rendered=rendered,
                message_id=message_id,
                campaign_id=self.campaign_id,
                extra_headers=trace.metadata_headers(token, self.campaign_id),
            )
            return Message(
                self.campaign_id,
                recipient.delivery_id,
                recipient.address,
                sender=trace.verp_sender(self.bounce_address, token, self.envelope_from),
                body=data,
                message_id=message_id,
            )
        callback = self.status_base + tokens.make_token(tokens.SMS_STATUS, recipient.delivery_id)
        return Message(
            self.campaign_id,
            recipient.delivery_id,
            recipient.address,
            text=self.renderer.render_sms(recipient),
            status_callback=callback,
        )


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
