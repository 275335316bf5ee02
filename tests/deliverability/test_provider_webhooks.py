"""Provider event webhooks: each provider's documented payloads, signed with locally made keys.

Accepted requests give the right reports (kind, recipient, status, delivery_ref, event_id); forged,
unsigned, stale and misaddressed ones raise WebhookRejected with a 4xx naming what is wrong.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fanhub.deliverability.providers import PROVIDERS, ProviderSettings, WebhookRejected, mailgun, postmark, sendgrid
from fanhub.deliverability.providers import ses as ses_provider
from fanhub.deliverability.providers.classify import classify_failure
from fanhub.deliverability.providers.sns import SigningCertificates, fetch_with_httpx
from tests.deliverability.provider_signing import (
    LOCAL_SNS_CERT_URL_PATTERN,
    TOPIC_ARN,
    SendGridKeys,
    SignedRequest,
    SimpleEvent,
    SnsSigner,
    basic_authorization,
    mailgun_requests,
    mailgun_signature,
    postmark_requests,
    sendgrid_request,
    ses_requests,
    sns_certificate_server,
    sns_envelope,
    sns_request,
)

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
MAILGUN_KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"
POSTMARK_CREDENTIALS = "postmark-hooks:s3cret-Pa55"


def rejected(call: Any) -> WebhookRejected:
    with pytest.raises(WebhookRejected) as caught:
        call()
    assert 400 <= caught.value.status_code < 600
    return caught.value


# --- Amazon SES through SNS ------------------------------------------------------------------


@pytest.fixture(scope="module")
def sns_signer() -> Iterator[SnsSigner]:
    with sns_certificate_server(SnsSigner.generate(valid_from=NOW - timedelta(days=1))) as signer:
        yield signer


@pytest.fixture
def sns_settings() -> ProviderSettings:
    return ProviderSettings(sns_cert_url_pattern=LOCAL_SNS_CERT_URL_PATTERN)


def parse_ses(
    request: SignedRequest, settings: ProviderSettings, certificates: SigningCertificates | None = None
) -> Any:
    return ses_provider.verify_and_parse(
        request.headers, request.body, settings, NOW, certificates=certificates or SigningCertificates()
    )


# AWS "Amazon SNS notification examples for Amazon SES": "Bounce notification with a DSN", with the
# original headers included, fanhub's Message-ID and its X-SES-MESSAGE-TAGS header among them.
SES_BOUNCE_WITH_DSN = {
    "notificationType": "Bounce",
    "bounce": {
        "bounceType": "Permanent",
        "reportingMTA": "dns; email.example.com",
        "bouncedRecipients": [
            {
                "emailAddress": "Jane@Example.com",
                "status": "5.1.1",
                "action": "failed",
                "diagnosticCode": "smtp; 550 5.1.1 <jane@example.com>... User",
            }
        ],
        "bounceSubType": "General",
        "timestamp": "2026-03-02T11:59:38.237Z",
        "feedbackId": "00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa068a-000000",
        "remoteMtaIp": "127.0.2.0",
    },
    "mail": {
        "timestamp": "2026-03-02T11:58:38.000Z",
        "source": "john@example.com",
        "sourceArn": "arn:aws:ses:us-east-1:888888888888:identity/example.com",
        "sourceIp": "127.0.3.0",
        "sendingAccountId": "123456789012",
        "messageId": "00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa0680-000000",
        "destination": ["jane@example.com", "mary@example.com", "richard@example.com"],
        "headersTruncated": False,
        "headers": [
            {"name": "From", "value": '"John Doe" <john@example.com>'},
            {"name": "To", "value": '"Jane Doe" <jane@example.com>'},
            {"name": "Message-ID", "value": "<d-77.k3j@mail.venue.example>"},
            {"name": "X-SES-MESSAGE-TAGS", "value": "campaign=12, fanhub_delivery=dlv-jane-77"},
        ],
        "commonHeaders": {
            "from": ["John Doe <john@example.com>"],
            "to": ["Jane Doe <jane@example.com>"],
            "messageId": "<d-77.k3j@mail.venue.example>",
            "subject": "Hello",
        },
    },
}


@pytest.mark.parametrize("version", ["1", "2"])
def test_ses_permanent_bounce_gives_a_hard_report(
    sns_signer: SnsSigner, sns_settings: ProviderSettings, version: str
) -> None:
    envelope = sns_envelope(json.dumps(SES_BOUNCE_WITH_DSN), now=NOW)
    result = parse_ses(sns_request(sns_signer.sign(envelope, version)), sns_settings)

    assert result.replay_key == f"ses:{envelope['MessageId']}"
    assert result.subscribe_url is None
    [report] = result.reports
    assert (report.kind, report.reason, report.recipient, report.status) == (
        "hard",
        "user_unknown",
        "jane@example.com",
        "5.1.1",
    )
    assert report.delivery_ref == "dlv-jane-77"
    assert report.message_id == "d-77.k3j@mail.venue.example"
    assert report.diagnostic == "smtp; 550 5.1.1 <jane@example.com>... User"
    assert report.source == "ses"
    assert report.event_id == f"{envelope['MessageId']}/0"
    assert report.occurred_at == datetime(2026, 3, 2, 11, 59, 38, 237000, tzinfo=UTC)


def test_ses_event_publishing_reads_message_tags_and_eventtype(
    sns_signer: SnsSigner, sns_settings: ProviderSettings
) -> None:
    # AWS "Examples of event data that Amazon SES publishes to Amazon SNS" (Bounce): `eventType`
    # instead of notificationType, and `mail.tags` holding the X-SES-MESSAGE-TAGS values.
    event = {
        "eventType": "Bounce",
        "bounce": {
            "bounceType": "Transient",
            "bounceSubType": "MailboxFull",
            "bouncedRecipients": [
                {"emailAddress": "a@example.com", "status": "4.2.2", "diagnosticCode": "smtp; 452 4.2.2 over quota"},
                {"emailAddress": "b@example.com"},
            ],
            "timestamp": "2026-03-02T11:00:00.000Z",
            "feedbackId": "0100015a-feedback",
        },
        "mail": {
            "timestamp": "2026-03-02T10:59:00.000Z",
            "messageId": "0100015a-ses",
            "destination": ["a@example.com", "b@example.com"],
            "tags": {"ses:configuration-set": ["fanhub"], "fanhub_delivery": ["dlv-88"]},
        },
    }
    request = sns_request(sns_signer.sign(sns_envelope(json.dumps(event), now=NOW)))
    reports = parse_ses(request, sns_settings).reports

    assert [(r.kind, r.reason, r.recipient, r.status) for r in reports] == [
        ("soft", "mailbox_full", "a@example.com", "4.2.2"),
        ("soft", "mailbox_full", "b@example.com", None),
    ]
    assert {r.delivery_ref for r in reports} == {"dlv-88"}
    assert len({r.event_id for r in reports}) == 2


def test_ses_labels_give_way_to_a_decisive_status_code(sns_signer: SnsSigner, sns_settings: ProviderSettings) -> None:
    # SES may call an unroutable domain Transient, and a policy block Permanent (notes §1.2, §7).
    event = {
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": "Undetermined",
            "bounceSubType": "Undetermined",
            "bouncedRecipients": [
                {"emailAddress": "x@nowhere.example", "status": "5.4.4", "diagnosticCode": "smtp; 550 5.4.4 no route"},
                {"emailAddress": "y@example.com", "status": "5.7.26", "diagnosticCode": "smtp; 550 5.7.26 DMARC"},
                {"emailAddress": "z@example.com"},
            ],
        },
        "mail": {"messageId": "m", "destination": []},
    }
    request = sns_request(sns_signer.sign(sns_envelope(json.dumps(event), now=NOW)))
    reports = parse_ses(request, sns_settings).reports

    assert [(r.kind, r.sender_warning) for r in reports] == [("hard", False), ("soft", True), ("soft", False)]


def test_ses_complaint_gives_one_complaint_per_recipient(sns_signer: SnsSigner, sns_settings: ProviderSettings) -> None:
    # AWS "Complaint notification with a feedback report".
    event = {
        "notificationType": "Complaint",
        "complaint": {
            "userAgent": "AnyCompany Feedback Loop (V0.01)",
            "complainedRecipients": [{"emailAddress": "richard@example.com"}, {"emailAddress": "mary@example.com"}],
            "complaintFeedbackType": "abuse",
            "arrivalDate": "2026-03-02T11:58:38.237Z",
            "timestamp": "2026-03-02T11:59:38.237Z",
            "feedbackId": "000001378603177f-18c07c78-fa81-4a58-9dd1-fedc3cb8f49a-000000",
        },
        "mail": {
            "messageId": "000001378603177f-7a5433e7",
            "destination": ["richard@example.com", "mary@example.com"],
            "tags": {"fanhub_delivery": ["dlv-5"]},
        },
    }
    request = sns_request(sns_signer.sign(sns_envelope(json.dumps(event), now=NOW)))
    reports = parse_ses(request, sns_settings).reports

    assert [(r.kind, r.reason, r.recipient, r.delivery_ref) for r in reports] == [
        ("complaint", "abuse", "richard@example.com", "dlv-5"),
        ("complaint", "abuse", "mary@example.com", "dlv-5"),
    ]


def test_ses_delivery_and_not_spam_reports_are_ignored(sns_signer: SnsSigner, sns_settings: ProviderSettings) -> None:
    delivery = {
        "notificationType": "Delivery",
        "delivery": {"timestamp": "2026-03-02T11:00:00Z", "recipients": ["a@example.com"], "smtpResponse": "250"},
        "mail": {"messageId": "m1", "destination": ["a@example.com"]},
    }
    not_spam = {
        "notificationType": "Complaint",
        "complaint": {"complainedRecipients": [{"emailAddress": "b@example.com"}], "complaintFeedbackType": "not-spam"},
        "mail": {"messageId": "m2", "destination": ["b@example.com"]},
    }
    for event, recipient in ((delivery, "a@example.com"), (not_spam, "b@example.com")):
        request = sns_request(sns_signer.sign(sns_envelope(json.dumps(event), now=NOW)))
        [report] = parse_ses(request, sns_settings).reports
        assert (report.kind, report.recipient) == ("ignored", recipient)


def test_subscription_confirmation_returns_the_url_to_confirm(
    sns_signer: SnsSigner, sns_settings: ProviderSettings
) -> None:
    # AWS "HTTP/HTTPS subscription confirmation JSON format": SubscribeURL and Token are signed too.
    envelope = sns_envelope(
        "You have chosen to subscribe to the topic.", message_type="SubscriptionConfirmation", now=NOW
    )
    result = parse_ses(sns_request(sns_signer.sign(envelope)), sns_settings)
    assert result.reports == []
    assert result.subscribe_url == envelope["SubscribeURL"]

    forged = sns_signer.sign(envelope) | {"SubscribeURL": "https://attacker.example/confirm"}
    assert rejected(lambda: parse_ses(sns_request(forged), sns_settings)).message == "signature does not verify"

    unsubscribe = sns_envelope("unsubscribed", message_type="UnsubscribeConfirmation", now=NOW)
    result = parse_ses(sns_request(sns_signer.sign(unsubscribe)), sns_settings)
    assert (result.reports, result.subscribe_url) == ([], None)


def test_the_certificate_is_fetched_from_the_local_server_once_and_cached(
    sns_signer: SnsSigner, sns_settings: ProviderSettings
) -> None:
    fetched: list[str] = []

    def counting_fetch(url: str) -> bytes:
        fetched.append(url)
        return fetch_with_httpx(url)  # the default fetcher, over HTTP to the local server

    certificates = SigningCertificates(counting_fetch)
    for request in ses_requests(
        [SimpleEvent("hard", "a@example.com"), SimpleEvent("soft", "b@example.com")], sns_signer, NOW
    ):
        parse_ses(request, sns_settings, certificates)
    assert fetched == [sns_signer.cert_url]


def test_the_default_pattern_accepts_real_sns_certificate_urls_only(sns_signer: SnsSigner) -> None:
    served = {"https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-7ff5318490ec183fbaddaa2a969abfda.pem"}
    fetched: list[str] = []

    def fake_aws(url: str) -> bytes:
        fetched.append(url)
        return sns_signer.certificate_pem

    aws_signer = replace(sns_signer, cert_url=next(iter(served)))
    request = sns_request(aws_signer.sign(sns_envelope(json.dumps(SES_BOUNCE_WITH_DSN), now=NOW)))
    assert parse_ses(request, ProviderSettings(), SigningCertificates(fake_aws)).reports[0].kind == "hard"

    for url in (
        "http://sns.us-east-1.amazonaws.com/SimpleNotificationService-1.pem",  # not https
        "https://sns.us-east-1.amazonaws.com.evil.example/SimpleNotificationService-1.pem",
        "https://sns.us-east-1.amazonaws.com@evil.example/SimpleNotificationService-1.pem",
        "https://evil.example/sns.us-east-1.amazonaws.com/SimpleNotificationService-1.pem",
        "https://sqs.us-east-1.amazonaws.com/SimpleNotificationService-1.pem",
        sns_signer.cert_url,  # the local server is allowed only when the pattern says so
    ):
        forged = sns_request(replace(sns_signer, cert_url=url).sign(sns_envelope("{}", now=NOW)))
        error = rejected(lambda r=forged: parse_ses(r, ProviderSettings(), SigningCertificates(fake_aws)))
        assert (error.status_code, error.message) == (403, f"certificate URL not allowed: {url}")
    assert fetched == list(served)


def test_sns_forgeries_are_refused(sns_signer: SnsSigner, sns_settings: ProviderSettings) -> None:
    envelope = sns_signer.sign(sns_envelope(json.dumps(SES_BOUNCE_WITH_DSN), now=NOW))

    tampered = envelope | {"Message": envelope["Message"].replace("Permanent", "Transient")}
    error = rejected(lambda: parse_ses(sns_request(tampered), sns_settings))
    assert (error.status_code, error.message) == (401, "signature does not verify")

    impostor = replace(SnsSigner.generate(valid_from=NOW - timedelta(days=1)), cert_url=sns_signer.cert_url)
    error = rejected(lambda: parse_ses(sns_request(impostor.sign(sns_envelope("{}", now=NOW))), sns_settings))
    assert (error.status_code, error.message) == (401, "signature does not verify")

    unsigned = {key: value for key, value in envelope.items() if key != "Signature"}
    error = rejected(lambda: parse_ses(sns_request(unsigned), sns_settings))
    assert (error.status_code, error.message) == (400, "Signature is missing or not a string")

    error = rejected(lambda: parse_ses(sns_request(envelope | {"SignatureVersion": "3"}), sns_settings))
    assert (error.status_code, error.message) == (400, "SignatureVersion must be 1 or 2")

    raw = SignedRequest({}, json.dumps(SES_BOUNCE_WITH_DSN).encode())  # raw message delivery: unsigned
    assert rejected(lambda: parse_ses(raw, sns_settings)).message == "Type is missing or not a string"

    mislabelled = sns_request(envelope)
    mislabelled.headers["x-amz-sns-message-type"] = "SubscriptionConfirmation"
    assert rejected(lambda: parse_ses(mislabelled, sns_settings)).message == (
        "x-amz-sns-message-type header does not match Type"
    )


@pytest.mark.parametrize(
    ("age", "message"),
    [
        (timedelta(hours=24, seconds=1), "timestamp older than 24 hours"),
        (-timedelta(minutes=5, seconds=1), "timestamp more than 5 minutes in the future"),
    ],
)
def test_stale_and_future_sns_messages_are_refused(
    sns_signer: SnsSigner, sns_settings: ProviderSettings, age: timedelta, message: str
) -> None:
    request = sns_request(sns_signer.sign(sns_envelope(json.dumps(SES_BOUNCE_WITH_DSN), now=NOW - age)))
    error = rejected(lambda: parse_ses(request, sns_settings))
    assert (error.status_code, error.message) == (403, message)


def test_sns_edges_within_the_window_are_accepted(sns_signer: SnsSigner, sns_settings: ProviderSettings) -> None:
    for age in (timedelta(hours=23, minutes=59), -timedelta(minutes=4)):
        request = sns_request(sns_signer.sign(sns_envelope(json.dumps(SES_BOUNCE_WITH_DSN), now=NOW - age)))
        assert parse_ses(request, sns_settings).reports[0].kind == "hard"


def test_topics_other_than_the_configured_ones_are_refused(sns_signer: SnsSigner) -> None:
    settings = ProviderSettings(
        sns_cert_url_pattern=LOCAL_SNS_CERT_URL_PATTERN, sns_topic_arns=frozenset({"arn:aws:sns:eu-west-1:1:mine"})
    )
    request = sns_request(sns_signer.sign(sns_envelope(json.dumps(SES_BOUNCE_WITH_DSN), now=NOW)))
    error = rejected(lambda: parse_ses(request, settings))
    assert (error.status_code, error.message) == (403, f"TopicArn {TOPIC_ARN} is not one of the configured topics")


def test_certificate_problems_are_refused(sns_settings: ProviderSettings) -> None:
    expired = SnsSigner.generate(valid_from=NOW - timedelta(days=40), valid_days=30)
    with sns_certificate_server(expired) as signer:
        request = sns_request(signer.sign(sns_envelope(json.dumps(SES_BOUNCE_WITH_DSN), now=NOW)))
        error = rejected(lambda: parse_ses(request, sns_settings))
        assert (error.status_code, error.message) == (403, "signing certificate is not valid at this time")

        missing = sns_request(
            replace(signer, cert_url=signer.cert_url.replace("local.pem", "gone.pem")).sign(sns_envelope("{}", now=NOW))
        )
        error = rejected(lambda: parse_ses(missing, sns_settings))
        assert error.status_code == 503
        assert error.message.startswith("could not fetch the signing certificate")


def test_a_malformed_ses_message_names_the_field(sns_signer: SnsSigner, sns_settings: ProviderSettings) -> None:
    for message, expected in (
        ("not json", "body is not JSON"),
        ("[]", "Message must be a JSON object"),
        ('{"mail": {}}', "Message has neither notificationType nor eventType"),
        ('{"notificationType": "Bounce", "bounce": {"bouncedRecipients": []}}', "Message.bounce.bouncedRecipients"),
    ):
        request = sns_request(sns_signer.sign(sns_envelope(message, now=NOW)))
        error = rejected(lambda r=request: parse_ses(r, sns_settings))
        assert error.status_code == 400
        assert error.message.startswith(expected)


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
        ("e-bounce", "hard", "bounce", "bounce@test.com"),
        ("e-blocked", "soft", "blocked", "blocked@test.com"),
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
        error = rejected(lambda h=headers, b=body: parse(h, b))
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
    error = rejected(lambda: sendgrid.verify_and_parse(request.headers, request.body, sendgrid_settings, NOW))
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
        error = rejected(lambda s=settings: sendgrid.verify_and_parse(request.headers, request.body, s, NOW))
        assert (error.status_code, error.message) == (503, message)


def test_a_signed_sendgrid_body_that_is_not_an_array_is_malformed(
    sendgrid_keys: SendGridKeys, sendgrid_settings: ProviderSettings
) -> None:
    for body, message in (
        (b'{"event": "bounce"}', "body must be a JSON array of events"),
        (b"[{}]", "event [0].event"),
    ):
        request = sendgrid_keys.signed(body, STAMP)
        error = rejected(lambda r=request: sendgrid.verify_and_parse(r.headers, r.body, sendgrid_settings, NOW))
        assert error.status_code == 400
        assert error.message.startswith(message)


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
        error = rejected(lambda b=body: mailgun_parse(b))
        assert error.status_code == status
        assert error.message.startswith(message)  # "body is not JSON: <the parser's words>"

    error = rejected(lambda: mailgun_parse(mailgun_body(MAILGUN_PERMANENT_FAILURE), ProviderSettings()))
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
        ("Bounce", "DMARCPolicy", "smtp;550 5.7.26 unauthenticated", "soft", "dmarc_policy", True),
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
        error = rejected(lambda h=headers: postmark_parse(POSTMARK_HARD_BOUNCE, h))
        assert (error.status_code, error.message) == (status, message)
    # HTTP header names are case-insensitive.
    assert postmark_parse(POSTMARK_HARD_BOUNCE, {"authorization": POSTMARK_HEADERS["Authorization"]}).reports


def test_postmark_without_credentials_refuses_everything() -> None:
    body = json.dumps(POSTMARK_HARD_BOUNCE).encode()
    for configured in (None, "no-colon"):
        settings = ProviderSettings(postmark_credentials=configured)
        error = rejected(lambda s=settings: postmark.verify_and_parse(POSTMARK_HEADERS, body, s, NOW))
        assert error.status_code == 503
        assert (
            error.message == "Postmark webhook not configured: set FANHUB_POSTMARK_WEBHOOK_CREDENTIALS (user:password)"
        )


def test_postmark_malformed_record_names_the_field() -> None:
    error = rejected(lambda: postmark_parse({"ID": 1}))
    assert (error.status_code, error.message) == (400, "RecordType is missing or not a string")


# --- the helpers end-to-end tests use, through the provider registry -----------------------------


def test_signed_requests_from_simple_events_round_trip_for_every_provider(sendgrid_keys: SendGridKeys) -> None:
    events = [
        SimpleEvent("hard", "Hard@Example.com", delivery_ref="dlv-h", message_id="m-h@venue.example"),
        SimpleEvent("soft", "soft@example.com", delivery_ref="dlv-s"),
        SimpleEvent("complaint", "complaint@example.com", delivery_ref="dlv-c"),
        SimpleEvent("delivered", "ok@example.com", delivery_ref="dlv-d"),
    ]
    expected = [
        ("hard", "hard@example.com", "dlv-h"),
        ("soft", "soft@example.com", "dlv-s"),
        ("complaint", "complaint@example.com", "dlv-c"),
        ("ignored", "ok@example.com", "dlv-d"),
    ]
    settings = ProviderSettings(
        sendgrid_public_key=sendgrid_keys.public_key_base64,
        mailgun_signing_key=MAILGUN_KEY,
        postmark_credentials=POSTMARK_CREDENTIALS,
        sns_cert_url_pattern=LOCAL_SNS_CERT_URL_PATTERN,
    )
    with sns_certificate_server(SnsSigner.generate(valid_from=NOW - timedelta(days=1))) as signer:
        requests = {
            "ses": ses_requests(events, signer, NOW),
            "sendgrid": [sendgrid_request(events, sendgrid_keys, NOW)],
            "mailgun": mailgun_requests(events, MAILGUN_KEY, NOW),
            "postmark": postmark_requests(events, POSTMARK_CREDENTIALS, NOW),
        }
        for provider, signed in requests.items():
            results = [PROVIDERS[provider](r.headers, r.body, settings, NOW) for r in signed]
            reports = [report for result in results for report in result.reports]
            assert [(r.kind, r.recipient, r.delivery_ref) for r in reports] == expected, provider
            assert reports[0].status == "5.1.1", provider
            assert all(r.source == provider for r in reports)
            assert len({result.replay_key for result in results}) == len(results), provider
            if provider != "postmark":  # Postmark does not echo the Message-ID fanhub set
                assert reports[0].message_id == "m-h@venue.example", provider


# --- the status code against the provider's label ------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "status", "diagnostic", "expected"),
    [
        ("soft", "5.1.1", None, ("hard", "user_unknown", False)),
        ("soft", "5.1.10", None, ("hard", "null_mx", False)),
        ("hard", "5.7.1", "550 5.7.1 Service unavailable; client host listed by Spamhaus", ("soft", "policy", True)),
        ("hard", "5.2.2", None, ("soft", "mailbox_full", False)),
        ("hard", "4.4.7", None, ("soft", "bounce", False)),
        ("hard", "5.0.0", None, ("hard", "bounce", False)),
        ("soft", "5.7.25", None, ("soft", "bounce", True)),
        ("complaint", "5.1.1", None, ("complaint", "bounce", False)),
    ],
)
def test_classify_failure(kind: Any, status: str, diagnostic: str | None, expected: tuple[str, str, bool]) -> None:
    result = classify_failure(kind, "bounce", status, diagnostic)
    assert (result.kind, result.reason, result.sender_warning) == expected
