"""SendGrid's Signed Event Webhook: documented event batches signed with a local P-256 key."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fanhub.deliverability.providers import ProviderSettings, sendgrid
from tests.deliverability.provider_signing import (
    SendGridKeys,
    SimpleEvent,
    expect_rejection,
    sendgrid_request,
)

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


# --- SendGrid ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sendgrid_keys() -> SendGridKeys:
    return SendGridKeys.generate()


@pytest.fixture
def sendgrid_settings(sendgrid_keys: SendGridKeys) -> ProviderSettings:
    return ProviderSettings(sendgrid_public_key=sendgrid_keys.public_key_base64)


STAMP = int(NOW.timestamp())


def sendgrid_batch() -> list[dict[str, Any]]:
    """Twilio SendGrid "Event Webhook Reference" examples, with fanhub's unique arg flattened in."""
    common = {"timestamp": STAMP - 60, "smtp-id": "<d-1.a@mail.venue.example>", "category": "cat facts"}
    return [
        common | {"email": "example@test.com", "event": "processed", "sg_event_id": "e-processed"},
        common
        | {
            "email": "example@test.com",
            "event": "deferred",
            "sg_event_id": "e-deferred",
            "response": "400 try again later",
            "attempt": "5",
        },
        common
        | {"email": "example@test.com", "event": "delivered", "sg_event_id": "e-delivered", "response": "250 OK"},
        common | {"email": "example@test.com", "event": "open", "sg_event_id": "e-open", "useragent": "Mozilla/4.0"},
        common | {"email": "example@test.com", "event": "click", "sg_event_id": "e-click", "url": "http://x.example"},
        common
        | {
            "email": "Bounce@Test.com",
            "event": "bounce",
            "sg_event_id": "e-bounce",
            "fanhub_delivery": "dlv-1",
            "reason": "500 unknown recipient",
            "status": "5.0.0",
            "type": "bounce",
        },
        common
        | {
            "email": "blocked@test.com",
            "event": "bounce",
            "sg_event_id": "e-blocked",
            "reason": "550 5.7.1 rejected due to poor reputation",
            "status": "5.7.1",
            "type": "blocked",
        },
        common
        | {
            "email": "dropped@test.com",
            "event": "dropped",
            "sg_event_id": "e-dropped",
            "reason": "Bounced Address",
            "status": "5.0.0",
        },
        common | {"email": "spam@test.com", "event": "spamreport", "sg_event_id": "e-spam", "fanhub_delivery": "dlv-2"},
        common | {"email": "example@test.com", "event": "unsubscribe", "sg_event_id": "e-unsub"},
    ]


def test_sendgrid_documented_batch_gives_one_report_per_event(
    sendgrid_keys: SendGridKeys, sendgrid_settings: ProviderSettings
) -> None:
    request = sendgrid_keys.signed(json.dumps(sendgrid_batch()).encode(), STAMP)
    result = sendgrid.verify_and_parse(request.headers, request.body, sendgrid_settings, NOW)

    summary = [(r.event_id, r.kind, r.reason, r.recipient) for r in result.reports]
    assert summary == [
        ("e-processed", "ignored", "not_a_bounce", "example@test.com"),
        ("e-deferred", "ignored", "deferred", "example@test.com"),
        ("e-delivered", "ignored", "not_a_bounce", "example@test.com"),
        ("e-open", "ignored", "not_a_bounce", "example@test.com"),
        ("e-click", "ignored", "not_a_bounce", "example@test.com"),
        ("e-bounce", "hard", "user_unknown", "bounce@test.com"),  # the words decide over 5.0.0
        ("e-blocked", "soft", "reputation", "blocked@test.com"),
        ("e-dropped", "ignored", "dropped_bounced_address", "dropped@test.com"),
        ("e-spam", "complaint", "abuse", "spam@test.com"),
        ("e-unsub", "ignored", "not_a_bounce", "example@test.com"),
    ]
    bounce, blocked = result.reports[5], result.reports[6]
    assert (bounce.status, bounce.diagnostic, bounce.delivery_ref) == ("5.0.0", "500 unknown recipient", "dlv-1")
    assert bounce.message_id == "d-1.a@mail.venue.example"
    assert bounce.occurred_at == datetime.fromtimestamp(STAMP - 60, UTC)
    assert (blocked.status, blocked.sender_warning) == ("5.7.1", True)
    assert result.reports[7].diagnostic == "Bounced Address"
    assert result.reports[8].delivery_ref == "dlv-2"
    assert result.replay_key.startswith("sendgrid:") and len(result.replay_key) == len("sendgrid:") + 64


def test_sendgrid_bounce_classification_decides_hard_or_soft(
    sendgrid_keys: SendGridKeys, sendgrid_settings: ProviderSettings
) -> None:
    # SendGrid "Bounce and Block Classifications": only Invalid Address is a dead address.
    events = [
        {
            "email": "a@x.example",
            "event": "bounce",
            "type": "blocked",
            "bounce_classification": "Invalid Address",
            "reason": "550 no such user",
            "timestamp": STAMP,
        },
        {
            "email": "b@x.example",
            "event": "bounce",
            "type": "bounce",
            "bounce_classification": "Technical Failure",
            "reason": "554 5.3.0 system error",
            "status": "5.3.0",
            "timestamp": STAMP,
        },
        {
            "email": "c@x.example",
            "event": "bounce",
            "type": "bounce",
            "bounce_classification": "Reputation",
            "reason": "554 policy",
            "timestamp": STAMP,
        },
        # Discourse's recorded payload: an unresolvable domain, no status at all.
        {
            "email": "noemail@this.does.not.exist.tld",
            "event": "bounce",
            "type": "blocked",
            "bounce_classification": "Unclassified",
            "reason": "unable to get mx info",
            "timestamp": STAMP,
        },
    ]
    request = sendgrid_keys.signed(json.dumps(events).encode(), STAMP)
    reports = sendgrid.verify_and_parse(request.headers, request.body, sendgrid_settings, NOW).reports
    assert [(r.kind, r.reason, r.sender_warning) for r in reports] == [
        ("hard", "user_unknown", False),
        ("soft", "technical_failure", False),
        ("soft", "reputation", True),
        ("soft", "blocked", False),
    ]


def test_sendgrid_accepts_a_pem_key_too(sendgrid_keys: SendGridKeys) -> None:
    request = sendgrid_request([SimpleEvent("hard", "a@example.com", delivery_ref="t1")], sendgrid_keys, NOW)
    settings = ProviderSettings(sendgrid_public_key=sendgrid_keys.public_key_pem)
    [report] = sendgrid.verify_and_parse(request.headers, request.body, settings, NOW).reports
    assert (report.kind, report.delivery_ref) == ("hard", "t1")


def test_sendgrid_forgeries_are_refused(sendgrid_keys: SendGridKeys, sendgrid_settings: ProviderSettings) -> None:
    good = sendgrid_keys.signed(json.dumps(sendgrid_batch()).encode(), STAMP)

    def parse(headers: dict[str, str], body: bytes, settings: ProviderSettings = sendgrid_settings) -> Any:
        return sendgrid.verify_and_parse(headers, body, settings, NOW)

    cases = [
        (good.headers, good.body.replace(b"dlv-1", b"dlv-9"), 401, "signature does not verify"),
        (
            good.headers | {"X-Twilio-Email-Event-Webhook-Timestamp": str(STAMP + 1)},
            good.body,
            401,
            "signature does not verify",
        ),
        (SendGridKeys.generate().signed(good.body, STAMP).headers, good.body, 401, "signature does not verify"),
        (
            {"X-Twilio-Email-Event-Webhook-Timestamp": str(STAMP)},
            good.body,
            401,
            "X-Twilio-Email-Event-Webhook-Signature header missing",
        ),
        (
            {"X-Twilio-Email-Event-Webhook-Signature": good.headers["X-Twilio-Email-Event-Webhook-Signature"]},
            good.body,
            401,
            "X-Twilio-Email-Event-Webhook-Timestamp header missing",
        ),
    ]
    for headers, body, status, message in cases:
        error = expect_rejection(parse, headers, body)
        assert (error.status_code, error.message) == (status, message)

    # Header names are case-insensitive, as HTTP has them.
    lowered = {name.lower(): value for name, value in good.headers.items()}
    assert len(parse(lowered, good.body).reports) == 10


@pytest.mark.parametrize(
    ("signed_at", "message"),
    [
        (NOW - timedelta(hours=24, seconds=1), "timestamp older than 24 hours"),
        (NOW + timedelta(minutes=5, seconds=1), "timestamp more than 5 minutes in the future"),
    ],
)
def test_stale_and_future_sendgrid_timestamps_are_refused(
    sendgrid_keys: SendGridKeys, sendgrid_settings: ProviderSettings, signed_at: datetime, message: str
) -> None:
    request = sendgrid_request([SimpleEvent("hard", "a@example.com")], sendgrid_keys, signed_at)
    error = expect_rejection(lambda: sendgrid.verify_and_parse(request.headers, request.body, sendgrid_settings, NOW))
    assert (error.status_code, error.message) == (403, message)


def test_sendgrid_without_a_usable_key_refuses_everything(sendgrid_keys: SendGridKeys) -> None:
    request = sendgrid_request([SimpleEvent("hard", "a@example.com")], sendgrid_keys, NOW)
    for settings, message in (
        (ProviderSettings(), "SendGrid webhook not configured: set FANHUB_SENDGRID_WEBHOOK_PUBLIC_KEY"),
        (
            ProviderSettings(sendgrid_public_key="not a key"),
            "FANHUB_SENDGRID_WEBHOOK_PUBLIC_KEY is not a base64 DER or PEM public key",
        ),
    ):
        error = expect_rejection(sendgrid.verify_and_parse, request.headers, request.body, settings, NOW)
        assert (error.status_code, error.message) == (503, message)


def test_a_signed_sendgrid_body_that_is_not_an_array_is_malformed(
    sendgrid_keys: SendGridKeys, sendgrid_settings: ProviderSettings
) -> None:
    for body, message in (
        (b'{"event": "bounce"}', "body must be a JSON array of events"),
        (b"[{}]", "event [0].event"),
    ):
        request = sendgrid_keys.signed(body, STAMP)
        error = expect_rejection(sendgrid.verify_and_parse, request.headers, request.body, sendgrid_settings, NOW)
        assert error.status_code == 400
        assert error.message.startswith(message)
