"""The pipe against a scripted transport: each provider outcome becomes its delivery state, and the
per-provider rate limit comes from `fanhub.config.Settings`."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from fanhub.campaigns.models import Campaign, CampaignStats, Delivery, DeliveryFailure
from fanhub.campaigns.sending import Ambiguous, Message, Rejected, Transports, run_campaign, send_slice, start_due
from fanhub.campaigns.service import create_campaign, schedule_campaign
from fanhub.config import Settings, get_settings
from fanhub.db.engine import Database
from tests.campaigns.conftest import add_contact
from tests.conftest import Tenant


class ScriptedTransport:
    """Answers each pushed message with the next scripted outcome: a provider id, or an exception to raise."""

    name = "scripted"

    def __init__(self, *outcomes: str | Exception | None) -> None:
        self.outcomes = list(outcomes)
        self.pushed: list[Message] = []

    def push(self, message: Message) -> str | None:
        self.pushed.append(message)
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def close(self) -> None:
        pass


def _campaign(db: Database, tenant: Tenant, client: TestClient, n: int) -> int:
    for i in range(n):
        add_contact(client, db, tenant, f"fan{i}@example.com", first_name=f"Fan{i}")
    with db.write() as session:
        campaign = create_campaign(
            session, tenant.organization_id, type="email", name="N", subject="Hi", body="Hello {{ first_name }}"
        )
        schedule_campaign(session, tenant.organization_id, campaign.id)
        assert start_due(session) == [campaign.id]
        return campaign.id


def test_each_outcome_becomes_its_delivery_state(
    client: TestClient, db: Database, tenant: Tenant, outbox_env: Settings
) -> None:
    campaign_id = _campaign(db, tenant, client, 3)
    transport = ScriptedTransport("prov-1", Rejected("smtp_rejected", "550", "no such user"), Ambiguous("lost"))
    result = send_slice(db, campaign_id, transports=Transports(email=transport), batch_size=10)
    assert (result.reserved, result.delivered, result.failed, result.unknown) == (3, 1, 1, 1)

    first = transport.pushed[0]
    assert (first.campaign_id, first.to, first.sender) == (campaign_id, "fan0@example.com", "no-reply@localhost")
    assert first.message_id is not None and b"Hello Fan0" in first.body
    with db.read() as session:
        query = select(Delivery.address, Delivery.status).where(Delivery.campaign_id == campaign_id)
        rows = {address: status for address, status in session.execute(query)}
        assert rows == {"fan0@example.com": "sent", "fan1@example.com": "failed", "fan2@example.com": "unknown"}
        provider_id = session.scalar(select(Delivery.provider_id).where(Delivery.address == "fan0@example.com"))
        assert provider_id == "prov-1"
        failure = session.scalars(select(DeliveryFailure)).one()
        assert (failure.kind, failure.code, failure.detail) == ("smtp_rejected", "550", "no such user")
        stats = session.get(CampaignStats, campaign_id)
        assert stats is not None and (stats.undelivered, stats.unknown) == (1, 1)

    assert send_slice(db, campaign_id, transports=Transports(email=transport)).finished
    with db.read() as session:
        assert session.get(Campaign, campaign_id).status == "sent"  # type: ignore[union-attr]


def test_provider_rate_limit_comes_from_settings(
    client: TestClient, db: Database, tenant: Tenant, outbox_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FANHUB_SMTP_PER_SECOND", "20")
    get_settings.cache_clear()
    assert get_settings().smtp_per_second == 20
    campaign_id = _campaign(db, tenant, client, 5)
    transport = ScriptedTransport()
    started = time.monotonic()
    assert run_campaign(db, campaign_id, transports=Transports(email=transport))["delivered"] == 5
    assert time.monotonic() - started >= 0.2  # five messages paced at 20/s: at least four intervals of 0.05 s
    assert len(transport.pushed) == 5
    with db.read() as session:
        assert session.scalar(select(func.count()).where(Delivery.status == "sent")) == 5
