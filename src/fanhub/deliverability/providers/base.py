"""What every provider webhook module shares: the result, the refusal, the settings and the checks.

Each provider module exposes `verify_and_parse(headers, body, settings, now) -> ProviderResult` and
raises `WebhookRejected` for anything it cannot trust (unsigned, forged, stale, malformed): the
endpoint answers with its `status_code` and `message` and changes nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from fanhub.config import DEFAULT_SNS_CERT_URL_PATTERN, Settings
from fanhub.deliverability.reports import BounceReport
from fanhub.errors import FanhubError

# The decision in issue 19: signed events older than this, or further in the future, are refused.
MAX_EVENT_AGE = timedelta(hours=24)
MAX_CLOCK_SKEW = timedelta(minutes=5)
DIAGNOSTIC_LIMIT = 500
# The key under which fanhub puts its delivery token into every provider's metadata headers.
DELIVERY_REF_KEY = "fanhub_delivery"


class WebhookRejected(FanhubError):
    """A webhook request that must change nothing; `message` says what is wrong with it."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


@dataclass(frozen=True)
class ProviderResult:
    reports: list[BounceReport]
    # Unique per delivered request (a provider event id, or the signature): stored with a unique
    # constraint by the caller, so a replayed request changes nothing twice.
    replay_key: str
    # SNS SubscriptionConfirmation: the caller confirms the subscription with a GET to this URL.
    subscribe_url: str | None = None


@dataclass(frozen=True)
class ProviderSettings:
    """The secrets and limits the providers need, read from `Settings` (`from_settings`)."""

    sendgrid_public_key: str | None = None
    mailgun_signing_key: str | None = None
    postmark_credentials: str | None = None
    sns_cert_url_pattern: str = DEFAULT_SNS_CERT_URL_PATTERN
    # SNS topics whose messages are accepted; empty accepts any topic. Anybody can subscribe the
    # endpoint to a topic of their own, and SNS signs their messages too: list yours to refuse them.
    sns_topic_arns: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_settings(cls, settings: Settings) -> ProviderSettings:
        return cls(
            sendgrid_public_key=settings.sendgrid_webhook_public_key,
            mailgun_signing_key=settings.mailgun_webhook_signing_key,
            postmark_credentials=settings.postmark_webhook_credentials,
            sns_cert_url_pattern=settings.sns_cert_url_pattern,
            sns_topic_arns=frozenset(arn.strip() for arn in settings.sns_topic_arns.split(",") if arn.strip()),
        )


def not_configured(provider: str, setting: str) -> WebhookRejected:
    # 503 rather than 404: the providers retry, so events sent before the key is set still arrive.
    return WebhookRejected(503, f"{provider} webhook not configured: set {setting}")


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A request header by name, whatever the case of the mapping's keys."""
    value = headers.get(name)
    if value is not None:
        return value
    wanted = name.lower()
    for key, candidate in headers.items():
        if key.lower() == wanted:
            return candidate
    return None


def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise WebhookRejected(400, f"body is not JSON: {error}") from None


def require_object(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise WebhookRejected(400, f"{name} must be a JSON object")
    return value


def object_at(container: Mapping[str, Any], key: str) -> dict[str, Any]:
    """An optional nested object, empty when absent or not an object."""
    value = container.get(key)
    return value if isinstance(value, dict) else {}


def require_text(container: Mapping[str, Any], key: str, where: str = "") -> str:
    value = container.get(key)
    if not isinstance(value, str) or not value:
        raise WebhookRejected(400, f"{where}{key} is missing or not a string")
    return value


def optional_text(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def check_signed_at(signed_at: datetime, now: datetime) -> None:
    """Refuse a signature made more than 24 hours ago or more than 5 minutes ahead of `now`."""
    now = as_utc(now)
    if signed_at < now - MAX_EVENT_AGE:
        raise WebhookRejected(403, "timestamp older than 24 hours")
    if signed_at > now + MAX_CLOCK_SKEW:
        raise WebhookRejected(403, "timestamp more than 5 minutes in the future")


def as_utc(moment: datetime) -> datetime:
    """An aware instant; a naive one is taken as UTC (fanhub stores UTC throughout)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def epoch_to_datetime(value: Any, name: str) -> datetime:
    """Seconds since the epoch (a number or a numeric string) as an aware UTC datetime."""
    try:
        seconds = float(value)
        return datetime.fromtimestamp(seconds, UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        raise WebhookRejected(400, f"{name} is not a Unix timestamp") from None


def iso_to_datetime(value: Any) -> datetime | None:
    """An ISO 8601 instant from an event (None when absent or unreadable: it only dates a report)."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def recipient_address(value: Any) -> str | None:
    text = optional_text(value)
    return text.lower() if text else None


def trim_diagnostic(value: Any) -> str | None:
    text = optional_text(value)
    return text[:DIAGNOSTIC_LIMIT] if text else None


def bare_message_id(value: Any) -> str | None:
    """A Message-ID without its angle brackets (as `BounceReport.message_id` keeps it)."""
    text = optional_text(value)
    if not text:
        return None
    return text.strip().removeprefix("<").removesuffix(">").strip() or None


def delivery_ref_from_headers(pairs: Iterable[tuple[str, str]]) -> str | None:
    """fanhub's delivery token from the original message's metadata headers (any provider's form).

    Every fanhub email carries all of them, so whichever one survived the relay gives the token.
    """
    for name, value in pairs:
        token = _delivery_ref_from_header(name.lower(), value)
        if token:
            return token
    return None


def _delivery_ref_from_header(name: str, value: str) -> str | None:
    if name == "x-ses-message-tags":
        for tag in value.split(","):
            key, _, tag_value = tag.partition("=")
            if key.strip() == DELIVERY_REF_KEY:
                return tag_value.strip() or None
    elif name == f"x-pm-metadata-{DELIVERY_REF_KEY}":
        return value.strip() or None
    elif name in ("x-mailgun-variables", "x-smtpapi"):
        try:
            data = json.loads(value)
        except json.JSONDecodeError:
            return None
        if isinstance(data, dict) and name == "x-smtpapi":
            data = data.get("unique_args")
        if isinstance(data, dict):
            return optional_text(data.get(DELIVERY_REF_KEY))
    return None


_STATUS_PATTERN = re.compile(r"(?<![\d.])([245]\.\d{1,3}\.\d{1,3})(?![\d.])")


def enhanced_status(*candidates: Any) -> str | None:
    """The first RFC 3463 enhanced status code ("5.1.1") found in the candidates, in order."""
    for candidate in candidates:
        text = optional_text(candidate)
        if text:
            match = _STATUS_PATTERN.search(text)
            if match:
                return match.group(1)
    return None
