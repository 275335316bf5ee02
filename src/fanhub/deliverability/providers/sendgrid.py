"""SendGrid's Signed Event Webhook: a JSON array of events, signed with SendGrid's ECDSA key.

Twilio SendGrid, "Getting Started with the Event Webhook Security Features": the signature is a
base64 DER ECDSA (P-256, SHA-256) signature of the `X-Twilio-Email-Event-Webhook-Timestamp` value
followed by the raw body, in `X-Twilio-Email-Event-Webhook-Signature`; the verification key is the
base64 DER public key SendGrid shows. Event shapes: "Event Webhook Reference". `unique_args`
(legacy `X-SMTPAPI`) and `custom_args` are flattened into each event, so `fanhub_delivery` is a
top-level key there.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from fanhub.deliverability.providers.base import (
    DELIVERY_REF_KEY,
    ProviderResult,
    ProviderSettings,
    WebhookRejected,
    bare_message_id,
    check_signed_at,
    enhanced_status,
    epoch_to_datetime,
    header,
    not_configured,
    optional_text,
    parse_json,
    recipient_address,
    require_object,
    trim_diagnostic,
)
from fanhub.deliverability.providers.classify import classify_failure
from fanhub.deliverability.reports import BounceKind, BounceReport

SOURCE = "sendgrid"
SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
_SETTING = "FANHUB_SENDGRID_WEBHOOK_PUBLIC_KEY"
# bounce_classification (SendGrid "Bounce and Block Classifications"): only an invalid address is
# hard; the others are about content, reputation, volume or a passing failure.
_CLASSIFICATIONS: dict[str, tuple[BounceKind, str]] = {
    "Invalid Address": ("hard", "user_unknown"),
    "Mailbox Unavailable": ("soft", "mailbox_unavailable"),
    "Technical Failure": ("soft", "technical_failure"),
    "Content": ("soft", "content_rejected"),
    "Reputation": ("soft", "reputation"),
    "Frequency or Volume Too High": ("soft", "rate_limited"),
}


def verify_and_parse(
    headers: Mapping[str, str], body: bytes, settings: ProviderSettings, now: datetime
) -> ProviderResult:
    if not settings.sendgrid_public_key:
        raise not_configured("SendGrid", _SETTING)
    key = _public_key(settings.sendgrid_public_key)
    signature_text = header(headers, SIGNATURE_HEADER)
    timestamp = header(headers, TIMESTAMP_HEADER)
    if not signature_text:
        raise WebhookRejected(401, f"{SIGNATURE_HEADER} header missing")
    if not timestamp:
        raise WebhookRejected(401, f"{TIMESTAMP_HEADER} header missing")
    check_signed_at(epoch_to_datetime(timestamp, TIMESTAMP_HEADER), now)
    try:
        signature = base64.b64decode(signature_text, validate=True)
    except binascii.Error:
        raise WebhookRejected(401, f"{SIGNATURE_HEADER} is not base64") from None
    try:
        key.verify(signature, timestamp.encode("utf-8") + body, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise WebhookRejected(401, "signature does not verify") from None
    events = parse_json(body)
    if not isinstance(events, list):
        raise WebhookRejected(400, "body must be a JSON array of events")
    reports = [_report(require_object(event, f"event [{index}]"), index) for index, event in enumerate(events)]
    # ECDSA signatures are randomised, so the signature names this one request.
    return ProviderResult(reports=reports, replay_key=f"{SOURCE}:{hashlib.sha256(signature).hexdigest()}")


@lru_cache(maxsize=4)
def _public_key(configured: str) -> ec.EllipticCurvePublicKey:
    """The key as SendGrid shows it (base64 of the DER SubjectPublicKeyInfo), or PEM."""
    text = configured.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode("ascii"))
        else:
            key = serialization.load_der_public_key(base64.b64decode(text, validate=True))
    except (ValueError, binascii.Error, UnicodeEncodeError):
        raise WebhookRejected(503, f"{_SETTING} is not a base64 DER or PEM public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise WebhookRejected(503, f"{_SETTING} is not an elliptic curve (ECDSA) key")
    return key


def _report(event: dict[str, Any], index: int) -> BounceReport:
    name = optional_text(event.get("event"))
    if name is None:
        raise WebhookRejected(400, f"event [{index}].event is missing or not a string")
    kind, reason, diagnostic = _classify(name, event)
    status = enhanced_status(event.get("status"), diagnostic) if kind in ("hard", "soft") else None
    classified = classify_failure(kind, reason, status, diagnostic)
    return BounceReport(
        kind=classified.kind,
        reason=classified.reason,
        recipient=recipient_address(event.get("email")),
        status=status,
        diagnostic=diagnostic,
        message_id=bare_message_id(event.get("smtp-id")),
        delivery_ref=_delivery_ref(event),
        source=SOURCE,
        event_id=optional_text(event.get("sg_event_id")),
        occurred_at=epoch_to_datetime(event["timestamp"], f"event [{index}].timestamp")
        if "timestamp" in event
        else None,
        sender_warning=classified.sender_warning or event.get("bounce_classification") == "Reputation",
    )


def _classify(name: str, event: Mapping[str, Any]) -> tuple[BounceKind, str, str | None]:
    """kind, reason and the remote server's words for one event."""
    if name == "bounce":
        diagnostic = trim_diagnostic(event.get("reason"))
        classification = event.get("bounce_classification")
        if isinstance(classification, str) and classification in _CLASSIFICATIONS:
            kind, reason = _CLASSIFICATIONS[classification]
            return kind, reason, diagnostic
        if event.get("type") == "blocked":
            return "soft", "blocked", diagnostic
        return "hard", "bounce", diagnostic
    if name == "spamreport":
        return "complaint", "abuse", None
    if name == "dropped":
        # SendGrid did not send: its own suppression lists or a bad message. Nothing new about
        # the address, but the reason ("Bounced Address", ...) says why.
        diagnostic = trim_diagnostic(event.get("reason"))
        return "ignored", ("dropped_" + _label(diagnostic or "unknown"))[:60], diagnostic
    if name == "deferred":
        # A 4xx that SendGrid keeps retrying; only its final failure counts (as a bounce event).
        return "ignored", "deferred", trim_diagnostic(event.get("response"))
    return "ignored", "not_a_bounce", f"SendGrid {name} event"


def _label(text: str) -> str:
    return "_".join("".join(ch if ch.isalnum() else " " for ch in text.lower()).split())


def _delivery_ref(event: Mapping[str, Any]) -> str | None:
    token = optional_text(event.get(DELIVERY_REF_KEY))
    if token:
        return token
    for nested in ("unique_args", "custom_args"):
        values = event.get(nested)
        if isinstance(values, dict):
            token = optional_text(values.get(DELIVERY_REF_KEY))
            if token:
                return token
    return None
