"""SMS campaigns against a fake Twilio over HTTP: rejections, status callbacks, STOP/START replies, clicks;
unverifiable webhooks refused, and START taking back only the same number's own STOP."""

from __future__ import annotations

import re
from urllib.parse import urlencode

from fastapi.testclient import TestClient
from sqlalchemy import select

from fanhub.audience.consent import ConsentChange, LedgerEntry, should_apply, sms_start_change
from fanhub.audience.models import ConsentEvent, Contact
from fanhub.audience.service import change_consent
from fanhub.campaigns import tokens
from fanhub.campaigns.models import CampaignStats
from fanhub.campaigns.sending import run_campaign
from fanhub.campaigns.service import create_campaign, preview_campaign, schedule_campaign
from fanhub.config import Settings
from fanhub.db.base import utcnow
from fanhub.db.engine import Database
from tests.campaigns.conftest import EVENT_URL, PUBLIC_URL, add_contact, add_event, analytics
from tests.conftest import Tenant, make_tenant
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
    assert counters == {
        "recipients": 3,
        "delivered": 2,
        "undelivered": 1,
        "skipped": 0,
        "unknown": 0,
        "suppressed": 0,
        "deferred": 0,
    }

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


# --- inbound replies: only verified webhooks, and START takes back only the number's own STOP -----

PHONE = "+19705550101"


def _reply(body: str, sid: str, sender: str = PHONE) -> dict[str, str]:
    return {"From": sender, "To": "+15550001111", "Body": body, "MessageSid": sid}


def _sms_states(db: Database, *contact_ids: int) -> list[str]:
    with db.read() as session:
        return [session.get_one(Contact, contact_id).sms_status for contact_id in contact_ids]


def _sms_ledger(db: Database, contact_id: int) -> list[tuple[str, str, str]]:
    with db.read() as session:
        events = session.scalars(
            select(ConsentEvent)
            .where(ConsentEvent.contact_id == contact_id, ConsentEvent.channel == "sms")
            .order_by(ConsentEvent.id)
        )
        return [(e.status, e.via, e.source) for e in events]


def test_unverifiable_sms_webhooks_are_refused_in_outbox_mode(
    client: TestClient, db: Database, tenant: Tenant, outbox_env: Settings
) -> None:
    assert not outbox_env.sms_auth_token
    other = make_tenant(db, "Other Venue", "other")
    subscribed = add_contact(client, db, tenant, phone=PHONE, email_opt_in=None, sms_opt_in=True)
    opted_out = add_contact(client, db, other, phone=PHONE, email_opt_in=None, sms_opt_in=False)
    ledgers = [_sms_ledger(db, subscribed), _sms_ledger(db, opted_out)]

    for body in ("STOP", "START"):
        forged = urlencode(_reply(body, "SMforged"))
        assert client.post("/t/sms/inbound", content=forged, headers=FORM).status_code == 403
        # A signature made with any token proves nothing when fanhub has no token to check it against.
        assert _post_signed(client, "/t/sms/inbound", _reply(body, "SMforged"), "") == 403
    status_path = "/t/sms/status/" + tokens.make_token(tokens.SMS_STATUS, 1)
    status = {"MessageSid": "SM1", "MessageStatus": "undelivered"}
    assert client.post(status_path, content=urlencode(status), headers=FORM).status_code == 403

    assert _sms_states(db, subscribed, opted_out) == ["subscribed", "unsubscribed"]
    assert [_sms_ledger(db, subscribed), _sms_ledger(db, opted_out)] == ledgers


def test_start_without_that_numbers_stop_changes_nothing_anywhere(
    client: TestClient, db: Database, tenant: Tenant, campaign_env: Settings, twilio: FakeTwilio
) -> None:
    second, third = make_tenant(db, "Second", "second"), make_tenant(db, "Third", "third")
    unknown = add_contact(client, db, tenant, phone=PHONE, email_opt_in=None, sms_opt_in=None)
    partner_out = add_contact(client, db, second, phone=PHONE, email_opt_in=None, sms_opt_in=False)
    subscribed = add_contact(client, db, third, phone=PHONE, email_opt_in=None, sms_opt_in=True)
    ledgers = [_sms_ledger(db, c) for c in (unknown, partner_out, subscribed)]

    for n, word in enumerate(("START", "UNSTOP", "YES", "Subscribe")):
        assert _post_signed(client, "/t/sms/inbound", _reply(word, f"SMs{n}"), twilio.auth_token) == 200

    assert _sms_states(db, unknown, partner_out, subscribed) == ["unknown", "unsubscribed", "subscribed"]
    assert [_sms_ledger(db, c) for c in (unknown, partner_out, subscribed)] == ledgers


def test_stop_then_start_from_the_same_number_restores_each_organizations_state(
    client: TestClient, db: Database, tenant: Tenant, campaign_env: Settings, twilio: FakeTwilio
) -> None:
    other = make_tenant(db, "Other Venue", "other")
    fan = add_contact(client, db, tenant, phone=PHONE, email_opt_in=None, sms_opt_in=True)
    never = add_contact(client, db, other, phone=PHONE, email="fan@example.com", email_opt_in=True)
    assert _sms_states(db, fan, never) == ["subscribed", "unknown"]

    assert _post_signed(client, "/t/sms/inbound", _reply("stop", "SM1"), twilio.auth_token) == 200
    assert _sms_states(db, fan, never) == ["unsubscribed", "unsubscribed"]  # a STOP holds everywhere
    assert _sms_ledger(db, never)[-1] == ("unsubscribed", "sms_stop", f"sms:{PHONE}")

    # From another number, START does not touch this number's STOP.
    other_number = _reply("START", "SM2", sender="+19705550199")
    assert _post_signed(client, "/t/sms/inbound", other_number, twilio.auth_token) == 200
    assert _sms_states(db, fan, never) == ["unsubscribed", "unsubscribed"]

    assert _post_signed(client, "/t/sms/inbound", _reply("START", "SM3"), twilio.auth_token) == 200
    # The subscriber is back; the number that had never subscribed is back to unknown, not subscribed.
    assert _sms_states(db, fan, never) == ["subscribed", "unknown"]
    assert _sms_ledger(db, fan)[-1] == ("subscribed", "sms_start", f"sms:{PHONE}")
    assert _sms_ledger(db, never)[-1] == ("unknown", "sms_start", f"sms:{PHONE}")

    # A second START has no STOP left to take back.
    ledgers = [_sms_ledger(db, fan), _sms_ledger(db, never)]
    assert _post_signed(client, "/t/sms/inbound", _reply("START", "SM4"), twilio.auth_token) == 200
    assert [_sms_ledger(db, fan), _sms_ledger(db, never)] == ledgers


def test_start_never_lifts_an_opt_out_made_another_way(
    client: TestClient, db: Database, tenant: Tenant, campaign_env: Settings, twilio: FakeTwilio
) -> None:
    other = make_tenant(db, "Other Venue", "other")
    by_link = add_contact(client, db, tenant, phone=PHONE, email_opt_in=None, sms_opt_in=True)
    by_staff = add_contact(client, db, other, phone=PHONE, email_opt_in=None, sms_opt_in=True)
    with db.write() as session:
        link = ConsentChange("sms", False, "unsubscribe_link", "campaign:1", utcnow(), "page")
        change_consent(session, tenant.organization_id, by_link, link)
        staff = ConsentChange("sms", False, "staff", "staff:1", utcnow(), "false")
        change_consent(session, other.organization_id, by_staff, staff)

    # The STOP finds both already opted out (nothing of its own to record), so START has nothing to undo.
    assert _post_signed(client, "/t/sms/inbound", _reply("STOP", "SM1"), twilio.auth_token) == 200
    assert _post_signed(client, "/t/sms/inbound", _reply("START", "SM2"), twilio.auth_token) == 200
    assert _sms_states(db, by_link, by_staff) == ["unsubscribed", "unsubscribed"]
    assert _sms_ledger(db, by_link)[-1][1] == "unsubscribe_link"
    assert _sms_ledger(db, by_staff)[-1][1] == "staff"


def test_sms_start_rule_reads_only_the_numbers_own_stop_still_in_force() -> None:
    when = utcnow()
    own_stop = LedgerEntry("unsubscribed", "sms_stop", f"sms:{PHONE}")
    subscribed = LedgerEntry("subscribed", "contact.opt_ins", "partner:acme")
    change = sms_start_change(PHONE, [own_stop, subscribed], when, "start")
    assert change is not None and (change.subscribed, change.via, change.source) == (True, "sms_start", f"sms:{PHONE}")
    assert should_apply("unsubscribed", when, change)
    assert sms_start_change("+19705550199", [own_stop, subscribed], when) is None
    assert sms_start_change(PHONE, [LedgerEntry("unsubscribed", "sms_stop", "campaign:1"), subscribed], when) is None
    assert sms_start_change(PHONE, [subscribed], when) is None
    assert sms_start_change(PHONE, [], when) is None
    # The consent rules themselves refuse a START over "unknown", whoever builds it.
    assert not should_apply("unknown", None, ConsentChange("sms", True, "sms_start", f"sms:{PHONE}", when))
