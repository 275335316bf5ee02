"""Amazon SES bounce, complaint and delivery events, delivered by Amazon SNS.

Shapes follow AWS's "Amazon SNS notification contents for Amazon SES" (notificationType) and
"event publishing" (eventType, with `mail.tags`). One report per bounced or complained recipient;
the Delivery and every other event type are "ignored". fanhub's delivery token comes from the
message tag `fanhub_delivery` (event publishing) or the original headers SES includes when asked.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from fanhub.deliverability.providers.base import (
    DELIVERY_REF_KEY,
    ProviderResult,
    ProviderSettings,
    WebhookRejected,
    bare_message_id,
    delivery_ref_from_headers,
    enhanced_status,
    iso_to_datetime,
    object_at,
    optional_text,
    parse_json,
    recipient_address,
    require_object,
    trim_diagnostic,
)
from fanhub.deliverability.providers.classify import classify_failure
from fanhub.deliverability.providers.sns import DEFAULT_CERTIFICATES, SigningCertificates, verify_sns_message
from fanhub.deliverability.reports import BounceKind, BounceReport

SOURCE = "ses"
_BOUNCE_KINDS: dict[str, BounceKind] = {"Permanent": "hard", "Transient": "soft", "Undetermined": "soft"}
# bounceSubType -> reason (AWS "Bounce types"); General takes its reason from the bounce type.
_BOUNCE_REASONS = {
    "NoEmail": "user_unknown",
    "Suppressed": "suppressed",
    "OnAccountSuppressionList": "suppressed",
    "MailboxFull": "mailbox_full",
    "MessageTooLarge": "message_too_large",
    "ContentRejected": "content_rejected",
    "AttachmentRejected": "content_rejected",
}
_GENERAL_REASONS = {"Permanent": "permanent_failure", "Transient": "transient_failure", "Undetermined": "undetermined"}


def verify_and_parse(
    headers: Mapping[str, str],
    body: bytes,
    settings: ProviderSettings,
    now: datetime,
    *,
    certificates: SigningCertificates = DEFAULT_CERTIFICATES,
) -> ProviderResult:
    sns = verify_sns_message(headers, body, settings, now, certificates)
    replay_key = f"{SOURCE}:{sns.message_id}"
    if sns.type == "SubscriptionConfirmation":
        if not sns.subscribe_url:
            raise WebhookRejected(400, "SubscribeURL is missing or not a string")
        return ProviderResult(reports=[], replay_key=replay_key, subscribe_url=sns.subscribe_url)
    if sns.type == "UnsubscribeConfirmation":
        return ProviderResult(reports=[], replay_key=replay_key)
    event = require_object(parse_json(sns.message.encode("utf-8")), "Message")
    reports = list(_reports(event, sns.message_id, sns.timestamp))
    return ProviderResult(reports=reports, replay_key=replay_key)


def _reports(event: dict[str, Any], sns_message_id: str, sent_at: datetime) -> Iterator[BounceReport]:
    event_type = event.get("notificationType") or event.get("eventType")
    if not isinstance(event_type, str):
        raise WebhookRejected(400, "Message has neither notificationType nor eventType")
    mail = object_at(event, "mail")
    common: dict[str, Any] = {
        "message_id": _original_message_id(mail),
        "delivery_ref": _delivery_ref(mail),
        "source": SOURCE,
    }
    if event_type == "Bounce":
        yield from _bounce_reports(require_object(event.get("bounce"), "Message.bounce"), sns_message_id, common)
    elif event_type == "Complaint":
        complaint = require_object(event.get("complaint"), "Message.complaint")
        yield from _complaint_reports(complaint, sns_message_id, common)
    else:
        details = event.get(event_type[:1].lower() + event_type[1:])
        occurred = iso_to_datetime(details.get("timestamp")) if isinstance(details, dict) else None
        for index, recipient in enumerate(_recipients_of(event_type, details, mail)):
            yield BounceReport(
                kind="ignored",
                reason="not_a_bounce",
                recipient=recipient,
                diagnostic=f"SES {event_type} event",
                event_id=_event_id(sns_message_id, index),
                occurred_at=occurred or sent_at,
                **common,
            )


def _bounce_reports(bounce: dict[str, Any], sns_message_id: str, common: dict[str, Any]) -> Iterator[BounceReport]:
    bounce_type = optional_text(bounce.get("bounceType")) or "Undetermined"
    sub_type = optional_text(bounce.get("bounceSubType")) or "General"
    kind = _BOUNCE_KINDS.get(bounce_type, "soft")
    reason = _BOUNCE_REASONS.get(sub_type) or _GENERAL_REASONS.get(bounce_type, "undetermined")
    occurred = iso_to_datetime(bounce.get("timestamp"))
    recipients = bounce.get("bouncedRecipients")
    if not isinstance(recipients, list) or not recipients:
        raise WebhookRejected(400, "Message.bounce.bouncedRecipients is missing or empty")
    for index, entry in enumerate(recipients):
        entry = require_object(entry, f"Message.bounce.bouncedRecipients[{index}]")
        recipient = recipient_address(entry.get("emailAddress"))
        diagnostic = trim_diagnostic(entry.get("diagnosticCode"))
        status = enhanced_status(entry.get("status"), diagnostic)
        classified = classify_failure(kind, reason, status, diagnostic)
        yield BounceReport(
            kind=classified.kind,
            reason=classified.reason,
            recipient=recipient,
            status=status,
            diagnostic=diagnostic,
            event_id=_event_id(sns_message_id, index),
            occurred_at=occurred,
            sender_warning=classified.sender_warning,
            **common,
        )


def _complaint_reports(
    complaint: dict[str, Any], sns_message_id: str, common: dict[str, Any]
) -> Iterator[BounceReport]:
    feedback_type = optional_text(complaint.get("complaintFeedbackType"))
    # An ARF "not-spam" report says the opposite of a complaint (RFC 5965 feedback types).
    kind: BounceKind = "ignored" if feedback_type == "not-spam" else "complaint"
    occurred = iso_to_datetime(complaint.get("timestamp")) or iso_to_datetime(complaint.get("arrivalDate"))
    recipients = complaint.get("complainedRecipients")
    if not isinstance(recipients, list) or not recipients:
        raise WebhookRejected(400, "Message.complaint.complainedRecipients is missing or empty")
    for index, entry in enumerate(recipients):
        entry = require_object(entry, f"Message.complaint.complainedRecipients[{index}]")
        recipient = recipient_address(entry.get("emailAddress"))
        yield BounceReport(
            kind=kind,
            reason=feedback_type or "abuse",
            recipient=recipient,
            diagnostic=trim_diagnostic(complaint.get("userAgent")),
            event_id=_event_id(sns_message_id, index),
            occurred_at=occurred,
            **common,
        )


def _recipients_of(event_type: str, details: Any, mail: Mapping[str, Any]) -> list[str | None]:
    """Whom a non-failure event is about: Delivery names them; other events, the mail's destination."""
    candidates = details.get("recipients") if event_type == "Delivery" and isinstance(details, dict) else None
    if not isinstance(candidates, list):
        candidates = mail.get("destination")
    recipients = [recipient_address(value) for value in candidates] if isinstance(candidates, list) else []
    return [value for value in recipients if value] or [None]


def _event_id(sns_message_id: str, index: int) -> str:
    # One SNS message can name several recipients: each report gets its own id (SNS keeps the
    # MessageId and the Message, so the order, when it delivers the same message again).
    return f"{sns_message_id}/{index}"


def _original_message_id(mail: Mapping[str, Any]) -> str | None:
    """The Message-ID fanhub set (SES's own `mail.messageId` is a different, SES-made id)."""
    common_headers = mail.get("commonHeaders")
    if isinstance(common_headers, dict):
        found = bare_message_id(common_headers.get("messageId"))
        if found:
            return found
    for name, value in _header_pairs(mail):
        if name.lower() == "message-id":
            return bare_message_id(value)
    return None


def _delivery_ref(mail: Mapping[str, Any]) -> str | None:
    tags = mail.get("tags")
    if isinstance(tags, dict):
        values = tags.get(DELIVERY_REF_KEY)
        if isinstance(values, list) and values:
            token = optional_text(values[0])
            if token:
                return token
    return delivery_ref_from_headers(_header_pairs(mail))


def _header_pairs(mail: Mapping[str, Any]) -> list[tuple[str, str]]:
    headers = mail.get("headers")
    if not isinstance(headers, list):
        return []
    pairs = []
    for item in headers:
        if isinstance(item, dict) and isinstance(item.get("name"), str) and isinstance(item.get("value"), str):
            pairs.append((item["name"], item["value"]))
    return pairs
