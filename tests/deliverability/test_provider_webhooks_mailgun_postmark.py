"""Mailgun (HMAC-signed) and Postmark (Basic credentials) webhooks, from their documented payloads."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fanhub.deliverability.providers import ProviderSettings, mailgun, postmark
from tests.deliverability.provider_signing import (
    basic_authorization,
    expect_rejection,
    mailgun_signature,
)

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
MAILGUN_KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"
POSTMARK_CREDENTIALS = "postmark-hooks:s3cret-Pa55"


# --- Mailgun -----------------------------------------------------------------------------------

MAILGUN_SETTINGS = ProviderSettings(mailgun_signing_key=MAILGUN_KEY)


def mailgun_body(event_data: dict[str, Any], signed_at: datetime = NOW, key: str = MAILGUN_KEY) -> bytes:
    signature = mailgun_signature(
        key, str(int(signed_at.timestamp())), "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0"
    )
    return json.dumps({"signature": signature, "event-data": event_data}).encode()


def mailgun_parse(body: bytes, settings: ProviderSettings = MAILGUN_SETTINGS) -> Any:
    return mailgun.verify_and_parse({"Content-Type": "application/json"}, body, settings, NOW)


# Mailgun "Webhook Payloads": a permanent failure (with fanhub's X-Mailgun-Variables as user-variables).
MAILGUN_PERMANENT_FAILURE = {
    "id": "G9Bn5sl1TC6nu79C8C0bwg",
    "timestamp": NOW.timestamp() - 120,
    "log-level": "error",
    "event": "failed",
    "severity": "permanent",
    "reason": "bounce",
    "delivery-status": {
        "attempt-no": 1,
        "message": "550 5.1.1 The email account that you tried to reach does not exist.",
        "code": 550,
        "description": "",
        "session-seconds": 0.4331989288330078,
    },
    "recipient": "alice@example.com",
    "recipient-domain": "example.com",
    "message": {
        "headers": {
            "to": "Alice <alice@example.com>",
            "message-id": "20130503192659.13651.20287@mail.venue.example",
            "from": "Bob <bob@mail.venue.example>",
            "subject": "Test permanent_fail webhook",
        },
        "attachments": [],
        "size": 111,
    },
    "user-variables": {"fanhub_delivery": "dlv-mg-1"},
}


def test_mailgun_permanent_failure_gives_a_hard_report() -> None:
    result = mailgun_parse(mailgun_body(MAILGUN_PERMANENT_FAILURE))
    [report] = result.reports
    assert (report.kind, report.reason, report.recipient, report.status) == (
        "hard",
        "user_unknown",
        "alice@example.com",
        "5.1.1",
    )
    assert (report.event_id, report.delivery_ref) == ("G9Bn5sl1TC6nu79C8C0bwg", "dlv-mg-1")
    assert report.message_id == "20130503192659.13651.20287@mail.venue.example"
    assert report.diagnostic == "550 5.1.1 The email account that you tried to reach does not exist."
    assert result.replay_key == "mailgun:a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0"


def test_mailgun_event_kinds() -> None:
    temporary = MAILGUN_PERMANENT_FAILURE | {
        "severity": "temporary",
        "reason": "generic",
        "delivery-status": {"code": 452, "message": "452 4.2.2 Mailbox full", "retry-seconds": 600},
    }
    mailbox_full = MAILGUN_PERMANENT_FAILURE | {"delivery-status": {"code": 552, "message": "552 5.2.2 Mailbox full"}}
    gave_up = MAILGUN_PERMANENT_FAILURE | {"reason": "old", "delivery-status": {"code": 421, "message": "Too old"}}
    suppressed = MAILGUN_PERMANENT_FAILURE | {
        "reason": "suppress-bounce",
        "delivery-status": {"code": 605, "description": "Not delivering to previously bounced address", "message": ""},
    }
    complained = {"id": "c1", "event": "complained", "recipient": "alice@example.com", "timestamp": NOW.timestamp()}
    delivered = {"id": "d1", "event": "delivered", "recipient": "alice@example.com", "timestamp": NOW.timestamp()}
    cases = [
        (temporary, "ignored", "deferred"),  # Mailgun retries it: only the final failure counts
        (mailbox_full, "soft", "mailbox_full"),
        (gave_up, "soft", "expired"),
        (suppressed, "hard", "suppressed"),
        (complained, "complaint", "abuse"),
        (delivered, "ignored", "not_a_bounce"),
    ]
    for event, kind, reason in cases:
        [report] = mailgun_parse(mailgun_body(event)).reports
        assert (report.kind, report.reason) == (kind, reason), event


def test_mailgun_forgeries_are_refused() -> None:
    good = json.loads(mailgun_body(MAILGUN_PERMANENT_FAILURE))
    cases = [
        (mailgun_body(MAILGUN_PERMANENT_FAILURE, key="key-wrong"), 401, "signature does not verify"),
        (
            json.dumps(good | {"signature": good["signature"] | {"token": "b" * 50}}).encode(),
            401,
            "signature does not verify",
        ),
        (json.dumps({"event-data": MAILGUN_PERMANENT_FAILURE}).encode(), 401, "signature missing"),
        (
            json.dumps(good | {"signature": {"timestamp": "1", "token": "t"}}).encode(),
            400,
            "signature.signature is missing or not a string",
        ),
        (json.dumps(good | {"event-data": None}).encode(), 400, "event-data must be a JSON object"),
        (b"token=abc&timestamp=1", 400, "body is not JSON"),
        (
            mailgun_body(MAILGUN_PERMANENT_FAILURE, signed_at=NOW - timedelta(hours=25)),
            403,
            "timestamp older than 24 hours",
        ),
        (
            mailgun_body(MAILGUN_PERMANENT_FAILURE, signed_at=NOW + timedelta(minutes=6)),
            403,
            "timestamp more than 5 minutes in the future",
        ),
    ]
    for body, status, message in cases:
        error = expect_rejection(mailgun_parse, body)
        assert error.status_code == status
        assert error.message.startswith(message)  # "body is not JSON: <the parser's words>"

    error = expect_rejection(lambda: mailgun_parse(mailgun_body(MAILGUN_PERMANENT_FAILURE), ProviderSettings()))
    assert (error.status_code, error.message) == (
        503,
        "Mailgun webhook not configured: set FANHUB_MAILGUN_WEBHOOK_SIGNING_KEY",
    )


# --- Postmark ----------------------------------------------------------------------------------

POSTMARK_SETTINGS = ProviderSettings(postmark_credentials=POSTMARK_CREDENTIALS)
POSTMARK_HEADERS = {"Authorization": basic_authorization(POSTMARK_CREDENTIALS), "Content-Type": "application/json"}

# Postmark "Bounce webhook" example, with fanhub's X-PM-Metadata-fanhub_delivery in Metadata.
POSTMARK_HARD_BOUNCE = {
    "RecordType": "Bounce",
    "MessageStream": "outbound",
    "ID": 4323372036854775807,
    "Type": "HardBounce",
    "TypeCode": 1,
    "Name": "Hard bounce",
    "Tag": "Test",
    "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
    "Metadata": {"a_key": "a_value", "fanhub_delivery": "dlv-pm-1"},
    "ServerID": 23,
    "Description": "The server was unable to deliver your message (ex: unknown user, mailbox not found).",
    "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
    "Email": "John@Example.com",
    "From": "sender@example.com",
    "BouncedAt": "2026-03-02T11:33:54.9070259Z",
    "DumpAvailable": True,
    "Inactive": True,
    "CanActivate": True,
    "Subject": "Test subject",
    "Content": "Test content",
}


def postmark_parse(record: dict[str, Any], headers: dict[str, str] = POSTMARK_HEADERS) -> Any:
    return postmark.verify_and_parse(headers, json.dumps(record).encode(), POSTMARK_SETTINGS, NOW)


def test_postmark_hard_bounce() -> None:
    result = postmark_parse(POSTMARK_HARD_BOUNCE)
    [report] = result.reports
    assert (report.kind, report.reason, report.recipient, report.status) == (
        "hard",
        "user_unknown",
        "john@example.com",
        "5.1.1",
    )
    assert (report.event_id, report.delivery_ref, report.message_id) == ("4323372036854775807", "dlv-pm-1", None)
    assert report.occurred_at is not None and report.occurred_at.replace(microsecond=0) == datetime(
        2026, 3, 2, 11, 33, 54, tzinfo=UTC
    )
    assert result.replay_key == "postmark:Bounce:4323372036854775807"


@pytest.mark.parametrize(
    ("record_type", "bounce_type", "details", "kind", "reason", "warning"),
    [
        ("Bounce", "SoftBounce", "smtp;452 4.2.2 mailbox full", "soft", "mailbox_full", False),
        ("Bounce", "Transient", "Message delayed", "soft", "transient_failure", False),
        ("Bounce", "DnsError", "DNS lookup failed", "soft", "dns_error", False),
        ("Bounce", "BadEmailAddress", "Invalid address", "hard", "bad_address", False),
        ("Bounce", "AutoResponder", "I am on holiday", "ignored", "auto_reply", False),
        ("Bounce", "DMARCPolicy", "smtp;550 5.7.26 unauthenticated", "soft", "auth_failure", True),
        ("Bounce", "HardBounce", "smtp;550 5.7.1 message blocked by policy", "soft", "policy", False),
        ("Bounce", "SomethingNew", "?", "soft", "undetermined", False),
        ("SpamComplaint", "SpamComplaint", "Test spam complaint details", "complaint", "abuse", False),
    ],
)
def test_postmark_bounce_types(
    record_type: str, bounce_type: str, details: str, kind: str, reason: str, warning: bool
) -> None:
    record = POSTMARK_HARD_BOUNCE | {"RecordType": record_type, "Type": bounce_type, "Details": details}
    [report] = postmark_parse(record).reports
    assert (report.kind, report.reason, report.sender_warning) == (kind, reason, warning)


def test_postmark_delivery_is_ignored_and_keyed_by_its_body() -> None:
    # Postmark "Delivery webhook": no ID, so the replay key is the record's hash.
    delivery = {
        "RecordType": "Delivery",
        "ServerID": 23,
        "MessageStream": "outbound",
        "MessageID": "00000000-0000-0000-0000-000000000000",
        "Recipient": "john@example.com",
        "Tag": "welcome-email",
        "DeliveredAt": "2026-03-02T11:00:00Z",
        "Details": "Test delivery webhook details",
        "Metadata": {"fanhub_delivery": "dlv-pm-2"},
    }
    result = postmark_parse(delivery)
    [report] = result.reports
    assert (report.kind, report.recipient, report.delivery_ref) == ("ignored", "john@example.com", "dlv-pm-2")
    assert (
        result.replay_key.startswith("postmark:Delivery:") and len(result.replay_key) == len("postmark:Delivery:") + 64
    )


def test_postmark_credentials_are_checked() -> None:
    cases = [
        ({}, 401, "Basic credentials missing (Authorization header)"),
        ({"Authorization": basic_authorization("postmark-hooks:wrong")}, 401, "Basic credentials do not match"),
        ({"Authorization": basic_authorization("someone:s3cret-Pa55")}, 401, "Basic credentials do not match"),
        ({"Authorization": "Bearer " + POSTMARK_CREDENTIALS}, 401, "Authorization is not Basic credentials"),
        ({"Authorization": "Basic %%%"}, 401, "Basic credentials are not base64"),
    ]
    for headers, status, message in cases:
        error = expect_rejection(postmark_parse, POSTMARK_HARD_BOUNCE, headers)
        assert (error.status_code, error.message) == (status, message)
    # HTTP header names are case-insensitive.
    assert postmark_parse(POSTMARK_HARD_BOUNCE, {"authorization": POSTMARK_HEADERS["Authorization"]}).reports


def test_postmark_without_credentials_refuses_everything() -> None:
    body = json.dumps(POSTMARK_HARD_BOUNCE).encode()
    for configured in (None, "no-colon"):
        settings = ProviderSettings(postmark_credentials=configured)
        error = expect_rejection(postmark.verify_and_parse, POSTMARK_HEADERS, body, settings, NOW)
        assert error.status_code == 503
        assert (
            error.message == "Postmark webhook not configured: set FANHUB_POSTMARK_WEBHOOK_CREDENTIALS (user:password)"
        )


def test_postmark_malformed_record_names_the_field() -> None:
    error = expect_rejection(lambda: postmark_parse({"ID": 1}))
    assert (error.status_code, error.message) == (400, "RecordType is missing or not a string")
