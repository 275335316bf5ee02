"""Provider event webhooks: Amazon SES through SNS, and every provider through the shared helpers.

Payloads follow each provider's documented examples (named above each), signed with locally made
keys. Accepted requests give the right reports (kind, recipient, status, delivery_ref, event_id);
forged, unsigned, stale and misaddressed ones raise WebhookRejected with a 4xx naming what is wrong.
SendGrid, Mailgun and Postmark have their own files (test_provider_webhooks_*.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from fanhub.audience import suppression
from fanhub.config import Settings, get_settings
from fanhub.db.engine import Database
from fanhub.deliverability.providers import PROVIDERS, ProviderSettings
from fanhub.deliverability.providers import ses as ses_provider
from fanhub.deliverability.providers.classify import classify_failure
from fanhub.deliverability.providers.sns import SigningCertificates, fetch_with_httpx
from tests.campaigns.conftest import add_contact, campaign_env, smtp_server, twilio  # noqa: F401 (fixtures)
from tests.conftest import Tenant
from tests.deliverability.provider_signing import (
    LOCAL_SNS_CERT_URL_PATTERN,
    TOPIC_ARN,
    SendGridKeys,
    SignedRequest,
    SimpleEvent,
    SnsSigner,
    expect_rejection,
    mailgun_requests,
    postmark_requests,
    sendgrid_request,
    ses_requests,
    sns_certificate_server,
    sns_envelope,
    sns_request,
)
from tests.deliverability.test_apply import bounce_env  # noqa: F401 (fixture)
from tests.deliverability.test_webhooks import _bounces, _sent

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
MAILGUN_KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"
POSTMARK_CREDENTIALS = "postmark-hooks:s3cret-Pa55"


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
    assert expect_rejection(lambda: parse_ses(sns_request(forged), sns_settings)).message == "signature does not verify"

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
        error = expect_rejection(parse_ses, forged, ProviderSettings(), SigningCertificates(fake_aws))
        assert (error.status_code, error.message) == (403, f"certificate URL not allowed: {url}")
    assert fetched == list(served)


def test_sns_forgeries_are_refused(sns_signer: SnsSigner, sns_settings: ProviderSettings) -> None:
    envelope = sns_signer.sign(sns_envelope(json.dumps(SES_BOUNCE_WITH_DSN), now=NOW))

    tampered = envelope | {"Message": envelope["Message"].replace("Permanent", "Transient")}
    error = expect_rejection(lambda: parse_ses(sns_request(tampered), sns_settings))
    assert (error.status_code, error.message) == (401, "signature does not verify")

    impostor = replace(SnsSigner.generate(valid_from=NOW - timedelta(days=1)), cert_url=sns_signer.cert_url)
    error = expect_rejection(lambda: parse_ses(sns_request(impostor.sign(sns_envelope("{}", now=NOW))), sns_settings))
    assert (error.status_code, error.message) == (401, "signature does not verify")

    unsigned = {key: value for key, value in envelope.items() if key != "Signature"}
    error = expect_rejection(lambda: parse_ses(sns_request(unsigned), sns_settings))
    assert (error.status_code, error.message) == (400, "Signature is missing or not a string")

    error = expect_rejection(lambda: parse_ses(sns_request(envelope | {"SignatureVersion": "3"}), sns_settings))
    assert (error.status_code, error.message) == (400, "SignatureVersion must be 1 or 2")

    raw = SignedRequest({}, json.dumps(SES_BOUNCE_WITH_DSN).encode())  # raw message delivery: unsigned
    assert expect_rejection(lambda: parse_ses(raw, sns_settings)).message == "Type is missing or not a string"

    mislabelled = sns_request(envelope)
    mislabelled.headers["x-amz-sns-message-type"] = "SubscriptionConfirmation"
    assert expect_rejection(lambda: parse_ses(mislabelled, sns_settings)).message == (
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
    error = expect_rejection(lambda: parse_ses(request, sns_settings))
    assert (error.status_code, error.message) == (403, message)


def test_sns_edges_within_the_window_are_accepted(sns_signer: SnsSigner, sns_settings: ProviderSettings) -> None:
    for age in (timedelta(hours=23, minutes=59), -timedelta(minutes=4)):
        request = sns_request(sns_signer.sign(sns_envelope(json.dumps(SES_BOUNCE_WITH_DSN), now=NOW - age)))
        assert parse_ses(request, sns_settings).reports[0].kind == "hard"
    # A naive `now` is taken as UTC rather than failing the comparison.
    request = sns_request(sns_signer.sign(sns_envelope(json.dumps(SES_BOUNCE_WITH_DSN), now=NOW)))
    naive = ses_provider.verify_and_parse(
        request.headers, request.body, sns_settings, NOW.replace(tzinfo=None), certificates=SigningCertificates()
    )
    assert naive.reports[0].kind == "hard"


def test_topics_other_than_the_configured_ones_are_refused(sns_signer: SnsSigner) -> None:
    settings = ProviderSettings(
        sns_cert_url_pattern=LOCAL_SNS_CERT_URL_PATTERN, sns_topic_arns=frozenset({"arn:aws:sns:eu-west-1:1:mine"})
    )
    request = sns_request(sns_signer.sign(sns_envelope(json.dumps(SES_BOUNCE_WITH_DSN), now=NOW)))
    error = expect_rejection(lambda: parse_ses(request, settings))
    assert (error.status_code, error.message) == (403, f"TopicArn {TOPIC_ARN} is not one of the configured topics")


def test_the_topic_setting_is_a_comma_separated_list_and_empty_accepts_any() -> None:
    mine, other = "arn:aws:sns:eu-west-1:1:mine", "arn:aws:sns:us-east-1:2:theirs"
    listed = ProviderSettings.from_settings(Settings(sns_topic_arns=f" {mine} ,{other},, "))
    assert listed.sns_topic_arns == frozenset({mine, other})
    assert ProviderSettings.from_settings(Settings(sns_topic_arns="")).sns_topic_arns == frozenset()


def test_an_sns_message_from_another_topic_is_refused_over_http_and_changes_nothing(
    client: TestClient,
    db: Database,
    tenant: Tenant,
    bounce_env: Settings,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FANHUB_SNS_CERT_URL_PATTERN", LOCAL_SNS_CERT_URL_PATTERN)
    monkeypatch.setenv("FANHUB_SNS_TOPIC_ARNS", "arn:aws:sns:eu-west-1:1:mine")
    get_settings.cache_clear()
    tokens = _sent(client, db, tenant, 1)
    with sns_certificate_server() as signer:
        (request,) = ses_requests(
            [SimpleEvent("hard", "fan00@example.com", delivery_ref=tokens["fan00@example.com"])], signer
        )
        refused = client.post("/v1/webhooks/email/ses", content=request.body, headers=request.headers)
        assert refused.status_code == 403 and TOPIC_ARN in refused.json()["message"]
        assert _bounces(db) == 0
        with db.read() as session:
            assert not suppression.is_suppressed(session, tenant.organization_id, "fan00@example.com")
        # The same signed message once its topic is listed (among others): applied.
        monkeypatch.setenv("FANHUB_SNS_TOPIC_ARNS", f"arn:aws:sns:eu-west-1:1:mine,{TOPIC_ARN}")
        get_settings.cache_clear()
        accepted = client.post("/v1/webhooks/email/ses", content=request.body, headers=request.headers)
    assert accepted.status_code == 200 and accepted.json()["hard"] == 1
    with db.read() as session:
        assert suppression.is_suppressed(session, tenant.organization_id, "fan00@example.com")


def test_certificate_problems_are_refused(sns_settings: ProviderSettings) -> None:
    expired = SnsSigner.generate(valid_from=NOW - timedelta(days=40), valid_days=30)
    with sns_certificate_server(expired) as signer:
        request = sns_request(signer.sign(sns_envelope(json.dumps(SES_BOUNCE_WITH_DSN), now=NOW)))
        error = expect_rejection(lambda: parse_ses(request, sns_settings))
        assert (error.status_code, error.message) == (403, "signing certificate is not valid at this time")

        missing = sns_request(
            replace(signer, cert_url=signer.cert_url.replace("local.pem", "gone.pem")).sign(sns_envelope("{}", now=NOW))
        )
        error = expect_rejection(lambda: parse_ses(missing, sns_settings))
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
        error = expect_rejection(parse_ses, request, sns_settings)
        assert error.status_code == 400
        assert error.message.startswith(expected)


# --- the helpers end-to-end tests use, through the provider registry -----------------------------


def test_signed_requests_from_simple_events_round_trip_for_every_provider() -> None:
    sendgrid_keys = SendGridKeys.generate()
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
        (
            "hard",
            "5.7.1",
            "550 5.7.1 Service unavailable; client host listed by Spamhaus",
            ("soft", "blocklisted", True),
        ),
        ("hard", "5.2.2", None, ("soft", "mailbox_full", False)),
        ("hard", "4.4.7", None, ("soft", "expired", False)),
        ("hard", "5.0.0", None, ("hard", "bounce", False)),
        ("soft", "5.7.25", None, ("soft", "reverse_dns", True)),
        ("complaint", "5.1.1", None, ("complaint", "bounce", False)),
    ],
)
def test_classify_failure(kind: Any, status: str, diagnostic: str | None, expected: tuple[str, str, bool]) -> None:
    result = classify_failure(kind, "bounce", status, diagnostic)
    assert (result.kind, result.reason, result.sender_warning) == expected
