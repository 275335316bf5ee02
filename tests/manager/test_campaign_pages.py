"""Campaign and connection pages without a browser: validation next to fields, live count and preview."""

from __future__ import annotations

import re

from tests.conftest import post_and_apply
from tests.manager.conftest import Staff


def _subscribers(staff: Staff) -> None:
    staff.post("/manager/tags", {"kind": "tag", "name": "VIP"})
    for i, tags in enumerate((["VIP"], [], ["VIP"])):
        body = {
            "contact": {"email": f"s{i}@example.com", "phone": f"+1415555010{i}", "tags": tags},
            "opt_ins": {"email": True, "sms": i == 0},
        }
        post_and_apply(staff.client, staff.db, staff.tenant, "contact", body)


def test_live_recipient_count_follows_the_segment(staff: Staff) -> None:
    _subscribers(staff)
    everyone = staff.client.get("/manager/campaigns/audience-count?type=email").json()
    assert (everyone["email"], everyone["sms"]) == (3, 1)
    vip = staff.client.get("/manager/campaigns/audience-count?type=sms&tags=VIP").json()
    assert (vip["email"], vip["sms"]) == (2, 1) and vip["text"].startswith("1 sms recipients")
    odd = staff.client.get("/manager/campaigns/audience-count?list_ids=abc&tags=&type=<x>")
    assert odd.status_code == 200


def test_compose_errors_are_shown_next_to_the_fields(staff: Staff) -> None:
    r = staff.post("/manager/campaigns", {"type": "email", "name": "", "subject": "", "body": "Hi"})
    assert r.status_code == 400 and 'class="error"' in r.text
    r = staff.post("/manager/campaigns", {"type": "email", "name": "N", "subject": "S", "body": "{{ nope"})
    assert r.status_code == 400 and 'id="body-error"' in r.text
    r = staff.post("/manager/campaigns", {"type": "fax", "name": "N", "body": "x"})
    assert r.status_code == 400


def test_draft_preview_test_send_and_schedule(staff: Staff) -> None:
    _subscribers(staff)
    r = staff.post(
        "/manager/campaigns",
        {"type": "sms", "name": "Drop", "body": "Hi {{ first_name }}! <b>new</b> show", "tags": ["VIP"]},
    )
    assert r.status_code == 303
    campaign_id = int(r.headers["location"].split("/")[-1].split("?")[0])
    page = staff.client.get(f"/manager/campaigns/{campaign_id}").text
    assert 'id="send-count">1<' in page and "&lt;b&gt;new&lt;/b&gt;" in page
    preview = staff.post(
        "/manager/campaigns/preview", {"type": "email", "subject": "S", "body": "<p>Hi {{ first_name }}</p>"}
    )
    assert preview.status_code == 200 and "Hi Alex" in preview.text
    bad = staff.post("/manager/campaigns/preview", {"type": "email", "subject": "S", "body": "{% for %}"})
    assert bad.status_code == 200 and "<script" not in bad.text
    r = staff.post(f"/manager/campaigns/{campaign_id}/send", {"at": "not a date"})
    assert r.status_code == 400
    r = staff.post(f"/manager/campaigns/{campaign_id}/send", {"at": "2031-05-01T19:30"})
    assert r.status_code == 303 and "Scheduled" in r.headers["location"].replace("%20", " ")
    assert re.search(r'id="campaign-status">scheduled<', staff.client.get(f"/manager/campaigns/{campaign_id}").text)
    listing = staff.client.get("/manager/campaigns").text
    assert "Drop" in listing


def test_viewers_cannot_compose_and_other_orgs_campaigns_are_not_found(staff: Staff) -> None:
    from fanhub.campaigns.service import create_campaign
    from tests.conftest import make_tenant

    other = make_tenant(staff.db, "Other", "other")
    with staff.db.write() as session:
        foreign = create_campaign(session, other.organization_id, type="sms", name="Theirs", body="x").id
    assert staff.client.get(f"/manager/campaigns/{foreign}").status_code == 404
    assert staff.post(f"/manager/campaigns/{foreign}/send").status_code == 404


def test_connection_form_validates(staff: Staff) -> None:
    page = staff.client.get("/manager/settings/connections")
    assert page.status_code == 200 and "No connection yet" in page.text
    r = staff.post("/manager/settings/connections", {"platform": "tickettailor", "api_key": ""})
    assert r.status_code == 400 and 'id="connect-error"' in r.text
    r = staff.post("/manager/settings/connections", {"platform": "tickettailor", "api_key": "k", "base_url": "ftp://x"})
    assert r.status_code == 400 and "https://" in r.text
    r = staff.post("/manager/settings/connections", {"platform": "nope"})
    assert r.status_code == 400
    assert staff.post("/manager/settings/connections/999/sync").status_code == 404
