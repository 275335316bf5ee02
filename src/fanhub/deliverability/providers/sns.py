"""Amazon SNS message verification: the envelope SES bounce and complaint notifications arrive in.

The signature (SignatureVersion 1: SHA1withRSA, 2: SHA256withRSA) covers `Name\\nValue\\n` pairs in a
fixed order per message Type (AWS, "Verifying the signatures of Amazon SNS messages"), made with
the key of the certificate at `SigningCertURL`. That certificate is fetched only from a URL that
matches the configured pattern (by default https on sns.<region>.amazonaws.com, whose TLS
certificate vouches for it) and kept in memory: AWS rotates it rarely and under a new name.
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from fanhub.deliverability.providers.base import (
    ProviderSettings,
    WebhookRejected,
    as_utc,
    check_signed_at,
    header,
    iso_to_datetime,
    parse_json,
    require_object,
    require_text,
)

# The fields each message Type signs, in the order AWS signs them (optional ones when present).
_SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
    "UnsubscribeConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
}
_OPTIONAL_FIELDS = {"Subject"}
_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}
CERTIFICATE_FETCH_TIMEOUT_SECONDS = 5.0

CertificateFetcher = Callable[[str], bytes]


def fetch_with_httpx(url: str) -> bytes:
    """GET the certificate; no redirects, so the allowed URL is the one actually read."""
    response = httpx.get(url, timeout=CERTIFICATE_FETCH_TIMEOUT_SECONDS, follow_redirects=False)
    response.raise_for_status()
    return response.content


class SigningCertificates:
    """SNS signing certificates by URL, fetched on first use and kept (at most `capacity`)."""

    def __init__(self, fetch: CertificateFetcher = fetch_with_httpx, capacity: int = 32) -> None:
        self._fetch = fetch
        self._capacity = capacity
        self._cache: OrderedDict[str, x509.Certificate] = OrderedDict()
        self._lock = threading.Lock()

    def public_key(self, url: str, now: datetime) -> rsa.RSAPublicKey:
        certificate = self._certificate(url)
        now = as_utc(now)
        if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
            raise WebhookRejected(403, "signing certificate is not valid at this time")
        key = certificate.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise WebhookRejected(403, "signing certificate does not hold an RSA key")
        return key

    def _certificate(self, url: str) -> x509.Certificate:
        with self._lock:
            cached = self._cache.get(url)
            if cached is not None:
                self._cache.move_to_end(url)
                return cached
        # Fetched outside the lock: a slow certificate host must not stall other requests.
        try:
            pem = self._fetch(url)
        except (httpx.HTTPError, OSError) as error:
            raise WebhookRejected(503, f"could not fetch the signing certificate: {error}") from None
        try:
            certificate = x509.load_pem_x509_certificate(pem)
        except ValueError:
            raise WebhookRejected(403, "SigningCertURL does not hold a PEM certificate") from None
        with self._lock:
            self._cache[url] = certificate
            while len(self._cache) > self._capacity:
                self._cache.popitem(last=False)
        return certificate


DEFAULT_CERTIFICATES = SigningCertificates()


@dataclass(frozen=True)
class SnsMessage:
    type: str
    message_id: str
    topic_arn: str
    message: str
    timestamp: datetime
    subscribe_url: str | None


def verify_sns_message(
    headers: Mapping[str, str],
    body: bytes,
    settings: ProviderSettings,
    now: datetime,
    certificates: SigningCertificates,
) -> SnsMessage:
    """Check an SNS POST (certificate URL, topic, age, signature) and return its envelope."""
    envelope = require_object(parse_json(body), "body")
    message_type = require_text(envelope, "Type")
    if message_type not in _SIGNED_FIELDS:
        raise WebhookRejected(400, f"Type {message_type!r} is not an SNS message type")
    announced = header(headers, "x-amz-sns-message-type")
    if announced is not None and announced != message_type:
        raise WebhookRejected(400, "x-amz-sns-message-type header does not match Type")
    topic_arn = require_text(envelope, "TopicArn")
    if settings.sns_topic_arns and topic_arn not in settings.sns_topic_arns:
        raise WebhookRejected(403, f"TopicArn {topic_arn} is not one of the configured topics")
    timestamp = iso_to_datetime(require_text(envelope, "Timestamp"))
    if timestamp is None:
        raise WebhookRejected(400, "Timestamp is not an ISO 8601 instant")
    check_signed_at(timestamp, now)
    _verify_signature(envelope, message_type, settings, now, certificates)
    return SnsMessage(
        type=message_type,
        message_id=require_text(envelope, "MessageId"),
        topic_arn=topic_arn,
        message=require_text(envelope, "Message"),
        timestamp=timestamp,
        subscribe_url=envelope.get("SubscribeURL") if isinstance(envelope.get("SubscribeURL"), str) else None,
    )


def string_to_sign(envelope: Mapping[str, Any], message_type: str) -> bytes:
    """The bytes SNS signs for this message Type: `Name\\nValue\\n` for each signed field."""
    lines: list[str] = []
    for name in _SIGNED_FIELDS[message_type]:
        value = envelope.get(name)
        if value is None and name in _OPTIONAL_FIELDS:
            continue
        if not isinstance(value, str):
            raise WebhookRejected(400, f"{name} is missing or not a string")
        lines.append(f"{name}\n{value}\n")
    return "".join(lines).encode("utf-8")


def _verify_signature(
    envelope: Mapping[str, Any],
    message_type: str,
    settings: ProviderSettings,
    now: datetime,
    certificates: SigningCertificates,
) -> None:
    version = envelope.get("SignatureVersion")
    if version not in _HASHES:
        raise WebhookRejected(400, "SignatureVersion must be 1 or 2")
    cert_url = require_text(envelope, "SigningCertURL")
    if not re.fullmatch(settings.sns_cert_url_pattern, cert_url):
        raise WebhookRejected(403, f"certificate URL not allowed: {cert_url}")
    try:
        signature = base64.b64decode(require_text(envelope, "Signature"), validate=True)
    except binascii.Error:
        raise WebhookRejected(400, "Signature is not base64") from None
    signed = string_to_sign(envelope, message_type)
    key = certificates.public_key(cert_url, now)
    try:
        key.verify(signature, signed, padding.PKCS1v15(), _HASHES[version]())
    except InvalidSignature:
        raise WebhookRejected(401, "signature does not verify") from None
