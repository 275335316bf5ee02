"""SMTP 4xx for one recipient: deferred with backoff, retried, and a soft bounce after 72 hours;
suppressed addresses never become recipients, nor get a message when suppressed mid-send."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from fanhub.audience import suppression
from fanhub.campaigns.models import DEFERRED, DELIVERED, FAILED, CampaignStats, Delivery, DeliveryFailure
from fanhub.campaigns.sending import run_campaign, send_slice
from fanhub.campaigns.sending.pipe import retry_delay
from fanhub.config import Settings
from fanhub.db.base import utcnow
from fanhub.db.engine import Database
from tests.campaigns.test_sending import _email_campaign, _statuses
from tests.conftest import Tenant
from tests.fakes.smtp import FakeSmtpServer


def _delivery(db: Database, campaign_id: int, address: str) -> Delivery:
    with db.read() as session:
        row = session.scalar(select(Delivery).where(Delivery.campaign_id == campaign_id, Delivery.address == address))
        assert row is not None
        session.expunge(row)
        return row


def test_backoff_doubles_up_to_six_hours() -> None:
    assert [retry_delay(n).total_seconds() for n in (1, 2, 3)] == [300, 600, 1200]
    assert retry_delay(20) == timedelta(hours=6)


def test_a_greylisted_recipient_is_retried_later_and_the_rest_go_on(
    client: TestClient, db: Database, tenant: Tenant, campaign_env: Settings, smtp_server: FakeSmtpServer
) -> None:
    campaign_id = _email_campaign(db, tenant, 3, client)
    smtp_server.refuse_recipient("fan01@example.com", "451 4.7.1 Greylisted, try again in 5 minutes")
    before = utcnow()
    first = send_slice(db, campaign_id, batch_size=10)
    assert (first.delivered, first.deferred, first.stopped) == (2, 1, None)  # the slice went on
    deferred = _delivery(db, campaign_id, "fan01@example.com")
    assert deferred.status == DEFERRED and deferred.deferred_since is not None
    assert deferred.next_attempt_at is not None
    assert timedelta(minutes=4) < deferred.next_attempt_at - before < timedelta(minutes=6)

    # --wait returns: everyone is delivered or has a retry scheduled; the campaign is still sending.
    counters = run_campaign(db, campaign_id)
    assert (counters["delivered"], counters["deferred"]) == (2, 1)
    assert _statuses(db, campaign_id) == {DELIVERED: 2, DEFERRED: 1}

    smtp_server.refuse.clear()
    with db.write() as session:  # the retry time comes
        session.execute(
            update(Delivery).where(Delivery.id == deferred.id).values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )
    counters = run_campaign(db, campaign_id)
    assert (counters["delivered"], counters["deferred"], counters["undelivered"]) == (3, 0, 0)
    assert [r.rcpt_tos for r in smtp_server.received()].count(["fan01@example.com"]) == 1


def test_still_deferred_after_72_hours_is_a_soft_bounce(
    client: TestClient, db: Database, tenant: Tenant, campaign_env: Settings, smtp_server: FakeSmtpServer
) -> None:
    campaign_id = _email_campaign(db, tenant, 2, client)
    smtp_server.refuse_recipient("fan00@example.com", "452 4.2.2 Mailbox full")
    send_slice(db, campaign_id, batch_size=10)
    deferred = _delivery(db, campaign_id, "fan00@example.com")
    with db.write() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.id == deferred.id)
            .values(deferred_since=utcnow() - timedelta(hours=73), next_attempt_at=utcnow() - timedelta(seconds=1))
        )
    counters = run_campaign(db, campaign_id)
    assert (counters["delivered"], counters["undelivered"], counters["deferred"]) == (1, 1, 0)
    assert _delivery(db, campaign_id, "fan00@example.com").status == FAILED
    with db.read() as session:
        failure = session.scalar(select(DeliveryFailure).where(DeliveryFailure.delivery_id == deferred.id))
        assert failure is not None and failure.kind == "smtp_deferred" and failure.code == "452"


def test_suppressed_addresses_are_never_recipients_nor_sent_mid_campaign(
    client: TestClient, db: Database, tenant: Tenant, campaign_env: Settings, smtp_server: FakeSmtpServer
) -> None:
    org = tenant.organization_id
    with db.write() as session:
        assert suppression.suppress(session, org, "FAN01@example.com", suppression.HARD_BOUNCE, "test")
        assert not suppression.suppress(session, org, "fan01@example.com", suppression.MANUAL, "test")  # kept once
    campaign_id = _email_campaign(db, tenant, 4, client)
    with db.write() as session:  # suppressed after the recipient list was fixed
        suppression.suppress(session, org, "fan02@example.com", suppression.COMPLAINT, "test")
    counters = run_campaign(db, campaign_id)
    assert sorted(r.rcpt_tos[0] for r in smtp_server.received()) == ["fan00@example.com", "fan03@example.com"]
    assert (counters["recipients"], counters["delivered"], counters["skipped"]) == (3, 2, 1)
    with db.read() as session:
        stats = session.get(CampaignStats, campaign_id)
        assert stats is not None and stats.suppressed == 2  # one left out at the start, one skipped


def test_a_test_send_skips_suppressed_addresses_and_refuses_when_none_is_left(
    client: TestClient, db: Database, tenant: Tenant, campaign_env: Settings, smtp_server: FakeSmtpServer
) -> None:
    from fanhub.campaigns.service import send_test
    from fanhub.errors import InvalidInput
    from tests.campaigns.test_lifecycle import _draft

    org = tenant.organization_id
    with db.write() as session:
        suppression.suppress(session, org, "bounced@venue.example", suppression.HARD_BOUNCE, "test")
    campaign_id = _draft(db, tenant)
    result = send_test(db, org, campaign_id, to="Bounced@venue.example, staff@venue.example")
    assert (result.to, result.suppressed) == (["staff@venue.example"], ["bounced@venue.example"])
    assert [r.rcpt_tos for r in smtp_server.received()] == [["staff@venue.example"]]
    with pytest.raises(InvalidInput, match="on the suppression list") as refused:
        send_test(db, org, campaign_id, to="bounced@venue.example")
    assert refused.value.errors[0]["field"] == "to"
    assert len(smtp_server.received()) == 1


def test_a_suppressed_address_that_buys_again_stays_suppressed(
    client: TestClient, db: Database, tenant: Tenant, campaign_env: Settings, smtp_server: FakeSmtpServer
) -> None:
    """An order, even one opting in to email, neither lifts a suppression nor gets the buyer mail."""
    from tests.conftest import post_and_apply
    from tests.examples import EVENTS, fresh, order

    org = tenant.organization_id
    with db.write() as session:
        suppression.suppress(session, org, "buyer@example.com", suppression.HARD_BOUNCE, "test")
    post_and_apply(client, db, tenant, "events", fresh(EVENTS))
    orders = [order("o1", "buyer@example.com", opt_in_email=True), order("o2", "other@example.com", opt_in_email=True)]
    post_and_apply(client, db, tenant, "orders", {"orders": orders})
    with db.read() as session:
        assert suppression.is_suppressed(session, org, "buyer@example.com")
    campaign_id = _email_campaign(db, tenant, 0, client)
    run_campaign(db, campaign_id)
    assert [r.rcpt_tos for r in smtp_server.received()] == [["other@example.com"]]
    with db.read() as session:
        stats = session.get(CampaignStats, campaign_id)
        assert stats is not None and stats.suppressed == 1
