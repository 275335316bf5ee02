"""The deliverability routes in: provider webhooks, the inbound-bounce endpoint, bounce files and
the bounce mailbox, each ending in `apply`. Front doors (endpoints, CLI, worker) call these."""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import httpx

from fanhub.config import Settings, get_settings
from fanhub.db.base import utcnow
from fanhub.db.engine import Database
from fanhub.deliverability import apply, mailbox
from fanhub.deliverability.providers import PROVIDERS, ProviderSettings, WebhookRejected
from fanhub.deliverability.reports import BounceReport

# An SNS SubscriptionConfirmation is confirmed by a GET to its SubscribeURL: only ever to SNS itself.
SNS_HOST = re.compile(r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")
MAX_RAW_MESSAGE = 10 * 1024 * 1024


@dataclass(frozen=True)
class Answer:
    """What an endpoint answers: a status and a JSON body."""

    status: int
    body: dict[str, object]


def _refused(status: int, message: str) -> Answer:
    return Answer(status, {"code": status, "message": message, "errors": []})


def _keyed(reports: list[BounceReport], request_key: str) -> Iterator[tuple[BounceReport, str]]:
    """Each report's replay key: the provider's own event id where it has one (the same event in a
    later batch is still a replay), else the request's key and the report's place in it."""
    for index, report in enumerate(reports):
        if report.event_id:
            yield report, f"{report.source}:{report.event_id}:{report.recipient or ''}"
        else:
            yield report, f"{request_key}:{index}"


def receive_provider_event(
    database: Database, provider: str, headers: Mapping[str, str], body: bytes, settings: Settings | None = None
) -> Answer:
    """Verify one webhook request and apply its reports; a refused request changes nothing."""
    settings = settings or get_settings()
    verify = PROVIDERS.get(provider)
    if verify is None:
        return _refused(404, f"unknown email provider {provider!r}: one of {', '.join(PROVIDERS)}")
    try:
        result = verify(headers, body, ProviderSettings.from_settings(settings), utcnow())
    except WebhookRejected as refusal:
        return _refused(refusal.status_code, refusal.message)
    if result.subscribe_url is not None:
        return _confirm_subscription(result.subscribe_url)
    tally = apply.apply_reports(database, _keyed(result.reports, result.replay_key), settings)
    return Answer(200, {"received": True, **tally.as_dict()})


def _confirm_subscription(url: str) -> Answer:
    parsed = urlparse(url)
    if parsed.scheme != "https" or not SNS_HOST.match(parsed.hostname or ""):
        return _refused(400, "SubscribeURL is not an https URL of Amazon SNS")
    try:
        response = httpx.get(url, timeout=10.0)
    except httpx.HTTPError as error:
        return _refused(502, f"could not confirm the SNS subscription: {error}")
    if response.status_code >= 400:
        return _refused(502, f"SNS refused the subscription confirmation: HTTP {response.status_code}")
    return Answer(200, {"received": True, "subscribed": True})


def inbound_token_ok(authorization: str | None, settings: Settings) -> bool:
    expected = settings.inbound_token
    if not expected or not authorization:
        return False
    scheme, _, token = authorization.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), expected.encode())


def receive_inbound(
    database: Database, authorization: str | None, raw: bytes, settings: Settings | None = None
) -> Answer:
    """`POST /v1/inbound/bounces`: one raw RFC 5322 message from an MTA pipe or a provider's inbound route."""
    settings = settings or get_settings()
    if not settings.inbound_token:
        return _refused(503, "inbound bounces not configured: set FANHUB_INBOUND_TOKEN")
    if not inbound_token_ok(authorization, settings):
        return _refused(401, "Authorization: Bearer <FANHUB_INBOUND_TOKEN> is missing or wrong")
    if not raw.strip():
        return _refused(400, "body: an RFC 5322 message is required")
    tally = apply.apply_message(database, raw, settings)
    return Answer(200, {"received": True, **tally.as_dict()})


# Messages applied per transaction by `import_path`: a crash loses at most this batch's work, and an
# import run again skips what was applied (each report's replay key).
IMPORT_BATCH = 500


def import_path(
    database: Database, path: Path, settings: Settings | None = None, progress: Callable[[], None] | None = None
) -> apply.Tally:
    """`fanhub bounces import PATH`: a .eml file, a folder of them, a Maildir or an mbox, applied
    `IMPORT_BATCH` messages per transaction (the batch applier matches and writes a batch at once)."""
    settings = settings or get_settings()
    total = apply.Tally()
    pending: list[tuple[BounceReport, str]] = []
    read = 0
    for _name, raw in mailbox.read_messages(path):
        pending.extend(apply.message_reports(raw, settings))
        read += 1
        if progress is not None:
            progress()
        if read % IMPORT_BATCH == 0:
            total.merge(apply.apply_reports(database, pending, settings))
            pending = []
    if pending:
        total.merge(apply.apply_reports(database, pending, settings))
    total.read = read
    return total


def poll_bounce_mailbox(database: Database, settings: Settings | None = None, limit: int = 500) -> int:
    """Read the bounce mailbox (POP3/IMAP); each message is deleted only once applied. Returns how many."""
    settings = settings or get_settings()
    if not settings.bounce_mailbox_url:
        return 0

    def handle(raw: bytes) -> None:
        apply.apply_message(database, raw, settings)

    return mailbox.poll_mailbox(settings.bounce_mailbox_url, handle, limit)
