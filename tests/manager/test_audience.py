"""Contacts table, contact page, tags and lists, keys, export, escaping and hostile input."""

from __future__ import annotations

import csv
import io
import re

from fanhub.audience.models import Contact, ContactTag
from fanhub.db.engine import Database
from tests.conftest import make_tenant, post_and_apply
from tests.manager.conftest import Staff
from tests.manager.helpers import login, make_user


def _contact(
    staff: Staff, email: str, phone: str | None = None, name: str = "Ann Fan", opt: bool | None = True
) -> None:
    body: dict[str, object] = {"contact": {"email": email, "full_name": name}, "opt_ins": {"email": opt}}
    if phone:
        body["contact"]["phone"] = phone  # type: ignore[index]
    post_and_apply(staff.client, staff.db, staff.tenant, "contact", body)


def test_tag_made_in_the_manager_is_accepted_by_the_partners_api(staff: Staff) -> None:
    body = {"contact": {"email": "fan@example.com", "tags": ["Early Bird"]}, "opt_ins": {"email": True}}
    refused = staff.client.post("/v1/partners/contact", json=body, headers=staff.tenant.headers)
    assert refused.status_code == 422
    assert staff.post("/manager/tags", {"kind": "tag", "name": "Early Bird"}).status_code == 303
    post_and_apply(staff.client, staff.db, staff.tenant, "contact", body)
    page = staff.client.get("/manager/contacts").text
    assert "fan@example.com" in page and "Early Bird" in page
    # Rename and delete; a duplicate name is shown next to the field, not a 500.
    assert staff.post("/manager/tags", {"kind": "tag", "name": "Early Bird"}).status_code == 400
    from fanhub.audience.service import list_tags

    with staff.db.read() as session:
        tag = list_tags(session, staff.org)[0]
    assert staff.post(f"/manager/tags/tag/{tag.id}/rename", {"name": "Earliest"}).status_code == 303
    assert "Earliest" in staff.client.get("/manager/tags").text
    assert staff.post(f"/manager/tags/tag/{tag.id}/delete").status_code == 303
    assert staff.client.post("/v1/partners/contact", json=body, headers=staff.tenant.headers).status_code == 422


def test_list_ids_shown_here_are_what_the_api_takes(staff: Staff) -> None:
    assert staff.post("/manager/tags", {"kind": "list", "name": "Newsletter"}).status_code == 303
    from fanhub.audience.service import list_lists

    with staff.db.read() as session:
        list_id = list_lists(session, staff.org)[0].id
    body = {"contact": {"email": "l@example.com", "list_id": list_id}, "opt_ins": {"email": True}}
    post_and_apply(staff.client, staff.db, staff.tenant, "contact", body)
    assert "l@example.com" in staff.client.get(f"/manager/contacts?list={list_id}").text


def test_search_filters_pagination_and_bulk_tagging(staff: Staff) -> None:
    _contact(staff, "ann@example.com", "+1 (415) 555-0101", "Ann Lee")
    _contact(staff, "bob@example.com", None, "Bob Roe", opt=False)
    # Phone typed in another format finds the contact.
    page = staff.client.get("/manager/contacts", params={"q": "415-555-0101"}).text
    assert "ann@example.com" in page and "bob@example.com" not in page
    page = staff.client.get("/manager/contacts", params={"q": "bob roe"}).text
    assert "bob@example.com" in page and "ann@example.com" not in page
    page = staff.client.get("/manager/contacts", params={"email": "unsubscribed", "count": "1"}).text
    assert "bob@example.com" in page and "1 matching contact<" in page
    staff.post("/manager/tags", {"kind": "tag", "name": "VIP"})
    with staff.db.read() as session:
        ids = {c.email: c.id for c in session.query(Contact).all()}
        from fanhub.audience.service import list_tags

        vip = list_tags(session, staff.org)[0].id
    r = staff.post("/manager/contacts/bulk", {"contact_id": [ids["ann@example.com"]], "bulk_target": f"tag:{vip}"})
    assert r.status_code == 303
    page = staff.client.get("/manager/contacts", params={"tag": vip}).text
    assert "ann@example.com" in page and "bob@example.com" not in page


def test_keyset_pages(staff: Staff) -> None:
    from fanhub.audience.service import AudienceWriter, Person

    with staff.db.write() as session:
        writer = AudienceWriter(session, staff.org, "test")
        writer.resolve([Person(email=f"p{i}@example.com") for i in range(60)])
        writer.flush()
    first = staff.client.get("/manager/contacts").text
    assert first.count('name="contact_id"') == 50 and 'id="next-page"' in first
    after = first.split("after=")[1].split('"')[0]
    second = staff.client.get(f"/manager/contacts?after={after}").text
    assert second.count('name="contact_id"') == 10 and 'id="next-page"' not in second


def test_contact_page_shows_the_consent_ledger_and_other_orgs_contacts_are_not_found(staff: Staff) -> None:
    _contact(staff, "ann@example.com", None, "Ann Lee")
    with staff.db.read() as session:
        contact_id = session.query(Contact).one().id
    page = staff.client.get(f"/manager/contacts/{contact_id}").text
    assert "EMAIL subscribed" in page and "partner:acme via contact.opt_ins" in page
    r = staff.post(f"/manager/contacts/{contact_id}/consent", {"channel": "email", "subscribed": "false"})
    assert r.status_code == 303
    page = staff.client.get(f"/manager/contacts/{contact_id}").text
    assert "EMAIL unsubscribed" in page and f"staff:{staff.user_id} via staff" in page
    other = make_tenant(staff.db, "Other", "other")
    post_and_apply(staff.client, staff.db, other, "contact", {"contact": {"email": "x@example.com"}})
    with staff.db.read() as session:
        foreign = session.query(Contact).filter(Contact.organization_id == other.organization_id).one().id
    assert staff.client.get(f"/manager/contacts/{foreign}").status_code == 404
    assert (
        staff.post(f"/manager/contacts/{foreign}/consent", {"channel": "email", "subscribed": "true"}).status_code
        == 404
    )


def test_untrusted_values_are_escaped_and_exports_neutralise_formulas(staff: Staff) -> None:
    _contact(staff, "evil@example.com", None, "<script>alert(1)</script>")
    _contact(staff, "formula@example.com", None, '=HYPERLINK("http://x")')
    page = staff.client.get("/manager/contacts").text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    export = staff.client.get("/manager/contacts/export.csv")
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.text)))
    names = {r["email"]: r["full_name"] for r in rows}
    assert names["formula@example.com"] == '\'=HYPERLINK("http://x")'
    assert names["evil@example.com"] == "<script>alert(1)</script>"


def test_keys_are_created_once_and_revoked_keys_get_403(staff: Staff) -> None:
    r = staff.post("/manager/settings/keys", {"partner": "box-office"})
    assert r.status_code == 200
    token = r.text.split('id="new-token">')[1].split("<")[0]
    headers = {"Cymbal-Partner-API-Key": token}
    assert staff.client.get("/v1/partners/events", headers=headers).status_code == 200
    page = staff.client.get("/manager/settings/keys").text
    assert token not in page and token[:10] in page
    from fanhub.auth.service import list_keys

    with staff.db.read() as session:
        key_id = [k.id for k in list_keys(session, staff.org) if k.partner == "box-office"][0]
    assert staff.post(f"/manager/settings/keys/{key_id}/revoke").status_code == 303
    assert staff.client.get("/v1/partners/events", headers=headers).status_code == 403
    assert staff.post("/manager/settings/keys", {"partner": "   "}).status_code == 400


def test_users_and_organization_settings_validate_next_to_the_field(staff: Staff) -> None:
    r = staff.post("/manager/settings/users", {"email": "not-an-email", "role": "viewer"})
    assert r.status_code == 400 and "valid email" in r.text
    r = staff.post("/manager/settings/users", {"email": "v@venue.example", "role": "viewer"})
    assert r.status_code == 200 and 'id="generated-password"' in r.text
    r = staff.post(
        "/manager/settings/organization",
        {"name": "Venue", "time_zone": "Mars/Base", "phone_region": "ZZ", "email_days": "abc", "sms_days": "7"},
    )
    assert r.status_code == 400 and "Choose a time zone" in r.text and "two-letter" in r.text
    r = staff.post(
        "/manager/settings/organization",
        {
            "name": "Venue",
            "time_zone": "America/Denver",
            "phone_region": "us",
            "email_days": "10",
            "sms_days": "7",
            "sender_email": "not an address",
        },
    )
    assert r.status_code == 400 and "valid email address" in r.text
    r = staff.post(
        "/manager/settings/organization",
        {
            "name": "Venue",
            "time_zone": "America/Denver",
            "phone_region": "us",
            "email_days": "10",
            "sms_days": "7",
            "sender_name": "Belly Up",
            "sender_email": "News@BellyUp.example",
        },
    )
    assert r.status_code == 303
    from fanhub.config import get_settings
    from fanhub.organizations.service import get_organization, sender_address

    with staff.db.read() as session:
        organization = get_organization(session, staff.org)
        assert (organization.time_zone, organization.phone_region) == ("America/Denver", "US")
        assert sender_address(organization, get_settings()) == "Belly Up <news@bellyup.example>"
    # The last admin cannot demote themselves.
    r = staff.post(f"/manager/settings/users/{staff.user_id}/role", {"role": "viewer"})
    assert r.status_code == 400 and "at least one admin" in r.text


def test_hostile_input_never_gives_a_500(staff: Staff) -> None:
    paths = [
        "/manager/contacts?after=abc&tag=-1&list=%00&email=%3Cx%3E&bought=99999999999999999999",
        "/manager/contacts/abc",
        "/manager/contacts/0",
        "/manager/contacts/99999999999999999999999",
        "/manager/events?from=notadate&page=-5&status=<x>",
        "/manager/events/xyz",
        "/manager/imports/..%2F..",
        "/manager/imports/zzz/progress.json",
        "/manager/tags/bogus/1/rename",
        "/manager/static/..%2Fweb.py",
        "/manager/login?next=https://evil.example/",
        "/manager/setup?token=" + "x" * 500,
    ]
    for path in paths:
        assert staff.client.get(path).status_code < 500, path
    posts: list[tuple[str, dict[str, object]]] = [
        ("/manager/contacts/bulk", {"contact_id": ["x", "-3"], "bulk_target": "tag:abc"}),
        ("/manager/tags", {"kind": "nope", "name": "x"}),
        ("/manager/tags", {"kind": "tag", "name": "x" * 5000}),
        ("/manager/imports", {}),
        ("/manager/switch-org", {"organization_id": "abc"}),
        ("/manager/settings/keys/abc/revoke", {}),
        ("/manager/contacts/1/consent", {"channel": "fax", "subscribed": "maybe"}),
    ]
    for path, data in posts:
        assert staff.post(path, data).status_code < 500, path


def test_the_manager_follows_the_same_rule(staff: Staff) -> None:
    (ann,) = _labels_people(staff.db, staff.org, "ann@example.com")
    other = make_tenant(staff.db, "Elsewhere", "z").organization_id
    (eve,) = _labels_people(staff.db, other, "eve@example.com")
    staff.post("/manager/tags", {"kind": "tag", "name": "VIP"})
    with staff.db.read() as session:
        from fanhub.audience.service import list_tags

        vip = list_tags(session, staff.org)[0].id
    # The manager used to drop the foreign id and tag the rest; now the change is refused whole.
    refused = staff.post("/manager/contacts/bulk", {"contact_id": [ann, eve], "bulk_target": f"tag:{vip}"})
    assert refused.status_code == 400 and f"contacts not found: {eve}" in refused.text
    with staff.db.read() as session:
        assert session.query(ContactTag).count() == 0
    done = staff.post("/manager/contacts/bulk", {"contact_id": [ann], "bulk_target": f"tag:{vip}"})
    assert done.status_code == 303
    with staff.db.read() as session:
        assert [(t.contact_id, t.tag_id) for t in session.query(ContactTag)] == [(ann, vip)]


def _labels_people(db: Database, org: int, *emails: str) -> list[int]:
    from fanhub.audience.service import AudienceWriter, Person

    with db.write() as session:
        writer = AudienceWriter(session, org, "test")
        rows = writer.resolve([Person(email=e) for e in emails])
        writer.flush()
        return [int(r.id) for r in rows if r.id is not None]


def test_the_table_shows_the_total_distinct_headers_genres_and_regional_phones(staff: Staff) -> None:
    _contact(staff, "ann@example.com", "+1 970 555 0100", "Ann Lee")
    _contact(staff, "uk@example.com", "+44 20 7946 0958", "Una Kay")
    body = {"contact": {"email": "gen@example.com", "genres": ["Jazz", "Folk"]}, "opt_ins": {"email": True}}
    post_and_apply(staff.client, staff.db, staff.tenant, "contact", body)
    page = staff.client.get("/manager/contacts").text  # no "count" parameter
    assert '<strong id="match-count">3 matching contacts</strong>' in page
    table = page[page.index('id="contacts-table"') : page.index("</thead>")]
    cells = [re.sub(r"<[^>]+>", "", cell).strip(" ▲▼") for cell in re.findall(r"<th[^>]*>(.*?)</th>", table)]
    headers = [cell for cell in cells if cell]
    assert headers == [
        "Name",
        "Email address",
        "Phone",
        "Email consent",
        "SMS consent",
        "Rating",
        "Genres",
        "Tags · lists",
        "Created",
        "Last order",
    ]
    assert len(set(headers)) == len(headers)
    assert "Folk, Jazz" in page
    # The organization's region is the deployment default (US): its numbers in national form, others international.
    assert "(970) 555-0100" in page and "+44 20 7946 0958" in page and "+19705550100" not in page


def _venue_with_fans(staff: Staff, people: int, fans: int) -> tuple[list[int], int, int]:
    """`people` contacts, the first `fans` on the list Fans; a tag VIP on nobody yet."""
    from fanhub.audience.service import AudienceWriter, create_list, create_tag

    ids = sorted(_labels_people(staff.db, staff.org, *(f"p{n:03d}@example.com" for n in range(people))))
    with staff.db.write() as session:
        vip, fans_list = create_tag(session, staff.org, "VIP").id, create_list(session, staff.org, "Fans").id
        AudienceWriter(session, staff.org, "test").add_lists([(c, fans_list) for c in ids[:fans]])
    return ids, vip, fans_list


def _tagged(staff: Staff, tag_id: int) -> set[int]:
    with staff.db.read() as session:
        return {t.contact_id for t in session.query(ContactTag).filter(ContactTag.tag_id == tag_id)}


def test_bulk_over_the_whole_filter_is_confirmed_with_its_count_and_undone_from_the_notice(staff: Staff) -> None:
    ids, vip, fans_list = _venue_with_fans(staff, 60, 55)
    listing = staff.client.get(f"/manager/contacts?list={fans_list}").text
    assert "Select all 55 contacts matching this filter" in listing
    form: dict[str, object] = {
        "scope": "matching",
        "list": str(fans_list),
        "bulk_target": f"tag:{vip}",
        "back": "/manager/contacts",
    }
    confirm = staff.post("/manager/contacts/bulk", form)
    assert confirm.status_code == 200 and not _tagged(staff, vip)  # nothing changed before the confirmation
    assert "Tag all 55 contacts matching this filter with VIP?" in confirm.text
    assert "55 of them will change; 0 already have the tag" in confirm.text

    done = staff.post("/manager/contacts/bulk", {**form, "confirm": "yes"})
    assert done.status_code == 303 and _tagged(staff, vip) == set(ids[:55])
    notice_page = staff.client.get(done.headers["location"]).text
    assert "Tagged 55 contact(s) with VIP." in notice_page and 'id="undo-change"' in notice_page
    undo_url = re.search(r'action="(/manager/contacts/changes/\d+/undo)"', notice_page)
    assert undo_url is not None

    undone = staff.post(undo_url.group(1), {"back": "/manager/contacts"})
    assert undone.status_code == 303 and not _tagged(staff, vip)
    assert "Undone. Removed VIP from 55 contact(s)." in staff.client.get(undone.headers["location"]).text
    again = staff.post(undo_url.group(1), {"back": "/manager/contacts"})
    assert "Not undone: it was already undone." in staff.client.get(again.headers["location"]).text
    assert 'id="undo-change"' not in staff.client.get(done.headers["location"]).text


def test_selected_rows_lose_a_tag_or_list_with_undo_and_viewers_cannot(staff: Staff) -> None:
    ids, vip, fans_list = _venue_with_fans(staff, 4, 3)
    staff.post("/manager/contacts/bulk", {"contact_id": ids, "bulk_target": f"tag:{vip}"})
    removed = staff.post("/manager/contacts/bulk", {"contact_id": ids[:2], "bulk_target": f"untag:{vip}"})
    assert removed.status_code == 303 and _tagged(staff, vip) == set(ids[2:])
    assert "undo=" in removed.headers["location"]
    unlisted = staff.post("/manager/contacts/bulk", {"contact_id": ids, "bulk_target": f"unlist:{fans_list}"})
    assert "Removed 3 contact(s) from Fans." in staff.client.get(unlisted.headers["location"]).text
    change_id = re.search(r"undo=(\d+)", unlisted.headers["location"])
    assert change_id is not None
    staff.post(f"/manager/contacts/changes/{change_id.group(1)}/undo", {"back": "/manager/contacts"})
    listed = staff.client.get(f"/manager/contacts?list={fans_list}").text  # exactly the three fans are back
    assert all(f"p00{n}@example.com" in listed for n in range(3)) and "p003@example.com" not in listed

    make_user(staff.db, staff.org, "viewer@venue.example", "viewer")
    staff.client.cookies.clear()
    login(staff.client, "viewer@venue.example")
    refused = staff.post("/manager/contacts/bulk", {"contact_id": ids, "bulk_target": f"untag:{vip}"})
    assert refused.status_code == 403 and _tagged(staff, vip) == set(ids[2:])


def test_sorting_keeps_the_filter_and_pages_by_last_order(staff: Staff) -> None:
    from datetime import UTC, datetime, timedelta

    from fanhub.catalog.models import Order

    ids, _, fans_list = _venue_with_fans(staff, 60, 56)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with staff.db.write() as session:  # every other fan bought, the later the higher the id
        for n, contact_id in enumerate(ids[:56:2]):
            placed = start + timedelta(days=n)
            session.add(
                Order(
                    organization_id=staff.org,
                    source="t",
                    external_id=str(n),
                    event_external_id="e",
                    contact_id=contact_id,
                    placed_at=placed,
                )
            )
    first = staff.client.get(f"/manager/contacts?list={fans_list}&sort=last_order&dir=desc").text
    shown = [int(i) for i in re.findall(r'name="contact_id" value="(\d+)"', first)]
    assert shown == [*ids[:56:2][::-1], *sorted(ids[1:56:2], reverse=True)[:22]]
    next_link = re.search(r'href="(/manager/contacts\?[^"]+)" id="next-page"', first)
    assert (
        next_link is not None and f"list={fans_list}" in next_link.group(1) and "sort=last_order" in next_link.group(1)
    )
    second = staff.client.get(next_link.group(1).replace("&amp;", "&")).text
    rest = [int(i) for i in re.findall(r'name="contact_id" value="(\d+)"', second)]
    assert rest == sorted(ids[1:56:2], reverse=True)[22:]
    header = re.search(r'href="(/manager/contacts\?[^"]+)" id="sort-name"', first)
    assert header is not None and f"list={fans_list}" in header.group(1) and "dir=asc" in header.group(1)
    for path in ("/manager/contacts?sort=bogus&dir=up", "/manager/contacts?after=%%%", "/manager/contacts?undo=abc"):
        assert staff.client.get(path).status_code == 200, path
