"""Rendering campaign templates with sandboxed Jinja2, and rewriting every link through click tracking.

Merge fields (all strings, empty when unknown): first_name, last_name, full_name, email, phone,
event_name, event_url, event_date, event_time, venue, organization, unsubscribe_url, preferences_url. Templates run
in Jinja's `SandboxedEnvironment` (no attribute access to Python internals, bounded `range`), and
with `StrictUndefined`, so a misspelt merge field is an error when the campaign is created rather
than a blank in 50,000 inboxes.

Email bodies are HTML when they contain HTML tags, otherwise plain text that is turned into simple
HTML. Every http(s) link (href attributes in HTML, bare URLs in SMS) becomes an absolute
`FANHUB_PUBLIC_URL/t/c/<token>` redirect, except fanhub's own tracking URLs (the unsubscribe link
must work without a detour) and the recipient's preference-center page (`/p/<token>`, one per
person: it is never stored as a campaign link). Emails get an open pixel and a footer: a visible
unsubscribe link when the template has no `unsubscribe_url`, and a "Manage your preferences" link
when the template has no `preferences_url` and the recipient is a known contact (previews of the
sample recipient have none). SMS get "Reply STOP to opt out" unless the template already
mentions STOP.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from fanhub.campaigns import tokens
from fanhub.errors import InvalidInput

MERGE_FIELDS = (
    "first_name",
    "last_name",
    "full_name",
    "email",
    "phone",
    "event_name",
    "event_url",
    "event_date",
    "event_time",
    "venue",
    "organization",
    "unsubscribe_url",
    "preferences_url",
)
MAX_TEMPLATE_CHARS = 200_000

_HTML_HINT = re.compile(r"<\s*(html|body|p|div|a|br|table|h[1-6]|span|img|ul|ol|li|strong|em)\b", re.I)
_HREF = re.compile(r"""(href\s*=\s*)(["'])(https?://[^"']+)\2""", re.I)
_BARE_URL = re.compile(r"https?://[^\s<>\"']+")
_TAG = re.compile(r"<[^>]+>")
_STOP = re.compile(r"\bstop\b", re.I)

_html_env = SandboxedEnvironment(autoescape=True, undefined=StrictUndefined, keep_trailing_newline=True)
_text_env = SandboxedEnvironment(autoescape=False, undefined=StrictUndefined, keep_trailing_newline=True)

# url -> link id (None: leave the URL untracked, as in previews)
LinkResolver = Callable[[str], int | None]


def is_html(body: str) -> bool:
    return bool(_HTML_HINT.search(body))


def _compile(source: str, field: str, autoescape: bool) -> Any:
    if len(source) > MAX_TEMPLATE_CHARS:
        raise InvalidInput(f"{field}: longer than {MAX_TEMPLATE_CHARS} characters", [_err(field, "too long")])
    try:
        return (_html_env if autoescape else _text_env).from_string(source)
    except TemplateError as exc:
        raise InvalidInput(f"{field}: template error: {exc}", [_err(field, str(exc))]) from None


def _err(field: str, message: str) -> dict[str, object]:
    return {"index": None, "field": field, "message": message}


def _render(template: Any, context: dict[str, str], field: str) -> str:
    try:
        return str(template.render(context))
    except TemplateError as exc:  # includes SecurityError and undefined merge fields
        hint = f" (merge fields: {', '.join(MERGE_FIELDS)})" if "undefined" in str(exc) else ""
        raise InvalidInput(f"{field}: {exc}{hint}", [_err(field, str(exc))]) from None


def format_event_date(start: datetime | None, zone: str | None) -> tuple[str, str]:
    if start is None:
        return "", ""
    try:
        local = start.astimezone(ZoneInfo(zone or "UTC"))
    except (KeyError, ValueError):
        local = start
    hour = local.hour % 12 or 12
    return f"{local:%A} {local.day} {local:%B %Y}", f"{hour}:{local:%M} {'AM' if local.hour < 12 else 'PM'}"


@dataclass
class Recipient:
    delivery_id: int
    address: str
    first_name: str | None = None
    last_name: str | None = None
    full_name: str | None = None
    email: str | None = None
    phone: str | None = None
    # The contact the message is for: with the renderer's organization it signs the preference link.
    contact_id: int | None = None


@dataclass
class RenderedEmail:
    subject: str
    html: str
    text: str
    unsubscribe_url: str


def html_to_text(markup: str) -> str:
    """A readable plain-text part: links keep their target, block ends become line breaks."""
    text = re.sub(
        r"""<a\s[^>]*href\s*=\s*["']([^"']+)["'][^>]*>(.*?)</a>""",
        lambda m: f"{_TAG.sub('', m.group(2)).strip()} ({m.group(1)})",
        markup,
        flags=re.I | re.S,
    )
    text = re.sub(r"<\s*(br|/p|/div|/h[1-6]|/li|/tr)\s*/?>", "\n", text, flags=re.I)
    text = re.sub(r"<\s*(style|script)[^>]*>.*?</\s*\1\s*>", "", text, flags=re.I | re.S)
    text = html.unescape(_TAG.sub("", text))
    lines = [line.strip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"


class CampaignRenderer:
    """Compiled templates of one campaign plus the per-campaign part of the merge context."""

    def __init__(
        self,
        *,
        channel: str,
        body: str,
        subject: str | None,
        base_context: dict[str, str],
        public_url: str,
        links: LinkResolver,
        organization_id: int | None = None,
    ) -> None:
        self.channel = channel
        self.organization_id = organization_id
        self.base_context = {name: "" for name in MERGE_FIELDS} | base_context
        self.public_url = public_url.rstrip("/")
        self.tracking_prefix = self.public_url + "/t/"
        self.preferences_prefix = self.public_url + "/p/"
        self.links = links
        self.body_is_html = channel == "email" and is_html(body)
        self.body = _compile(body, "body", autoescape=self.body_is_html)
        self.subject = _compile(subject or "", "subject", autoescape=False) if channel == "email" else None
        self.mentions_unsubscribe = "unsubscribe_url" in body
        self.mentions_preferences = "preferences_url" in body
        self.mentions_stop = bool(_STOP.search(body))

    def context(self, recipient: Recipient, unsubscribe_url: str, preferences_url: str = "") -> dict[str, str]:
        full = recipient.full_name or " ".join(p for p in (recipient.first_name, recipient.last_name) if p)
        return self.base_context | {
            "first_name": recipient.first_name or "",
            "last_name": recipient.last_name or "",
            "full_name": full,
            "email": recipient.email or "",
            "phone": recipient.phone or "",
            "unsubscribe_url": unsubscribe_url,
            "preferences_url": preferences_url,
        }

    def _tracked(self, url: str, delivery_id: int) -> str:
        if url.startswith(self.tracking_prefix) or url.startswith(self.preferences_prefix):
            return url
        link_id = self.links(url)
        if link_id is None:
            return url
        return f"{self.public_url}/t/c/{tokens.make_token(tokens.CLICK, delivery_id, link_id)}"

    def unsubscribe_url(self, delivery_id: int) -> str:
        return f"{self.public_url}/t/u/{tokens.make_token(tokens.UNSUBSCRIBE, delivery_id)}"

    def preferences_url(self, recipient: Recipient) -> str:
        """The recipient's preference-center page, or "" when the message is for no known contact."""
        if self.organization_id is None or recipient.contact_id is None:
            return ""
        return self.preferences_prefix + tokens.preference_token(self.organization_id, recipient.contact_id)

    def render_email(self, recipient: Recipient) -> RenderedEmail:
        unsubscribe = self.unsubscribe_url(recipient.delivery_id)
        preferences = self.preferences_url(recipient)
        context = self.context(recipient, unsubscribe, preferences)
        assert self.subject is not None
        subject = " ".join(_render(self.subject, context, "subject").split())
        body = _render(self.body, context, "body")
        if not self.body_is_html:
            escaped = html.escape(body)
            escaped = _BARE_URL.sub(lambda m: f'<a href="{m.group(0)}">{m.group(0)}</a>', escaped)
            body = (
                "<html><body>"
                + "".join(
                    f"<p>{para.strip().replace(chr(10), '<br>')}</p>"
                    for para in re.split(r"\n\s*\n", escaped)
                    if para.strip()
                )
                + "</body></html>"
            )

        def rewrite(match: re.Match[str]) -> str:
            quote = match.group(2)
            tracked = self._tracked(html.unescape(match.group(3)), recipient.delivery_id)
            return f"{match.group(1)}{quote}{html.escape(tracked)}{quote}"

        body = _HREF.sub(rewrite, body)
        footer = self._footer(unsubscribe, preferences)
        if footer:
            body = _insert_before_body_end(body, f'<p style="font-size:12px;color:#666">{footer}</p>')
        text = html_to_text(body)
        pixel = f"{self.public_url}/t/o/{tokens.make_token(tokens.OPEN, recipient.delivery_id)}.gif"
        body = _insert_before_body_end(body, f'<img src="{pixel}" width="1" height="1" alt="" style="display:none">')
        return RenderedEmail(subject=subject, html=body, text=text, unsubscribe_url=unsubscribe)

    def _footer(self, unsubscribe: str, preferences: str) -> str:
        """The footer's links the template does not carry itself (HTML, possibly empty)."""
        parts = []
        if not self.mentions_unsubscribe:
            parts.append(f'Don\'t want these emails? <a href="{html.escape(unsubscribe)}">Unsubscribe</a>.')
        if preferences and not self.mentions_preferences:
            parts.append(f'<a href="{html.escape(preferences)}">Manage your preferences</a>.')
        return " ".join(parts)

    def render_sms(self, recipient: Recipient) -> str:
        context = self.context(recipient, self.unsubscribe_url(recipient.delivery_id))
        text = _render(self.body, context, "body").strip()

        def rewrite(match: re.Match[str]) -> str:
            url = match.group(0)
            trail = ""
            while url and url[-1] in ".,;:!?)":
                url, trail = url[:-1], url[-1] + trail
            return self._tracked(url, recipient.delivery_id) + trail

        text = _BARE_URL.sub(rewrite, text)
        if not self.mentions_stop:
            text += "\nReply STOP to opt out"
        return text


def _insert_before_body_end(markup: str, snippet: str) -> str:
    index = markup.lower().rfind("</body>")
    if index < 0:
        return markup + snippet
    return markup[:index] + snippet + markup[index:]
