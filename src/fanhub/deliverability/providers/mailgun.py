"""Mailgun webhooks: one JSON event per request, signed with the account's webhook signing key.

Mailgun, "Securing webhooks": `signature.signature` is the hex HMAC-SHA256 of `timestamp + token`
under the HTTP webhook signing key. Event shapes: Mailgun "Webhook Payloads" (`event-data`).
fanhub's `X-Mailgun-Variables` header comes back as `event-data.user-variables`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from fanhub.deliverability.providers.base import (
    DELIVERY_REF_KEY,
    ProviderResult,
    ProviderSettings,
    WebhookRejected,
    bare_message_id,
    check_signed_at,
    enhanced_status,
    epoch_to_datetime,
    not_configured,
    object_at,
    optional_text,
    parse_json,
    recipient_address,
    require_object,
    require_text,
    trim_diagnostic,
)
from fanhub.deliverability.providers.classify import classify_failure
from fanhub.deliverability.reports import BounceKind, BounceReport

SOURCE = "mailgun"
_SETTING = "FANHUB_MAILGUN_WEBHOOK_SIGNING_KEY"
# event-data.reason of a failure Mailgun did not even attempt, because of its own suppression lists.
_SUPPRESSED_REASONS = {"suppress-bounce": "suppressed", "suppress-unsubscribe": None, "suppress-complaint": None}

# Permanent failures that are not about the address: Mailgun gave up retrying a temporary failure
# ("old", a soft bounce by fanhub's rules) or the receiving provider blocked the sender.
_PERMANENT_REASONS: dict[str, tuple[BounceKind, str]] = {"old": ("soft", "expired"), "espblock": ("soft", "blocked")}


def verify_and_parse(
    headers: Mapping[str, str], body: bytes, settings: ProviderSettings, now: datetime
) -> ProviderResult:
    if not settings.mailgun_signing_key:
        raise not_configured("Mailgun", _SETTING)
    payload = require_object(parse_json(body), "body")
    if "signature" not in payload:
        raise WebhookRejected(401, "signature missing")
    signed = require_object(payload["signature"], "signature")
    timestamp = require_text(signed, "timestamp", "signature.")
    token = require_text(signed, "token", "signature.")
    signature = require_text(signed, "signature", "signature.")
    check_signed_at(epoch_to_datetime(timestamp, "signature.timestamp"), now)
    expected = hmac.new(
        settings.mailgun_signing_key.encode("utf-8"), (timestamp + token).encode("utf-8"), hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(expected, signature.lower()):
        raise WebhookRejected(401, "signature does not verify")
    event = require_object(payload.get("event-data"), "event-data")
    # event-data.id is unique only within a day (Mailgun); the signed token is unique per request.
    return ProviderResult(reports=[_report(event)], replay_key=f"{SOURCE}:{token}")


def _report(event: dict[str, Any]) -> BounceReport:
    name = require_text(event, "event", "event-data.")
    status_details = object_at(event, "delivery-status")
    diagnostic = trim_diagnostic(status_details.get("message")) or trim_diagnostic(status_details.get("description"))
    kind, reason = _classify(name, event)
    status = None
    if kind in ("hard", "soft"):
        status = enhanced_status(status_details.get("enhanced-code"), diagnostic, status_details.get("description"))
    classified = classify_failure(kind, reason, status, diagnostic)
    message_headers = object_at(object_at(event, "message"), "headers")
    variables = object_at(event, "user-variables")
    return BounceReport(
        kind=classified.kind,
        reason=classified.reason,
        recipient=recipient_address(event.get("recipient")),
        status=status,
        diagnostic=diagnostic if kind != "complaint" else None,
        message_id=bare_message_id(message_headers.get("message-id")),
        delivery_ref=optional_text(variables.get(DELIVERY_REF_KEY)),
        source=SOURCE,
        event_id=optional_text(event.get("id")),
        occurred_at=epoch_to_datetime(event["timestamp"], "event-data.timestamp") if "timestamp" in event else None,
        sender_warning=classified.sender_warning,
    )


def _classify(name: str, event: Mapping[str, Any]) -> tuple[BounceKind, str]:
    if name == "complained":
        return "complaint", "abuse"
    if name != "failed":
        return "ignored", "not_a_bounce"
    reason = optional_text(event.get("reason")) or "generic"
    if reason in _SUPPRESSED_REASONS:
        suppressed = _SUPPRESSED_REASONS[reason]
        # Mailgun refused because the address bounced before: still a hard fact about it.
        return ("hard", suppressed) if suppressed else ("ignored", reason.replace("-", "_"))
    if event.get("severity") == "permanent":
        return _PERMANENT_REASONS.get(reason, ("hard", "permanent_failure"))
    # severity "temporary": Mailgun will retry, like SendGrid's deferred; only the final failure
    # (severity permanent) counts, so one greylisted message never adds several soft bounces.
    return "ignored", "deferred"
