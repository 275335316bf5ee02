"""An email campaign end to end: segment, preview, SMTP delivery to a real server, then the
recipient's side (pixel, links, unsubscribe) over HTTP, and the analytics the API reports."""

from __future__ import annotations

import re
from datetime import timedelta
from email.message import EmailMessage

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from fanhub.audience.models import ConsentEvent, Contact
from fanhub.audience.service import create_tag
from fanhub.campaigns import tokens
from fanhub.campaigns.models import CampaignLink, Delivery
from fanhub.campaigns.sending import run_campaign
from fanhub.campaigns.service import create_campaign, preview_campaign, schedule_campaign
from fanhub.config import Settings
from fanhub.db.base import utcnow
from fanhub.db.engine import Database
from tests.campaigns.conftest import EVENT_URL, PUBLIC_URL, add_contact, add_event, analytics, delivery_for
from tests.conftest import Tenant
from tests.fakes.smtp import FakeSmtpServer

BODY = """<html><body>
<p>Hi {{ first_name or "friend" }},</p>
<p>{{ event_name }} plays {{ venue }} on {{ event_date }}.</p>
<p><a href="{{ event_url }}">Get tickets</a> or see the <a href="https://bellyupaspen.com/calendar?a=1&b=2">calendar</a>.</p>
</body></html>"""

BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.0"


def _html(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


def _text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def _path(url: str) -> str:
    assert url.startswith(PUBLIC_URL + "/t/"), url
    return url[len(PUBLIC_URL) :]


def test_email_campaign_end_to_end(
    client: TestClient, db: Database, tenant: Tenant, campaign_env: Settings, smtp_server: FakeSmtpServer
) -> None:
    org = tenant.organization_id
    event_id = add_event(client, db, tenant)
    with db.write() as session:
        create_tag(session, org, "VIP")
    ann = add_contact(client, db, tenant, "ann@example.com", first_name="Ann", tags=["VIP"])
    ben = add_contact(client, db, tenant, "ben@example.com", first_name="Ben", tags=["VIP"])
    add_contact(client, db, tenant, "cat@example.com", first_name="Cat", tags=["VIP"], email_opt_in=False)
    add_contact(client, db, tenant, "dan@example.com", first_name="Dan")  # not VIP
    add_contact(client, db, tenant, "bad@example.com", tags=["VIP"])
    smtp_server.refuse_recipient("bad@example.com")

    with db.write() as session:
        campaign = create_campaign(
            session,
            org,
            type="email",
            name="On sale",
            subject="{{ first_name }}, {{ event_name }} is on sale",
            body=BODY,
            audience={"tags": ["VIP"]},
            event_id=event_id,
        )
        campaign_id = campaign.id
    with db.read() as session:
        preview = preview_campaign(session, org, campaign_id)
    assert preview["recipients"] == 3  # ann, ben, bad: cat opted out, dan is not VIP
    assert preview["sample"]["subject"] == "Ann, The Head & The Heart is on sale"

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

    received = smtp_server.received()
    assert sorted(r.rcpt_tos[0] for r in received) == ["ann@example.com", "ben@example.com"]
    (ann_mail,) = smtp_server.to("ann@example.com")
    (ben_mail,) = smtp_server.to("ben@example.com")
    assert ann_mail["Subject"] == "Ann, The Head & The Heart is on sale"
    assert ann_mail["From"] == "Belly Up <news@bellyup.example>"
    assert ann_mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe_url = ann_mail["List-Unsubscribe"].strip("<>")
    assert unsubscribe_url.startswith(PUBLIC_URL + "/t/u/")
    html = _html(ann_mail)
    assert "Hi Ann," in html and "plays Belly Up Aspen on Saturday 2 March 2024" in html
    links = re.findall(r'href="([^"]+)"', html)
    # Both content links are tracked; the visible unsubscribe link (a footer) is fanhub's own URL.
    assert EVENT_URL not in html and "bellyupaspen.com/calendar" not in html
    assert len([u for u in links if "/t/c/" in u]) == 2
    assert unsubscribe_url in links
    assert unsubscribe_url in _text(ann_mail)
    (pixel,) = re.findall(r'<img src="([^"]+/t/o/[^"]+\.gif)"', html)

    # Delivered an hour ago, so these opens are not "within seconds of delivery".
    with db.write() as session:
        session.execute(
            update(Delivery).where(Delivery.campaign_id == campaign_id).values(sent_at=utcnow() - timedelta(hours=1))
        )

    for _ in range(2):
        response = client.get(_path(pixel), headers={"User-Agent": BROWSER})
        assert response.status_code == 200 and response.headers["content-type"] == "image/gif"
    event_link, calendar_link = [u for u in links if "/t/c/" in u]
    for _ in range(3):
        response = client.get(_path(event_link), follow_redirects=False, headers={"User-Agent": BROWSER})
        assert response.status_code == 302 and response.headers["location"] == EVENT_URL

    ben_html = _html(ben_mail)
    (ben_pixel,) = re.findall(r'<img src="([^"]+/t/o/[^"]+\.gif)"', ben_html)
    # Apple Mail Privacy Protection prefetch: stored, flagged, not counted.
    assert client.get(_path(ben_pixel), headers={"User-Agent": "Mozilla/5.0"}).status_code == 200
    ben_calendar = [u for u in re.findall(r'href="([^"]+)"', ben_html) if "/t/c/" in u][1]
    # An attacker-supplied target is ignored: the redirect goes to the campaign's own link.
    response = client.get(_path(ben_calendar) + "?url=https://evil.example/", follow_redirects=False)
    assert response.status_code == 302
    assert response.headers["location"] == "https://bellyupaspen.com/calendar?a=1&b=2"

    # Open-redirect protection: a tampered token, and a correctly signed token naming another
    # campaign's link, both end on a 404 page, never a redirect.
    tampered = event_link[:-3] + ("AAA" if not event_link.endswith("AAA") else "BBB")
    assert client.get(_path(tampered), follow_redirects=False).status_code == 404
    ann_delivery = delivery_for(db, campaign_id, ann)
    with db.write() as session:
        other = create_campaign(
            session, org, type="email", name="x", subject="x", body='<a href="https://evil.example/">x</a>'
        )
        foreign = CampaignLink(campaign_id=other.id, url="https://evil.example/phish")
        session.add(foreign)
        session.flush()
        foreign_id = foreign.id
    forged = f"{PUBLIC_URL}/t/c/{tokens.make_token(tokens.CLICK, ann_delivery.id, foreign_id)}"
    response = client.get(_path(forged), follow_redirects=False)
    assert response.status_code == 404 and "location" not in response.headers

    # Unsubscribe: GET only shows a confirmation (link scanners must not unsubscribe anyone).
    (ben_unsubscribe,) = [ben_mail["List-Unsubscribe"].strip("<>")]
    page = client.get(_path(ben_unsubscribe))
    assert page.status_code == 200 and "<form method='post'" in page.text and "be…@example.com" in page.text
    with db.read() as session:
        assert session.get(Contact, ben).email_status == "subscribed"
    # RFC 8058 one-click: a bare POST with the documented body, no CSRF token, no cookies.
    for _ in range(2):
        response = client.post(
            _path(ben_unsubscribe),
            content="List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert response.status_code == 200 and "unsubscribed" in response.text
    with db.read() as session:
        assert session.get(Contact, ben).email_status == "unsubscribed"
        ledger = session.scalars(select(ConsentEvent).where(ConsentEvent.contact_id == ben)).all()
        assert [(e.channel, e.subscribed, e.via) for e in ledger][-1] == ("email", False, "unsubscribe_link")

    rows = analytics(client, tenant, type="email")
    assert rows[campaign_id] | {"delivered_at": None} == {
        "campaign_id": campaign_id,
        "campaign_name": "On sale",
        "campaign_subject_line": "{{ first_name }}, {{ event_name }} is on sale",
        "campaign_type": "email",
        "delivered_at": None,
        "num_recipients": 3,
        "num_opens": 2,  # ann (pixel); ben's only pixel was Apple's, but his click counts as an open
        "num_links_clicked": 2,  # ann clicked three times: one recipient
        "num_unsubscribes": 1,
        "num_undelivered": 1,  # bad@ refused at RCPT
        "attributed_tickets_sold": 0,
        "attributed_revenue": 0,
        "status": "sent",
        "paused_reason": None,
        "num_hard_bounces": 1,  # bad@'s 550 5.1.1 is a hard bounce (and suppresses the address)
        "num_soft_bounces": 0,
        "num_complaints": 0,
        "num_suppressed": 0,
    }
    assert rows[campaign_id]["delivered_at"].endswith("Z")
    assert other.id not in rows  # never sent: not listed
    assert analytics(client, tenant, type="sms") == {}

    detail = client.get(f"/v1/partners/campaigns/{campaign_id}/analytics", headers=tenant.headers)
    assert detail.status_code == 200, detail.text
    figures = detail.json()["response"]
    assert figures["num_machine_opens"] == 1
    assert figures["num_open_events"] == 3
    assert figures["num_click_events"] == 4
    assert sum(b["count"] for b in figures["series"]["opens"]) == 2
    assert sum(b["count"] for b in figures["series"]["clicks"]) == 2
    assert client.get(f"/v1/partners/campaigns/{campaign_id}/analytics").status_code == 403

    # Unsubscribed between campaigns: the next campaign to the same segment leaves ben out; bad@
    # hard-bounced, so it is suppressed and left out too.
    with db.write() as session:
        second = create_campaign(
            session,
            org,
            type="email",
            name="Reminder",
            subject="Reminder",
            body="Still tickets: {{ event_url }}",
            audience={"tags": ["VIP"]},
            event_id=event_id,
        )
    with db.read() as session:
        assert preview_campaign(session, org, second.id)["recipients"] == 1  # ann


def test_emails_go_out_from_the_organizations_sender(
    client: TestClient, db: Database, tenant: Tenant, campaign_env: Settings, smtp_server: FakeSmtpServer
) -> None:
    from fanhub.organizations.service import get_organization

    add_contact(client, db, tenant, "ann@example.com", first_name="Ann")
    with db.write() as session:
        organization = get_organization(session, tenant.organization_id)
        organization.sender_name, organization.sender_email = "Aspen Shows", "hello@aspen.example"
        campaign_id = create_campaign(
            session, tenant.organization_id, type="email", name="Hi", subject="Hi", body="<p>Hello {{ first_name }}</p>"
        ).id
        schedule_campaign(session, tenant.organization_id, campaign_id)
    run_campaign(db, campaign_id)
    (mail,) = smtp_server.to("ann@example.com")
    assert mail["From"] == "Aspen Shows <hello@aspen.example>"
    assert smtp_server.received()[0].mail_from == "hello@aspen.example"
