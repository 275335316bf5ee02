"""Sending mechanics: crash and resume, unsubscribes during a send, provider outages, rate limits, outboxes."""

from __future__ import annotations

import json
import time
from email import message_from_bytes, policy

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from fanhub.audience.models import Contact
from fanhub.campaigns.models import (
    DELIVERED,
    PENDING,
    RESERVED,
    UNKNOWN,
    Campaign,
    CampaignStats,
    Delivery,
)
from fanhub.campaigns.sending import Message, SmtpTransport, Transports, run_campaign, send_slice, start_due
from fanhub.campaigns.service import create_campaign, schedule_campaign
from fanhub.config import Settings, get_settings
from fanhub.db.engine import Database
from tests.campaigns.conftest import add_contact
from tests.conftest import Tenant
from tests.fakes.smtp import FakeSmtpServer


class Crash(BaseException):
    """Stands in for the worker process dying: not an Exception, so no handler in the sender catches it."""


class CrashingTransport:
    """Delegates to real SMTP and 'dies' around message number `at` (1-based)."""

    name = "smtp"

    def __init__(self, inner: SmtpTransport, at: int, after_send: bool) -> None:
        self.inner, self.at, self.after_send, self.count = inner, at, after_send, 0

    def push(self, message: Message) -> str | None:
        self.count += 1
        if self.count == self.at and not self.after_send:
            raise Crash
        result = self.inner.push(message)
        if self.count == self.at:
            raise Crash  # the server has the message; our process never learns it
        return result

    def close(self) -> None:
        self.inner.close()


def _email_campaign(db: Database, tenant: Tenant, n: int, client: TestClient, **kwargs: object) -> int:
    for i in range(n):
        add_contact(client, db, tenant, f"fan{i:02d}@example.com", first_name=f"Fan{i}")
    with db.write() as session:
        campaign = create_campaign(
            session, tenant.organization_id, type="email", name="News", subject="News", body="Hello {{ first_name }}"
        )
        schedule_campaign(session, tenant.organization_id, campaign.id)
        started = start_due(session)
        assert started == [campaign.id]
        return campaign.id


def _statuses(db: Database, campaign_id: int) -> dict[str, int]:
    with db.read() as session:
        rows = session.execute(
            select(Delivery.status, func.count()).where(Delivery.campaign_id == campaign_id).group_by(Delivery.status)
        )
        return {status: count for status, count in rows}


@pytest.mark.parametrize("after_send", [True, False], ids=["crash-after-server-accepted", "crash-before-send"])
def test_crash_mid_send_resumes_without_duplicates(
    client: TestClient,
    db: Database,
    tenant: Tenant,
    campaign_env: Settings,
    smtp_server: FakeSmtpServer,
    after_send: bool,
) -> None:
    campaign_id = _email_campaign(db, tenant, 10, client)
    crashing = CrashingTransport(SmtpTransport(smtp_server.host, smtp_server.port), at=4, after_send=after_send)
    with pytest.raises(Crash):
        send_slice(db, campaign_id, transports=Transports(email=crashing), batch_size=10)
    crashing.close()
    # Claimed before the provider call: 3 marked sent (written with the 4th claim), the 4th in the
    # provider's hands, 6 reserved and never attempted.
    assert _statuses(db, campaign_id) == {DELIVERED: 3, "sending": 1, RESERVED: 6}

    # A new worker takes over once the dead one's lease is up (here: at once).
    resumed = send_slice(db, campaign_id, batch_size=10, lease_seconds=0)
    assert resumed.delivered == 6
    run_campaign(db, campaign_id)
    assert _statuses(db, campaign_id) == {DELIVERED: 9, UNKNOWN: 1}

    per_recipient: dict[str, int] = {}
    for message in smtp_server.received():
        for rcpt in message.rcpt_tos:
            per_recipient[rcpt] = per_recipient.get(rcpt, 0) + 1
    assert max(per_recipient.values()) == 1  # nobody got two messages
    # At-most-once: the 4th recipient got it only if the server had accepted it before the crash.
    assert len(per_recipient) == (10 if after_send else 9)
    with db.read() as session:
        stats = session.get(CampaignStats, campaign_id)
        assert stats is not None and (stats.delivered, stats.unknown) == (9, 1)
        assert session.get(Campaign, campaign_id).status == "sent"  # type: ignore[union-attr]


@pytest.mark.parametrize("connections", [1, 2])
def test_unsubscribed_during_send_is_skipped_and_outage_is_retried(
    client: TestClient,
    db: Database,
    tenant: Tenant,
    campaign_env: Settings,
    smtp_server: FakeSmtpServer,
    monkeypatch: pytest.MonkeyPatch,
    connections: int,
) -> None:
    monkeypatch.setenv("FANHUB_CAMPAIGN_SEND_CONNECTIONS", str(connections))
    get_settings.cache_clear()
    campaign_id = _email_campaign(db, tenant, 4, client)
    with db.write() as session:
        session.execute(update(Contact).where(Contact.email == "fan01@example.com").values(email_status="unsubscribed"))
    # 421: the server is going away (not this recipient's deferral, see test_deferral.py): an outage.
    smtp_server.refuse_recipient("fan02@example.com", "421 4.3.0 Service shutting down")
    first = send_slice(db, campaign_id, batch_size=10)
    if connections == 1:
        # fan00 sent, fan01 skipped, fan02 not taken (back to pending), fan03 handed back too.
        assert (first.delivered, first.skipped, first.retry) == (1, 1, 1) and first.stopped
        assert _statuses(db, campaign_id) == {DELIVERED: 1, "skipped": 1, PENDING: 2}
    else:
        # fan03 was already on the second connection when fan02 was deferred: it keeps its real outcome.
        assert (first.delivered, first.skipped, first.retry) == (2, 1, 1) and first.stopped
        assert _statuses(db, campaign_id) == {DELIVERED: 2, "skipped": 1, PENDING: 1}
    smtp_server.refuse.clear()
    counters = run_campaign(db, campaign_id)
    assert counters == {
        "recipients": 4,
        "delivered": 3,
        "undelivered": 0,
        "skipped": 1,
        "unknown": 0,
        "suppressed": 0,
        "deferred": 0,
    }
    assert sorted(r.rcpt_tos[0] for r in smtp_server.received()) == [
        "fan00@example.com",
        "fan02@example.com",
        "fan03@example.com",
    ]


def test_per_campaign_rate_limit(
    client: TestClient, db: Database, tenant: Tenant, campaign_env: Settings, smtp_server: FakeSmtpServer
) -> None:
    campaign_id = _email_campaign(db, tenant, 6, client)
    with db.write() as session:
        session.execute(
            update(CampaignStats).where(CampaignStats.campaign_id == campaign_id).values(send_per_second=10)
        )
    started = time.monotonic()
    run_campaign(db, campaign_id)
    elapsed = time.monotonic() - started
    assert len(smtp_server.received()) == 6
    assert elapsed >= 0.5  # six messages paced at 10/s: at least five intervals of 0.1 s


def test_outbox_without_smtp_host(client: TestClient, db: Database, tenant: Tenant, outbox_env: Settings) -> None:
    campaign_id = _email_campaign(db, tenant, 2, client)
    counters = run_campaign(db, campaign_id)
    assert counters["delivered"] == 2
    folder = outbox_env.data_dir / "outbox" / f"campaign-{campaign_id}"
    files = sorted(folder.glob("*.eml"))
    assert len(files) == 2
    message = message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert message["To"] == "Fan0 <fan00@example.com>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    body = message.get_body(preferencelist=("plain",))
    assert body is not None and "Hello Fan0" in str(body.get_content())


def test_sms_outbox_file(client: TestClient, db: Database, tenant: Tenant, outbox_env: Settings) -> None:
    add_contact(client, db, tenant, phone="+19705550101", first_name="Sam", email_opt_in=None, sms_opt_in=True)
    with db.write() as session:
        campaign = create_campaign(
            session, tenant.organization_id, type="sms", name="Text", body="Hi {{ first_name }} https://x.example/a"
        )
        schedule_campaign(session, tenant.organization_id, campaign.id)
    assert run_campaign(db, campaign.id)["delivered"] == 1
    lines = (outbox_env.data_dir / "outbox" / "sms.jsonl").read_text().splitlines()
    record = json.loads(lines[-1])
    assert record["to"] == "+19705550101"
    assert record["body"].startswith("Hi Sam http://testserver/t/c/") and "Reply STOP" in record["body"]


def test_worker_jobs_start_due_and_send(
    client: TestClient, db: Database, tenant: Tenant, campaign_env: Settings, smtp_server: FakeSmtpServer
) -> None:
    from datetime import timedelta

    from fanhub.campaigns.jobs import send_next_slice, start_due_campaigns
    from fanhub.db.base import utcnow
    from fanhub.worker import load_jobs

    assert {"campaigns.start_due", "campaigns.send"} <= set(load_jobs())
    add_contact(client, db, tenant, "ann@example.com")
    with db.write() as session:
        later = create_campaign(session, tenant.organization_id, type="email", name="L", subject="S", body="x")
        now = create_campaign(session, tenant.organization_id, type="email", name="N", subject="S", body="y")
        schedule_campaign(session, tenant.organization_id, later.id, utcnow() + timedelta(hours=1))
        schedule_campaign(session, tenant.organization_id, now.id, utcnow() - timedelta(seconds=1))
    assert start_due_campaigns(db) is True
    assert start_due_campaigns(db) is False  # the future one waits
    while send_next_slice(db):
        pass
    with db.read() as session:
        assert session.get(Campaign, now.id).status == "sent"  # type: ignore[union-attr]
        assert session.get(Campaign, later.id).status == "scheduled"  # type: ignore[union-attr]
    assert len(smtp_server.received()) == 1
