"""Engagement in the manager over HTTP: the contacts table's rating column and filter, the contact
page's rating per subscription, and the sunset setting (shown to viewers, toggled by admins, bad
values refused naming the field)."""

from __future__ import annotations

import re

from sqlalchemy import select

from fanhub.audience.models import SUBSCRIBED, Contact
from fanhub.db.engine import Database
from fanhub.organizations.models import Organization
from tests.manager.conftest import Staff
from tests.manager.helpers import login, make_user


def _contacts(db: Database, org: int, *rows: tuple[str, int, int]) -> dict[str, int]:
    ids: dict[str, int] = {}
    with db.write() as session:
        for email, email_rating, sms_rating in rows:
            contact = Contact(
                organization_id=org,
                email=email,
                email_status=SUBSCRIBED,
                email_rating=email_rating,
                sms_rating=sms_rating,
            )
            session.add(contact)
            session.flush()
            ids[email] = contact.id
    return ids


def _rating_cells(html: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r'<td class="rating"[^>]*>(.*?)</td>', html)]


def test_the_contacts_table_shows_and_filters_by_rating(staff: Staff) -> None:
    ids = _contacts(staff.db, staff.org, ("a@fans.example", 4, 3), ("b@fans.example", 1, 5))
    table = staff.client.get("/manager/contacts?sort=created&dir=asc")
    assert table.status_code == 200 and ">Rating</th>" in table.text
    assert _rating_cells(table.text) == ["★★★★☆ 4/5 · SMS 3/5", "★☆☆☆☆ 1/5 · SMS 5/5"]
    high = staff.client.get("/manager/contacts?min_rating=3")
    assert "a@fans.example" in high.text and "b@fans.example" not in high.text
    assert "1 matching contact" in high.text
    by_sms = staff.client.get("/manager/contacts?min_rating=5&rating_channel=sms")
    assert "b@fans.example" in by_sms.text and "a@fans.example" not in by_sms.text
    # The filter is kept by the export link and the pager.
    assert "min_rating=5" in by_sms.text and "rating_channel=sms" in by_sms.text
    contact = staff.client.get(f"/manager/contacts/{ids['a@fans.example']}")
    assert re.search(r'id="rating-email"[^>]*>★★★★☆ 4/5<', contact.text)
    assert re.search(r'id="rating-sms"[^>]*>★★★☆☆ 3/5<', contact.text)


def _sunset(db: Database, org: int) -> tuple[bool, int, int]:
    with db.read() as session:
        row = session.scalar(select(Organization).where(Organization.id == org))
        assert row is not None
        return row.sunset_enabled, row.sunset_after_emails, row.sunset_min_days


def test_admins_toggle_sunset_and_viewers_only_see_it(staff: Staff) -> None:
    settings = staff.client.get("/manager/settings")
    assert 'href="/manager/settings/sunset"' in settings.text
    shown = staff.client.get("/manager/settings/sunset")
    assert shown.status_code == 200 and 'id="sunset_enabled"' in shown.text and "checked" not in shown.text
    assert _sunset(staff.db, staff.org) == (False, 20, 90)
    saved = staff.post(
        "/manager/settings/sunset", {"sunset_enabled": "on", "sunset_after_emails": "25", "sunset_min_days": "120"}
    )
    assert saved.status_code == 303
    assert _sunset(staff.db, staff.org) == (True, 25, 120)
    assert "checked" in staff.client.get("/manager/settings/sunset").text
    refused = staff.post("/manager/settings/sunset", {"sunset_after_emails": "0", "sunset_min_days": "120"})
    assert refused.status_code == 400 and "A whole number from 1 to 1000." in refused.text
    assert _sunset(staff.db, staff.org) == (True, 25, 120)  # nothing saved
    off = staff.post("/manager/settings/sunset", {"sunset_after_emails": "25", "sunset_min_days": "120"})
    assert off.status_code == 303 and _sunset(staff.db, staff.org) == (False, 25, 120)

    make_user(staff.db, staff.org, "viewer@venue.example", "viewer")
    staff.client.cookies.clear()
    login(staff.client, "viewer@venue.example")
    page = staff.client.get("/manager/settings/sunset")
    assert page.status_code == 200 and "disabled" in page.text and "<button" not in page.text.split("sunset-form")[1]
    forbidden = staff.post("/manager/settings/sunset", {"sunset_enabled": "on", "sunset_after_emails": "20"})
    assert forbidden.status_code == 403 and _sunset(staff.db, staff.org) == (False, 25, 120)


def test_the_campaign_segment_builder_takes_a_minimum_rating_on_the_campaigns_channel(staff: Staff) -> None:
    from fanhub.campaigns.models import Campaign

    _contacts(staff.db, staff.org, ("a@fans.example", 4, 3), ("b@fans.example", 2, 5), ("c@fans.example", 5, 1))
    counts = staff.client.get("/manager/campaigns/audience-count?type=email&min_rating=4").json()
    assert counts["email"] == 2 and counts["text"].startswith("2 email recipients")
    assert staff.client.get("/manager/campaigns/audience-count?type=email&min_rating=9").json()["email"] == 3
    saved = staff.post(
        "/manager/campaigns", {"type": "email", "name": "Fans", "subject": "S", "body": "<p>Hi</p>", "min_rating": "4"}
    )
    assert saved.status_code == 303
    campaign_id = int(saved.headers["location"].split("/")[-1].split("?")[0])
    with staff.db.read() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None and campaign.audience == {"min_rating": 4}
    form = staff.client.get(f"/manager/campaigns/{campaign_id}/edit").text
    assert re.search(r'<option value="4" selected>', form[form.index('id="seg-rating"') :])
