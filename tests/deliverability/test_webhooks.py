"""Provider webhooks and the inbound endpoint through the HTTP app: each provider's signed events
apply to the right delivery; forged, unsigned and replayed requests change nothing."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from fanhub.audience import suppression
from fanhub.campaigns.models import Delivery
from fanhub.campaigns.sending import run_campaign
from fanhub.campaigns.sending.trace import delivery_token
from fanhub.config import Settings, get_settings
from fanhub.db.engine import Database
from fanhub.deliverability.models import Bounce
from tests.campaigns.conftest import add_contact, campaign_env, smtp_server, twilio  # noqa: F401 (fixtures)
from tests.conftest import Tenant
from tests.deliverability.provider_signing import (
    LOCAL_SNS_CERT_URL_PATTERN,
    SendGridKeys,
    SimpleEvent,
    SimpleKind,
    mailgun_requests,
    postmark_requests,
    sendgrid_request,
    ses_requests,
    sns_certificate_server,
)
from tests.deliverability.test_apply import BOUNCES, _campaign, bounce_env, dsn  # noqa: F401 (fixture)

MAILGUN_KEY = "key-mailgun-signing-0123456789"
POSTMARK = "fanhub:postmark-secret"


def _sent(client: TestClient, db: Database, tenant: Tenant, n: int) -> dict[str, str]:
    """A sent campaign to fan00..; each address's delivery token."""
    for i in range(n):
        add_contact(client, db, tenant, f"fan{i:02d}@example.com", first_name=f"Fan{i}")
    run_campaign(db, _campaign(db, tenant, "News"))
    with db.read() as session:
        return {d.address: delivery_token(d.id) for d in session.scalars(select(Delivery))}


def _bounces(db: Database) -> int:
    with db.read() as session:
        return int(session.scalar(select(func.count()).select_from(Bounce)) or 0)


def test_each_provider_signed_events_apply_once_and_forgeries_change_nothing(
    client: TestClient,
    db: Database,
    tenant: Tenant,
    bounce_env: Settings,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mp = monkeypatch
    keys = SendGridKeys.generate()
    mp.setenv("FANHUB_SENDGRID_WEBHOOK_PUBLIC_KEY", keys.public_key_base64)
    mp.setenv("FANHUB_MAILGUN_WEBHOOK_SIGNING_KEY", MAILGUN_KEY)
    mp.setenv("FANHUB_POSTMARK_WEBHOOK_CREDENTIALS", POSTMARK)
    mp.setenv("FANHUB_SNS_CERT_URL_PATTERN", LOCAL_SNS_CERT_URL_PATTERN)
    get_settings.cache_clear()
    tokens = _sent(client, db, tenant, 5)

    def event(kind: SimpleKind, n: int) -> list[SimpleEvent]:
        address = f"fan{n:02d}@example.com"
        return [SimpleEvent(kind, address, delivery_ref=tokens[address])]

    def post(provider: str, headers: dict[str, str], body: bytes) -> dict[str, object]:
        response = client.post(f"/v1/webhooks/email/{provider}", content=body, headers=headers)
        return {"status": response.status_code, **response.json()}

    # SendGrid: a hard bounce for fan00 echoing fanhub's token; a forged copy first.
    request = sendgrid_request(
        [SimpleEvent("hard", "fan00@example.com", delivery_ref=tokens["fan00@example.com"])], keys
    )
    forged = post("sendgrid", request.headers, request.body.replace(b"fan00", b"fan01"))
    assert forged["status"] in (401, 403) and _bounces(db) == 0
    assert post("sendgrid", request.headers, request.body)["hard"] == 1
    assert post("sendgrid", request.headers, request.body)["duplicates"] == 1  # replayed: nothing twice

    # Mailgun: a complaint for fan01; a wrong signing key is refused.
    (good,) = mailgun_requests(
        [SimpleEvent("complaint", "fan01@example.com", delivery_ref=tokens["fan01@example.com"])], MAILGUN_KEY
    )
    (bad,) = mailgun_requests([SimpleEvent("complaint", "fan02@example.com")], "not-the-key")
    answer = post("mailgun", bad.headers, bad.body)
    assert answer["status"] in (401, 403), answer
    assert post("mailgun", good.headers, good.body)["complaints"] == 1

    # Postmark: a hard bounce for fan02; wrong Basic credentials are refused.
    (mark,) = postmark_requests(
        [SimpleEvent("hard", "fan02@example.com", delivery_ref=tokens["fan02@example.com"])], POSTMARK
    )
    (wrong,) = postmark_requests([SimpleEvent("hard", "fan03@example.com")], "fanhub:guess")
    assert post("postmark", wrong.headers, wrong.body)["status"] == 401
    assert post("postmark", mark.headers, mark.body)["hard"] == 1

    # SES through SNS: a soft bounce for fan03, signed with a certificate served locally.
    with sns_certificate_server() as signer:
        (ses,) = ses_requests(
            [SimpleEvent("soft", "fan03@example.com", delivery_ref=tokens["fan03@example.com"])], signer
        )
        assert post("ses", ses.headers, ses.body)["soft"] == 1
        tampered = ses.body.replace(b"fan03", b"fan04")
        assert post("ses", ses.headers, tampered)["status"] in (401, 403)

    assert post("unknown", {}, b"{}")["status"] == 404
    with db.read() as session:
        listed = {s.address: s.reason for s in suppression.page(session, tenant.organization_id)[0]}
    assert listed == {
        "fan00@example.com": "hard_bounce",
        "fan01@example.com": "complaint",
        "fan02@example.com": "hard_bounce",
    }
    assert _bounces(db) == 4


def test_inbound_endpoint_needs_its_token(
    client: TestClient,
    db: Database,
    tenant: Tenant,
    bounce_env: Settings,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mp = monkeypatch
    message = dsn(BOUNCES, "fan00@example.com", "5.1.1", "550 5.1.1 User unknown")
    assert client.post("/v1/inbound/bounces", content=message).status_code == 503  # not configured
    mp.setenv("FANHUB_INBOUND_TOKEN", "inbound-secret-token")
    get_settings.cache_clear()
    _sent(client, db, tenant, 1)
    refused = client.post("/v1/inbound/bounces", content=message, headers={"Authorization": "Bearer nope"})
    assert refused.status_code == 401 and "FANHUB_INBOUND_TOKEN" in refused.json()["message"]
    assert _bounces(db) == 0
    accepted = client.post(
        "/v1/inbound/bounces", content=message, headers={"Authorization": "Bearer inbound-secret-token"}
    )
    assert accepted.status_code == 200 and accepted.json()["hard"] == 1
    with db.read() as session:
        assert suppression.is_suppressed(session, tenant.organization_id, "fan00@example.com")
