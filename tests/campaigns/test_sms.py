"""SMS campaigns against a fake Twilio over HTTP: rejections, status callbacks, STOP/START replies, clicks."""

from __future__ import annotations

import re
from urllib.parse import urlencode

from fastapi.testclient import TestClient
from sqlalchemy import select

from fanhub.audience.models import ConsentEvent, Contact
from fanhub.campaigns.models import CampaignStats
from fanhub.campaigns.sending import run_campaign
from fanhub.campaigns.service import create_campaign, preview_campaign, schedule_campaign
from fanhub.config import Settings
from fanhub.db.engine import Database
from tests.campaigns.conftest import EVENT_URL, PUBLIC_URL, add_contact, add_event, analytics
from tests.conftest import Tenant
from tests.fakes.sms import FakeTwilio, signature

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _post_signed(client: TestClient, path: str, params: dict[str, str], token: str) -> int:
    headers = FORM | {"X-Twilio-Signature": signature(token, PUBLIC_URL + path, params)}
    return client.post(path, content=urlencode(params), headers=headers).status_code


def test_sms_campaign_with_provider(
    client: TestClient, db: Database, tenant: Tenant, campaign_env: Settings, twilio: FakeTwilio
) -> None:
    org = tenant.organization_id
    event_id = add_event(client, db, tenant)
    add_contact(client, db, tenant, phone="+19705550101", first_name="Sam", email_opt_in=None, sms_opt_in=True)
    add_contact(client, db, tenant, phone="+19705550102", first_name="Kim", email_opt_in=None, sms_opt_in=True)
    add_contact(client, db, tenant, phone="+19705550103", first_name="Lou", email_opt_in=None, sms_opt_in=True)
    add_contact(client, db, tenant, phone="+19705550104", email_opt_in=None, sms_opt_in=False)
    add_contact(client, db, tenant, "mail-only@example.com")  # no phone: never an SMS recipient
    twilio.invalid.add("+19705550103")

    with db.write() as session:
        campaign = create_campaign(
            session,
            org,
            type="sms",
            name="Text blast",
            body="{{ first_name }}: {{ event_name }} tickets at {{ event_url }}. Reply STOP to opt out",
            event_id=event_id,
        )
        campaign_id = campaign.id
    with db.read() as session:
        assert preview_campaign(session, org, campaign_id)["audience"] == {"email": 1, "sms": 3}
    with db.write() as session:
        schedule_campaign(session, org, campaign_id)
    counters = run_campaign(db, campaign_id)
    assert counters == {"recipients": 3, "delivered": 2, "undelivered": 1, "skipped": 0, "unknown": 0}

    (sam_sms,) = twilio.to("+19705550101")
    (kim_sms,) = twilio.to("+19705550102")
    assert sam_sms.sender == "+15550001111"
    assert sam_sms.body.startswith("Sam: The Head & The Heart tickets at http://testserver/t/c/")
    assert sam_sms.body.count("STOP") == 1  # the template's own opt-out line is not doubled
    (link,) = re.findall(r"http://testserver/t/c/\S+?(?=\.? )", sam_sms.body)
    for _ in range(2):
        response = client.get(link[len(PUBLIC_URL) :], follow_redirects=False)
        assert response.status_code == 302 and response.headers["location"] == EVENT_URL

    # Kim's carrier reports the message undelivered (signed with the account's token, as Twilio does).
    assert kim_sms.status_callback is not None
    callback = kim_sms.status_callback[len(PUBLIC_URL) :]
    params = {"MessageSid": kim_sms.sid, "MessageStatus": "undelivered", "ErrorCode": "30003"}
    assert _post_signed(client, callback, params, "wrong-token") == 403
    assert _post_signed(client, callback, params, twilio.auth_token) == 204
    assert _post_signed(client, callback, params, twilio.auth_token) == 204  # repeated callback counts once

    # Sam replies STOP: unsubscribed through the consent rules, credited to this campaign.
    inbound = {"From": "+19705550101", "To": "+15550001111", "Body": " Stop ", "MessageSid": "SMin1"}
    assert _post_signed(client, "/t/sms/inbound", inbound, "forged") == 403
    assert _post_signed(client, "/t/sms/inbound", inbound, twilio.auth_token) == 200
    with db.read() as session:
        sam = session.scalars(select(Contact).where(Contact.phone == "+19705550101")).one()
        assert sam.sms_status == "unsubscribed"
        vias = [e.via for e in session.scalars(select(ConsentEvent).where(ConsentEvent.contact_id == sam.id))]
        assert vias[-1] == "sms_stop"

    rows = analytics(client, tenant, type="sms")
    row = rows[campaign_id]
    assert (row["num_recipients"], row["num_links_clicked"], row["num_unsubscribes"], row["num_undelivered"]) == (
        3,
        1,
        1,
        2,  # Lou rejected by the API (21211), Kim undelivered by the carrier
    )
    assert row["num_opens"] == 0  # SMS has no opens
    with db.read() as session:
        stats = session.get(CampaignStats, campaign_id)
        assert stats is not None and stats.delivered == 1

    # START re-subscribes (an explicit opt-in, allowed over an opt-out by the consent rules).
    start = inbound | {"Body": "START", "MessageSid": "SMin2"}
    assert _post_signed(client, "/t/sms/inbound", start, twilio.auth_token) == 200
    with db.read() as session:
        sam = session.scalars(select(Contact).where(Contact.phone == "+19705550101")).one()
        assert sam.sms_status == "subscribed"
        last = session.scalars(
            select(ConsentEvent).where(ConsentEvent.contact_id == sam.id).order_by(ConsentEvent.id.desc())
        ).first()
        assert last is not None and last.via == "sms_start"
    assert analytics(client, tenant)[campaign_id]["num_unsubscribes"] == 1
