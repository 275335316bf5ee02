"""Postmark webhooks: one JSON record per request, authenticated by HTTP Basic credentials.

Postmark signs nothing; the webhook URL carries `user:password@` and Postmark sends them as Basic
credentials, compared here in constant time. Record shapes: Postmark "Bounce webhook" and "Spam
complaint webhook"; bounce types: Postmark's bounce types table (API "Bounces", `Type`/`TypeCode`).
fanhub's `X-PM-Metadata-fanhub_delivery` header comes back in `Metadata`. `MessageID` is Postmark's
own id, not the Message-ID fanhub set, so reports carry no `message_id`.
"""

from __future__ import annotations

import base64
import binascii
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
    enhanced_status,
    header,
    iso_to_datetime,
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

SOURCE = "postmark"
_SETTING = "FANHUB_POSTMARK_WEBHOOK_CREDENTIALS"
# Postmark bounce Type -> (kind, reason). Types not listed (Unknown and any new one) are soft:
# counted toward the limit, never suppressing at once on a guess.
_BOUNCE_TYPES: dict[str, tuple[BounceKind, str]] = {
    "HardBounce": ("hard", "user_unknown"),
    "BadEmailAddress": ("hard", "bad_address"),
    "AddressChange": ("hard", "mailbox_moved"),
    "SoftBounce": ("soft", "mailbox_full"),
    "Transient": ("soft", "transient_failure"),
    "DnsError": ("soft", "dns_error"),
    "Blocked": ("soft", "blocked"),
    "DMARCPolicy": ("soft", "dmarc_policy"),
    "SpamNotification": ("soft", "spam_block"),
    "VirusNotification": ("soft", "content_rejected"),
    "SpamComplaint": ("complaint", "abuse"),
    "AutoResponder": ("ignored", "auto_reply"),
    "ChallengeVerification": ("ignored", "auto_reply"),
    "Subscribe": ("ignored", "not_a_bounce"),
    "Unsubscribe": ("ignored", "not_a_bounce"),
    "OpenRelayTest": ("ignored", "not_a_bounce"),
    "Unconfirmed": ("ignored", "not_a_bounce"),
    # Postmark's own states and errors, nothing the recipient's server said.
    "ManuallyDeactivated": ("ignored", "manually_deactivated"),
    "SMTPApiError": ("ignored", "provider_error"),
    "InboundError": ("ignored", "provider_error"),
    "TemplateRenderingFailed": ("ignored", "provider_error"),
}
# Rejections caused by the sender's authentication or reputation: staff should hear about them.
_SENDER_WARNING_TYPES = {"Blocked", "DMARCPolicy"}


def verify_and_parse(
    headers: Mapping[str, str], body: bytes, settings: ProviderSettings, now: datetime
) -> ProviderResult:
    if not settings.postmark_credentials or ":" not in settings.postmark_credentials:
        raise not_configured("Postmark", _SETTING + " (user:password)")
    _check_credentials(header(headers, "Authorization"), settings.postmark_credentials)
    record = require_object(parse_json(body), "body")
    record_type = require_text(record, "RecordType")
    report = _report(record_type, record)
    event_id = optional_text(record.get("ID"))
    # Deliveries, opens and clicks carry no ID: the record itself names the request then.
    replay_key = f"{SOURCE}:{record_type}:{event_id or hashlib.sha256(body).hexdigest()}"
    return ProviderResult(reports=[report], replay_key=replay_key)


def _check_credentials(authorization: str | None, configured: str) -> None:
    if not authorization:
        raise WebhookRejected(401, "Basic credentials missing (Authorization header)")
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        raise WebhookRejected(401, "Authorization is not Basic credentials")
    try:
        sent = base64.b64decode(encoded.strip(), validate=True)
    except binascii.Error:
        raise WebhookRejected(401, "Basic credentials are not base64") from None
    if not hmac.compare_digest(sent, configured.encode("utf-8")):
        raise WebhookRejected(401, "Basic credentials do not match")


def _report(record_type: str, record: dict[str, Any]) -> BounceReport:
    diagnostic = trim_diagnostic(record.get("Details"))
    bounce_type = optional_text(record.get("Type"))
    if record_type == "Bounce":
        kind, reason = _BOUNCE_TYPES.get(bounce_type or "", ("soft", "undetermined"))
        occurred = iso_to_datetime(record.get("BouncedAt"))
    elif record_type == "SpamComplaint":
        kind, reason = "complaint", "abuse"
        occurred = iso_to_datetime(record.get("BouncedAt"))
    else:
        kind, reason = "ignored", "not_a_bounce"
        diagnostic = f"Postmark {record_type} record"
        occurred = _record_time(record)
    status = enhanced_status(diagnostic) if kind in ("hard", "soft") else None
    classified = classify_failure(kind, reason, status, diagnostic)
    metadata = object_at(record, "Metadata")
    return BounceReport(
        kind=classified.kind,
        reason=classified.reason,
        recipient=recipient_address(record.get("Email") or record.get("Recipient")),
        status=status,
        diagnostic=diagnostic,
        delivery_ref=optional_text(metadata.get(DELIVERY_REF_KEY)),
        source=SOURCE,
        event_id=optional_text(record.get("ID")),
        occurred_at=occurred,
        sender_warning=classified.sender_warning or (record_type == "Bounce" and bounce_type in _SENDER_WARNING_TYPES),
    )


def _record_time(record: Mapping[str, Any]) -> datetime | None:
    for name in ("DeliveredAt", "ReceivedAt", "ChangedAt"):
        found = iso_to_datetime(record.get(name))
        if found:
            return found
    return None
