"""Campaign test helpers: a real SMTP server, a fake Twilio, settings pointing at them, and builders
that create contacts, events and orders through the Partners API (so the real apply path runs)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from fanhub.campaigns.models import Delivery
from fanhub.config import Settings, get_settings
from fanhub.db.engine import Database
from tests.conftest import Tenant, post_and_apply
from tests.fakes.sms import FakeTwilio
from tests.fakes.smtp import FakeSmtpServer

PUBLIC_URL = "http://testserver"


@pytest.fixture
def smtp_server() -> Iterator[FakeSmtpServer]:
    with FakeSmtpServer() as server:
        yield server


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio() as fake:
        yield fake


def _configure(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for name, value in env.items():
        monkeypatch.setenv(f"FANHUB_{name.upper()}", value)
    get_settings.cache_clear()
    return get_settings()


@pytest.fixture
def campaign_env(
    monkeypatch: pytest.MonkeyPatch, settings: Settings, smtp_server: FakeSmtpServer, twilio: FakeTwilio, tmp_path: Any
) -> Iterator[Settings]:
    """Settings with SMTP on the aiosmtpd server, SMS on the fake Twilio, tracking links on the TestClient host."""
    configured = _configure(
        monkeypatch,
        public_url=PUBLIC_URL,
        smtp_host=smtp_server.host,
        smtp_port=str(smtp_server.port),
        smtp_tls="none",
        mail_from="Belly Up <news@bellyup.example>",
        sms_base_url=twilio.origin,
        sms_account_sid=twilio.account_sid,
        sms_auth_token=twilio.auth_token,
        sms_from="+15550001111",
    )
    yield configured
    get_settings.cache_clear()


@pytest.fixture
def outbox_env(monkeypatch: pytest.MonkeyPatch, settings: Settings, tmp_path: Any) -> Iterator[Settings]:
    """No SMTP host and no SMS provider: messages go to the outbox beside the database (PostgreSQL:
    the working directory, here a temporary one)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FANHUB_SMTP_HOST", raising=False)
    monkeypatch.delenv("FANHUB_SMS_BASE_URL", raising=False)
    configured = _configure(monkeypatch, public_url=PUBLIC_URL)
    # Ids restart with every test's empty tables: start from an empty outbox too.
    shutil.rmtree(configured.data_dir / "outbox", ignore_errors=True)
    yield configured
    get_settings.cache_clear()


EVENT_URL = "https://bellyupaspen.com/head-and-the-heart/tickets"


def add_event(client: TestClient, db: Database, tenant: Tenant, external_id: str = "12345") -> int:
    from tests.examples import EVENTS, fresh

    body = fresh(EVENTS)
    body["events"][0]["id"] = external_id
    post_and_apply(client, db, tenant, "events", body)
    events = client.get("/v1/partners/events", params={"external_id": external_id}, headers=tenant.headers).json()
    return int(events["response"][0]["id"])


def add_contact(
    client: TestClient,
    db: Database,
    tenant: Tenant,
    email: str | None = None,
    phone: str | None = None,
    *,
    first_name: str | None = None,
    email_opt_in: bool | None = True,
    sms_opt_in: bool | None = None,
    tags: list[str] | None = None,
    genres: list[str] | None = None,
    list_id: int | None = None,
    interested_in: str | None = None,
) -> int:
    contact: dict[str, Any] = {k: v for k, v in (("email", email), ("phone", phone)) if v}
    if first_name:
        contact["first_name"] = first_name
    if tags:
        contact["tags"] = tags
    if genres:
        contact["genres"] = genres
    if list_id is not None:
        contact["list_id"] = list_id
    body: dict[str, Any] = {"contact": contact, "opt_ins": {"email": email_opt_in, "sms": sms_opt_in}}
    if interested_in:
        body["interested_in_event"] = {"event_id": interested_in, "ticketer": "eventbrite"}
    post_and_apply(client, db, tenant, "contact", body)
    params = {"email": email} if email else {"phone": phone}
    found = client.get("/v1/partners/contacts", params=params, headers=tenant.headers).json()["response"]
    return int(found[0]["id"])


def order(
    order_id: str,
    email: str | None,
    placed_at: datetime,
    *,
    phone: str | None = None,
    total: float = 40.0,
    quantity: int = 1,
    event_id: str = "12345",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "id": order_id,
        "event_id": event_id,
        "customer": {k: v for k, v in (("email", email), ("phone", phone)) if v},
        "marketing_opt_ins": {"email": None, "sms": None},
        "items": [{"ticket_type_name": "GA", "quantity": quantity, "total_price": total}],
        "created_at": placed_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        **extra,
    }


def post_orders(client: TestClient, db: Database, tenant: Tenant, *orders: dict[str, Any]) -> None:
    post_and_apply(client, db, tenant, "orders", {"orders": list(orders)})


def delivery_for(db: Database, campaign_id: int, contact_id: int) -> Delivery:
    with db.read() as session:
        delivery = session.scalars(
            select(Delivery).where(Delivery.campaign_id == campaign_id, Delivery.contact_id == contact_id)
        ).one()
        return delivery


def set_sent_at(db: Database, campaign_id: int, when: datetime) -> None:
    """Move a campaign's deliveries to a chosen delivery time (attribution tests control time)."""
    with db.write() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.campaign_id == campaign_id, Delivery.sent_at.is_not(None))
            .values(sent_at=when)
        )


def analytics(client: TestClient, tenant: Tenant, **params: Any) -> dict[int, dict[str, Any]]:
    response = client.get("/v1/partners/campaigns/analytics", params=params, headers=tenant.headers)
    assert response.status_code == 200, response.text
    return {row["campaign_id"]: row for row in response.json()["response"]}
