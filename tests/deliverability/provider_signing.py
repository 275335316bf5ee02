"""Signed provider webhook requests built from simple events, with locally generated keys.

For the provider tests and for end-to-end tests that POST them to a running server:

    keys = SendGridKeys.generate()              # FANHUB_SENDGRID_WEBHOOK_PUBLIC_KEY=keys.public_key_base64
    request = sendgrid_request([SimpleEvent("hard", "a@example.com", delivery_ref="tok")], keys)
    client.post("/v1/webhooks/email/sendgrid", content=request.body, headers=request.headers)

    with sns_certificate_server() as signer:    # FANHUB_SNS_CERT_URL_PATTERN=LOCAL_SNS_CERT_URL_PATTERN
        for request in ses_requests(events, signer): ...

Each builder follows the provider's documented payload shape (named in its docstring).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from fanhub.deliverability.providers import WebhookRejected
from fanhub.deliverability.providers.sns import string_to_sign

# What FANHUB_SNS_CERT_URL_PATTERN must be for the certificate `sns_certificate_server` serves.
LOCAL_SNS_CERT_URL_PATTERN = r"http://127\.0\.0\.1:\d+/[A-Za-z0-9._-]+\.pem"
TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:fanhub-ses-events"
SimpleKind = Literal["hard", "soft", "complaint", "delivered"]


@dataclass(frozen=True)
class SignedRequest:
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class SimpleEvent:
    """One thing that happened to one delivery; the builders fill in each provider's details."""

    kind: SimpleKind
    recipient: str
    delivery_ref: str | None = None
    message_id: str | None = None  # the Message-ID fanhub set, without angle brackets
    status: str | None = None  # default: 5.1.1 for hard, 5.2.2 (mailbox full) for soft
    diagnostic: str | None = None
    event_id: str | None = None  # default: a fresh id

    def status_code(self) -> str:
        return self.status or ("5.1.1" if self.kind == "hard" else "5.2.2")

    def smtp_words(self) -> str:
        if self.diagnostic:
            return self.diagnostic
        code = self.status_code()
        words = "User unknown" if code == "5.1.1" else "Mailbox full"
        return f"{code[0]}5{code[2]} {code} {words}"


_ids = itertools.count(1)


def expect_rejection(call: Callable[..., object], *args: Any) -> WebhookRejected:
    """The WebhookRejected that `call(*args)` raises (a test fails if it raises nothing)."""
    with pytest.raises(WebhookRejected) as caught:
        call(*args)
    assert 400 <= caught.value.status_code < 600
    return caught.value


def _fresh_id(prefix: str) -> str:
    return f"{prefix}{next(_ids):06d}{uuid.uuid4().hex[:12]}"


# --- Amazon SES through SNS ------------------------------------------------------------------


@dataclass
class SnsSigner:
    """An RSA key and its self-signed certificate, standing in for SNS's signing certificate."""

    private_key: rsa.RSAPrivateKey
    certificate_pem: bytes
    cert_url: str = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-test.pem"

    @classmethod
    def generate(cls, valid_from: datetime | None = None, valid_days: int = 3650) -> SnsSigner:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
        start = valid_from or datetime.now(UTC) - timedelta(days=1)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + timedelta(days=valid_days))
            .sign(key, hashes.SHA256())
        )
        return cls(key, certificate.public_bytes(serialization.Encoding.PEM))

    def sign(self, envelope: dict[str, Any], version: str = "2") -> dict[str, Any]:
        """The envelope with SignatureVersion, SigningCertURL and Signature set (AWS's scheme)."""
        signed = {**envelope, "SignatureVersion": version, "SigningCertURL": self.cert_url}
        algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
        signature = self.private_key.sign(string_to_sign(signed, signed["Type"]), padding.PKCS1v15(), algorithm)
        signed["Signature"] = base64.b64encode(signature).decode("ascii")
        return signed


@contextmanager
def sns_certificate_server(signer: SnsSigner | None = None) -> Iterator[SnsSigner]:
    """Serve the signer's certificate over http://127.0.0.1:<port>/; yields the signer, its
    `cert_url` pointing there (allowed by LOCAL_SNS_CERT_URL_PATTERN)."""
    signer = signer or SnsSigner.generate()
    pem = signer.certificate_pem

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
            found = self.path == "/SimpleNotificationService-local.pem"
            self.send_response(200 if found else 404)
            self.send_header("Content-Type", "application/x-pem-file")
            self.end_headers()
            if found:
                self.wfile.write(pem)

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    signer.cert_url = f"http://127.0.0.1:{server.server_address[1]}/SimpleNotificationService-local.pem"
    try:
        yield signer
    finally:
        server.shutdown()
        server.server_close()


def sns_envelope(message: str, *, message_type: str = "Notification", now: datetime | None = None) -> dict[str, Any]:
    """An unsigned SNS HTTP(S) message (AWS "HTTP/HTTPS notification JSON format")."""
    envelope: dict[str, Any] = {
        "Type": message_type,
        "MessageId": str(uuid.uuid4()),
        "TopicArn": TOPIC_ARN,
        "Message": message,
        "Timestamp": _iso(now or datetime.now(UTC)),
    }
    if message_type != "Notification":
        envelope["Token"] = uuid.uuid4().hex * 2
        envelope["SubscribeURL"] = (
            "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription"
            f"&TopicArn={TOPIC_ARN}&Token={envelope['Token']}"
        )
    return envelope


def sns_request(envelope: dict[str, Any]) -> SignedRequest:
    headers = {
        "Content-Type": "text/plain; charset=UTF-8",
        "x-amz-sns-message-type": envelope["Type"],
        "x-amz-sns-message-id": envelope["MessageId"],
        "x-amz-sns-topic-arn": envelope["TopicArn"],
    }
    return SignedRequest(headers, json.dumps(envelope).encode("utf-8"))


def ses_event(event: SimpleEvent, now: datetime | None = None) -> dict[str, Any]:
    """An SES notification (AWS "Amazon SNS notification examples for Amazon SES") for one event,
    with the original headers SES includes when asked (Message-ID, X-SES-MESSAGE-TAGS)."""
    at = _iso(now or datetime.now(UTC))
    headers = [{"name": "From", "value": "Venue <news@venue.example>"}, {"name": "To", "value": event.recipient}]
    if event.message_id:
        headers.append({"name": "Message-ID", "value": f"<{event.message_id}>"})
    if event.delivery_ref:
        headers.append({"name": "X-SES-MESSAGE-TAGS", "value": f"fanhub_delivery={event.delivery_ref}"})
    mail = {
        "timestamp": at,
        "source": "news@venue.example",
        "messageId": _fresh_id("0100018e-ses-"),
        "destination": [event.recipient],
        "headersTruncated": False,
        "headers": headers,
        "commonHeaders": {"from": ["Venue <news@venue.example>"], "to": [event.recipient]}
        | ({"messageId": f"<{event.message_id}>"} if event.message_id else {}),
    }
    if event.kind == "complaint":
        return {
            "notificationType": "Complaint",
            "complaint": {
                "complainedRecipients": [{"emailAddress": event.recipient}],
                "timestamp": at,
                "feedbackId": _fresh_id("feedback-"),
                "complaintFeedbackType": "abuse",
            },
            "mail": mail,
        }
    if event.kind == "delivered":
        delivery = {"timestamp": at, "recipients": [event.recipient], "smtpResponse": "250 ok"}
        return {"notificationType": "Delivery", "delivery": delivery, "mail": mail}
    hard = event.kind == "hard"
    recipient = {
        "emailAddress": event.recipient,
        "action": "failed",
        "status": event.status_code(),
        "diagnosticCode": f"smtp; {event.smtp_words()}",
    }
    bounce = {
        "bounceType": "Permanent" if hard else "Transient",
        "bounceSubType": "General" if hard else "MailboxFull",
        "bouncedRecipients": [recipient],
        "timestamp": at,
        "feedbackId": _fresh_id("feedback-"),
        "reportingMTA": "dns; email.example.com",
    }
    return {"notificationType": "Bounce", "bounce": bounce, "mail": mail}


def ses_requests(
    events: Sequence[SimpleEvent], signer: SnsSigner, now: datetime | None = None, version: str = "2"
) -> list[SignedRequest]:
    """One signed SNS Notification per event (SES sends each bounce or complaint on its own)."""
    return [
        sns_request(signer.sign(sns_envelope(json.dumps(ses_event(event, now)), now=now), version)) for event in events
    ]


# --- SendGrid ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SendGridKeys:
    private_key: ec.EllipticCurvePrivateKey

    @classmethod
    def generate(cls) -> SendGridKeys:
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @property
    def public_key_base64(self) -> str:
        """The verification key as SendGrid shows it: base64 of the DER SubjectPublicKeyInfo."""
        der = self.private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(der).decode("ascii")

    @property
    def public_key_pem(self) -> str:
        return (
            self.private_key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode("ascii")
        )

    def signed(self, body: bytes, timestamp: int | str) -> SignedRequest:
        """Twilio SendGrid's scheme: ECDSA P-256 SHA-256 over timestamp + raw body, base64 DER."""
        signature = self.private_key.sign(str(timestamp).encode("ascii") + body, ec.ECDSA(hashes.SHA256()))
        headers = {
            "Content-Type": "application/json",
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode("ascii"),
            "X-Twilio-Email-Event-Webhook-Timestamp": str(timestamp),
        }
        return SignedRequest(headers, body)


def sendgrid_event(event: SimpleEvent, now: datetime | None = None) -> dict[str, Any]:
    """One Event Webhook event (Twilio SendGrid "Event Webhook Reference"); `fanhub_delivery` is a
    unique arg from X-SMTPAPI, which SendGrid flattens into the event."""
    payload: dict[str, Any] = {
        "email": event.recipient,
        "timestamp": int((now or datetime.now(UTC)).timestamp()),
        "sg_event_id": event.event_id or _fresh_id("sg-"),
        "sg_message_id": _fresh_id("sgmsg-") + ".filter0001.16648.5515E0B88.0",
        "category": "newsletter",
    }
    if event.message_id:
        payload["smtp-id"] = f"<{event.message_id}>"
    if event.delivery_ref:
        payload["fanhub_delivery"] = event.delivery_ref
    if event.kind == "complaint":
        payload["event"] = "spamreport"
    elif event.kind == "delivered":
        payload |= {"event": "delivered", "response": "250 OK"}
    else:
        classification = "Invalid Address" if event.kind == "hard" else "Mailbox Unavailable"
        payload |= {
            "event": "bounce",
            "type": "bounce",
            "status": event.status_code(),
            "reason": event.smtp_words(),
            "bounce_classification": classification,
        }
    return payload


def sendgrid_request(events: Sequence[SimpleEvent], keys: SendGridKeys, now: datetime | None = None) -> SignedRequest:
    """One signed POST carrying every event (SendGrid batches events into one JSON array)."""
    moment = now or datetime.now(UTC)
    body = json.dumps([sendgrid_event(event, moment) for event in events]).encode("utf-8")
    return keys.signed(body, int(moment.timestamp()))


# --- Mailgun -----------------------------------------------------------------------------------


def mailgun_signature(signing_key: str, timestamp: str, token: str) -> dict[str, str]:
    """Mailgun "Securing webhooks": hex HMAC-SHA256 of timestamp + token under the signing key."""
    digest = hmac.new(signing_key.encode("utf-8"), (timestamp + token).encode("utf-8"), hashlib.sha256)
    return {"timestamp": timestamp, "token": token, "signature": digest.hexdigest()}


def mailgun_event(event: SimpleEvent, now: datetime | None = None) -> dict[str, Any]:
    """`event-data` as in Mailgun "Webhook Payloads"; X-Mailgun-Variables come back as user-variables."""
    data: dict[str, Any] = {
        "id": event.event_id or _fresh_id("mg-"),
        "timestamp": (now or datetime.now(UTC)).timestamp(),
        "log-level": "error" if event.kind in ("hard", "soft") else "info",
        "recipient": event.recipient,
        "recipient-domain": event.recipient.rpartition("@")[2],
        "user-variables": {"fanhub_delivery": event.delivery_ref} if event.delivery_ref else {},
        "message": {"headers": {"to": event.recipient, "from": "news@venue.example", "subject": "This week"}},
    }
    if event.message_id:
        data["message"]["headers"]["message-id"] = event.message_id
    if event.kind == "complaint":
        data["event"] = "complained"
    elif event.kind == "delivered":
        data |= {"event": "delivered", "delivery-status": {"code": 250, "message": "OK", "description": ""}}
    else:
        code = event.status_code()
        data |= {
            "event": "failed",
            "severity": "permanent",
            "reason": "bounce",
            "delivery-status": {
                "attempt-no": 1,
                "code": int(code[0] + "5" + code[2]),
                "message": event.smtp_words(),
                "description": "",
            },
        }
    return data


def mailgun_requests(
    events: Sequence[SimpleEvent], signing_key: str, now: datetime | None = None
) -> list[SignedRequest]:
    """One signed POST per event, as Mailgun sends them."""
    moment = now or datetime.now(UTC)
    requests = []
    for event in events:
        signature = mailgun_signature(signing_key, str(int(moment.timestamp())), uuid.uuid4().hex + "0" * 18)
        body = {"signature": signature, "event-data": mailgun_event(event, moment)}
        requests.append(SignedRequest({"Content-Type": "application/json"}, json.dumps(body).encode("utf-8")))
    return requests


# --- Postmark ----------------------------------------------------------------------------------


def basic_authorization(credentials: str) -> str:
    return "Basic " + base64.b64encode(credentials.encode("utf-8")).decode("ascii")


def postmark_record(event: SimpleEvent, now: datetime | None = None) -> dict[str, Any]:
    """A Bounce, SpamComplaint or Delivery record (Postmark's webhook docs); X-PM-Metadata-* headers
    come back in Metadata."""
    at = _iso(now or datetime.now(UTC))
    record: dict[str, Any] = {
        "MessageID": str(uuid.uuid4()),
        "MessageStream": "broadcast",
        "ServerID": 23,
        "Tag": "newsletter",
        "Metadata": {"fanhub_delivery": event.delivery_ref} if event.delivery_ref else {},
    }
    if event.kind == "delivered":
        return record | {
            "RecordType": "Delivery",
            "Recipient": event.recipient,
            "DeliveredAt": at,
            "Details": "smtp;250 2.0.0 OK",
        }
    kinds = {"hard": ("Bounce", "HardBounce", 1), "soft": ("Bounce", "SoftBounce", 4096)}
    record_type, bounce_type, type_code = kinds.get(event.kind, ("SpamComplaint", "SpamComplaint", 100001))
    return record | {
        "RecordType": record_type,
        "ID": int(event.event_id) if event.event_id and event.event_id.isdigit() else next(_ids) + 4_000_000_000,
        "Type": bounce_type,
        "TypeCode": type_code,
        "Name": bounce_type,
        "Description": "The server was unable to deliver your message.",
        "Details": f"smtp;{event.smtp_words()}" if event.kind != "complaint" else "Spam complaint details",
        "Email": event.recipient,
        "From": "news@venue.example",
        "BouncedAt": at,
        "DumpAvailable": False,
        "Inactive": event.kind != "soft",
        "CanActivate": True,
        "Subject": "This week",
    }


def postmark_requests(
    events: Sequence[SimpleEvent], credentials: str, now: datetime | None = None
) -> list[SignedRequest]:
    """One POST per record, with the Basic credentials Postmark takes from the webhook URL."""
    headers = {"Content-Type": "application/json", "Authorization": basic_authorization(credentials)}
    return [SignedRequest(dict(headers), json.dumps(postmark_record(event, now)).encode("utf-8")) for event in events]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
