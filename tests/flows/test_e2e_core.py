"""End to end: orders through the Partners API enroll contacts, the engine makes the step messages,
the campaign pipe sends them to a real SMTP server and the fake SMS provider (with tracking and
unsubscribe headers), an open attributes a later order to the flow's step, and the step campaigns
stay out of the campaign lists."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.campaigns.conftest import (  # noqa: F401
    add_contact,
    add_event,
    campaign_env,
    order,
    post_orders,
    smtp_server,
    twilio,
)
from tests.conftest import Tenant
from tests.fakes.sms import FakeTwilio
from tests.fakes.smtp import FakeSmtpServer
from tests.flows.core_helpers import SMS_STEP, document, flow_deliveries, make_flow, send_all, set_org, settle

from fanhub.campaigns import tracking
from fanhub.campaigns.models import Attribution, CampaignStats
from fanhub.config import Settings
from fanhub.db.base import utcnow
from fanhub.db.engine import Database

HUMAN = "Mozilla/5.0 (Macintosh) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari"
PHONE = "+19705550201"


def test_order_thank_you_by_email_and_sms_with_attribution(
    client: TestClient,
    db: Database,
    tenant: Tenant,
    campaign_env: Settings,  # noqa: F811
    smtp_server: FakeSmtpServer,  # noqa: F811
    twilio: FakeTwilio,  # noqa: F811
) -> None:
    set_org(db, tenant.organization_id, quiet_hours_start="00:00", quiet_hours_end="00:00")  # SMS at any hour
    event_id = add_event(client, db, tenant)
    ann = add_contact(client, db, tenant, "ann@example.com", PHONE, first_name="Ann", sms_opt_in=True)
    bob = add_contact(client, db, tenant, "bob@example.com", first_name="Bob")
    start = utcnow() - timedelta(minutes=1)
    email_step = {
        "type": "send",
        "channel": "email",
        "subject": "Thanks for {{ event_name }}",
        "body": '<p>Hi {{ first_name }}, see <a href="https://bellyupaspen.com/faq">the FAQ</a></p>',
    }
    flow_id = make_flow(db, tenant.organization_id, document({"type": "order_placed"}, email_step, SMS_STEP), at=start)
    now = utcnow()
    post_orders(
        client, db, tenant, order("o1", "ann@example.com", now, phone=PHONE), order("o2", "bob@example.com", now)
    )
    settle(db, utcnow())
    send_all(db)

    [to_ann] = smtp_server.to("ann@example.com")
    assert to_ann["Subject"] == "Thanks for The Head & The Heart"
    assert to_ann["List-Unsubscribe"] and "One-Click" in to_ann["List-Unsubscribe-Post"]
    html = to_ann.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "/t/c/" in html and "/t/o/" in html and "https://bellyupaspen.com/faq" not in html
    assert len(smtp_server.to("bob@example.com")) == 1
    [sms] = twilio.to(PHONE)
    assert "Reply STOP" in sms.body
    deliveries = flow_deliveries(db, flow_id)
    assert sorted((d["contact_id"], d["channel"], d["status"]) for d in deliveries) == sorted(
        [(ann, "email", "sent"), (ann, "sms", "sent"), (bob, "email", "sent")]
    )
    assert {d["event_id"] for d in deliveries} == {event_id}

    # Bob opens the flow email an hour after it went out, then buys two more tickets: the order is
    # credited to the flow's first step (last touch), like any campaign message. (Ann's last
    # message is the SMS, which only a click would make count.)
    email = next(d for d in deliveries if d["contact_id"] == bob)
    with db.write() as session:
        from fanhub.campaigns.models import Delivery

        delivery = session.get(
            Delivery,
            next(
                iter(
                    session.scalars(
                        select(Delivery.id).where(
                            Delivery.campaign_id == email["campaign_id"], Delivery.contact_id == bob
                        )
                    )
                )
            ),
        )
        assert delivery is not None and delivery.sent_at is not None
        opened_at = delivery.sent_at + timedelta(hours=1)
        tracking.record_open(session, delivery.id, HUMAN, None, opened_at)
    post_orders(
        client, db, tenant, order("o3", "bob@example.com", opened_at + timedelta(hours=1), quantity=2, total=90.0)
    )
    with db.read() as session:
        [credit] = session.scalars(select(Attribution)).all()
        assert (credit.campaign_id, credit.contact_id, credit.tickets, credit.revenue_cents) == (
            email["campaign_id"],
            bob,
            2,
            9000,
        )
        stats = session.get(CampaignStats, email["campaign_id"])
        assert stats is not None
        assert (stats.recipients, stats.delivered, stats.opens) == (2, 2, 1)
        assert (stats.attributed_orders, stats.attributed_tickets, stats.attributed_revenue) == (1, 2, 9000)

    # Step campaigns are the flow's, not campaigns of their own.
    listed = client.get("/v1/partners/campaigns/analytics", headers=tenant.headers).json()
    assert listed["response"] == []
