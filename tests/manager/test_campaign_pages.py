"""Campaign and connection pages without a browser: validation next to fields, live count and preview."""

from __future__ import annotations

import re

import pytest

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


def _draft(staff: Staff, **fields: object) -> int:
    data: dict[str, object] = {"type": "email", "name": "Drop", "subject": "Hi {{ first_name }}", "body": "<p>Hi</p>"}
    r = staff.post("/manager/campaigns", data | fields)
    assert r.status_code == 303, r.text
    return int(r.headers["location"].split("/")[-1].split("?")[0])


def _notice(response: object) -> str:
    from urllib.parse import parse_qs, urlsplit

    location = response.headers["location"]  # type: ignore[attr-defined]
    return parse_qs(urlsplit(location).query).get("notice", [""])[0]


def test_edit_duplicate_and_delete_a_draft(staff: Staff) -> None:
    _subscribers(staff)
    campaign_id = _draft(staff)
    page = staff.client.get(f"/manager/campaigns/{campaign_id}").text
    assert 'id="edit-campaign"' in page and 'id="delete-campaign"' in page and 'id="duplicate-campaign"' in page
    form = staff.client.get(f"/manager/campaigns/{campaign_id}/edit").text
    assert f'action="/manager/campaigns/{campaign_id}/edit"' in form and 'value="Drop"' in form
    r = staff.post(f"/manager/campaigns/{campaign_id}/edit", {"type": "email", "name": "", "subject": "S", "body": "x"})
    assert r.status_code == 400 and 'class="error"' in r.text and "Save changes" in r.text
    r = staff.post(
        f"/manager/campaigns/{campaign_id}/edit",
        {"type": "sms", "name": "VIP drop", "subject": "New", "body": "<p>Hello</p>", "tags": ["VIP"]},
    )
    assert r.status_code == 303 and _notice(r) == "Changes saved."
    page = staff.client.get(f"/manager/campaigns/{campaign_id}").text
    assert "VIP drop" in page and "subject “New”" in page and 'id="send-count">2<' in page  # still email, VIP only

    r = staff.post(f"/manager/campaigns/{campaign_id}/duplicate")
    copy_id = int(r.headers["location"].split("/")[-1].split("?")[0])
    assert copy_id != campaign_id and "Copy of VIP drop" in _notice(r)
    r = staff.post(f"/manager/campaigns/{copy_id}/delete")
    assert r.status_code == 303 and r.headers["location"].startswith("/manager/campaigns?")
    assert staff.client.get(f"/manager/campaigns/{copy_id}").status_code == 404


def test_send_now_hides_the_send_buttons_and_a_repeat_is_explained_on_the_page(staff: Staff) -> None:
    from fanhub.campaigns.sending import start_due

    _subscribers(staff)
    campaign_id = _draft(staff)
    r = staff.post(f"/manager/campaigns/{campaign_id}/send")
    assert _notice(r) == "Sending now."
    page = staff.client.get(f"/manager/campaigns/{campaign_id}").text
    assert 'id="send-now"' not in page and 'id="schedule-form"' not in page and 'id="edit-campaign"' not in page
    assert 'id="cancel-campaign"' in page and 'http-equiv="refresh"' in page  # about to start: it refreshes
    with staff.db.write() as session:
        assert start_due(session) == [campaign_id]
    page = staff.client.get(f"/manager/campaigns/{campaign_id}").text
    assert re.search(r'id="campaign-status">sending<', page) and 'id="send-progress"' in page
    assert 'id="pause-campaign"' in page and 'id="send-now"' not in page

    # The second click of "Send now": back on the campaign's page, told why.
    r = staff.post(f"/manager/campaigns/{campaign_id}/send")
    assert r.status_code == 303 and r.headers["location"].startswith(f"/manager/campaigns/{campaign_id}?")
    assert _notice(r) == f"campaign {campaign_id} is already sending; nothing was changed."
    shown = staff.client.get(r.headers["location"]).text
    assert "already sending; nothing was changed" in shown and "Cannot do that" not in shown
    r = staff.post(
        f"/manager/campaigns/{campaign_id}/edit", {"type": "email", "name": "x", "subject": "x", "body": "x"}
    )
    assert "only pause, resume and cancel" in _notice(r)
    edit_page = staff.client.get(f"/manager/campaigns/{campaign_id}/edit", follow_redirects=False)
    assert "only a draft can be edited" in _notice(edit_page)

    status = staff.client.get(f"/manager/campaigns/{campaign_id}/status.json").json()
    assert (status["status"], status["sent"], status["total"]) == ("sending", 0, 3)
    assert status["actions"] == ["cancel", "pause", "duplicate"]

    assert _notice(staff.post(f"/manager/campaigns/{campaign_id}/pause")).startswith("Paused.")
    assert "already paused" in _notice(staff.post(f"/manager/campaigns/{campaign_id}/pause"))
    page = staff.client.get(f"/manager/campaigns/{campaign_id}").text
    assert 'id="resume-campaign"' in page and "3 not reached yet" in page and 'http-equiv="refresh"' not in page
    assert _notice(staff.post(f"/manager/campaigns/{campaign_id}/resume")) == "Resumed."
    assert _notice(staff.post(f"/manager/campaigns/{campaign_id}/cancel")).startswith("Cancelled.")
    page = staff.client.get(f"/manager/campaigns/{campaign_id}").text
    assert re.search(r'id="campaign-status">cancelled<', page) and "3 not sent" in page
    assert 'id="cancel-campaign"' not in page and 'id="duplicate-campaign"' in page


def test_cancel_a_scheduled_send_and_schedule_in_the_organizations_zone(staff: Staff) -> None:
    from fanhub.organizations.models import Organization

    with staff.db.write() as session:
        org = session.get(Organization, staff.org)
        assert org is not None
        org.time_zone = "America/Denver"
    campaign_id = _draft(staff)
    page = staff.client.get(f"/manager/campaigns/{campaign_id}").text
    assert 'id="send-zone">America/Denver<' in page
    r = staff.post(f"/manager/campaigns/{campaign_id}/send", {"at": "2031-05-01T19:30"})
    assert _notice(r) == "Scheduled for 2031-05-01 19:30 (America/Denver)."
    page = staff.client.get(f"/manager/campaigns/{campaign_id}").text
    assert "2031-05-01 19:30</strong> (America/Denver)" in page and 'id="send-now"' not in page
    assert "http-equiv" not in page  # not due for years: no refresh
    r = staff.post(f"/manager/campaigns/{campaign_id}/cancel")
    assert _notice(r).startswith("Cancelled.")
    page = staff.client.get(f"/manager/campaigns/{campaign_id}").text
    assert re.search(r'id="campaign-status">draft<', page) and 'id="send-now"' in page
    assert "there is no send to cancel" in _notice(staff.post(f"/manager/campaigns/{campaign_id}/cancel"))


def test_test_send_to_chosen_addresses_with_a_contacts_merge_fields(
    staff: Staff, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fanhub.config import get_settings
    from tests.fakes.smtp import FakeSmtpServer

    _subscribers(staff)
    with FakeSmtpServer() as smtp:
        for name, value in {"smtp_host": smtp.host, "smtp_port": str(smtp.port), "smtp_tls": "none"}.items():
            monkeypatch.setenv(f"FANHUB_{name.upper()}", value)
        get_settings.cache_clear()
        try:
            campaign_id = _draft(staff, subject="For {{ first_name }}")
            r = staff.post(f"/manager/campaigns/{campaign_id}/test")
            assert _notice(r) == "Test sent to admin@venue.example (as Test)."
            assert smtp.to("admin@venue.example")[0]["Subject"] == "[TEST] For Test"
            r = staff.post(
                f"/manager/campaigns/{campaign_id}/test",
                {"to": "a@venue.example, b@venue.example", "contact": "s1@example.com"},
            )
            assert _notice(r).startswith("Test sent to a@venue.example, b@venue.example (as ")
            assert smtp.to("b@venue.example")[0]["To"] == "b@venue.example"
            r = staff.post(f"/manager/campaigns/{campaign_id}/test", {"to": "nope", "contact": ""})
            assert _notice(r).startswith("No test sent: to:")
            r = staff.post(
                f"/manager/campaigns/{campaign_id}/test", {"to": "a@venue.example", "contact": "who@x.example"}
            )
            assert "no contact" in _notice(r)
            assert len(smtp.received()) == 3
        finally:
            get_settings.cache_clear()
