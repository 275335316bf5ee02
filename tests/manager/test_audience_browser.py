"""Browser tests of the audience: a tag on every contact matching a filter (more than a page),
confirmed with its count and undone from the notice; removing every match from a list; sorting by
last order; editing a contact; the first-steps checklist of an empty organization.

Chromium drives `fanhub serve`'s app (see test_browser.py for the set-up; screenshots go to the
same folder).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from fanhub.audience.models import ContactList, ContactTag
from fanhub.audience.service import AudienceWriter, Person, create_list, create_tag
from fanhub.catalog.models import Order
from fanhub.db.engine import Database
from tests.conftest import Tenant
from tests.manager.helpers import make_user
from tests.manager.test_browser import SHOTS, browser, page, server, sign_in

__all__ = ["browser", "page", "server"]  # the fixtures, shared with test_browser.py


def _audience(db: Database, org: int, people: int) -> list[int]:
    """`people` contacts named Fan 000, Fan 001, ... (ids ascending with the number)."""
    with db.write() as session:
        writer = AudienceWriter(session, org, "test")
        rows = writer.resolve(
            [Person(email=f"fan{n:03d}@example.com", full_name=f"Fan {n:03d}") for n in range(people)]
        )
        writer.flush()
        return sorted(int(r.id) for r in rows if r.id is not None)


def _carrying(db: Database, link: Any, column: Any, label_id: int) -> set[int]:
    with db.read() as session:
        return set(session.scalars(select(link.contact_id).where(column == label_id)))


def _marketer(db: Database, tenant: Tenant, page: Any, server: str) -> None:
    make_user(db, tenant.organization_id, "m@venue.example", "marketer")
    sign_in(page, server, "m@venue.example")
    page.wait_for_selector("#audience-size, #first-steps")


def test_tag_every_match_of_a_filter_across_pages_confirm_the_count_and_undo(
    server: str, page: Any, db: Database, tenant: Tenant
) -> None:
    org = tenant.organization_id
    ids = _audience(db, org, 120)
    with db.write() as session:
        vip, fans = create_tag(session, org, "VIP").id, create_list(session, org, "Fans").id
        AudienceWriter(session, org, "test").add_lists([(c, fans) for c in ids[:70]])
    _marketer(db, tenant, page, server)
    page.goto(f"{server}/manager/contacts?list={fans}")
    assert page.inner_text("#match-count") == "70 matching contacts"
    assert page.locator("#next-page").is_visible()  # more than one page
    assert not page.locator("#select-matching").is_visible()  # offered once the page is selected

    page.check('[data-select-all="contact_id"]')
    assert page.locator("#select-matching").is_visible()
    assert "All 50 contacts on this page are selected." in page.inner_text("#select-matching")
    page.check("#scope-matching")
    page.select_option("#bulk-target", f"tag:{vip}")
    page.click("#bulk-apply")
    page.wait_for_selector("#bulk-confirm")
    assert page.inner_text("#bulk-confirm-action") == "Tag all 70 contacts matching this filter with VIP?"
    assert _carrying(db, ContactTag, ContactTag.tag_id, vip) == set()  # nothing before the confirmation
    page.screenshot(path=str(SHOTS / "contacts-bulk-confirm.png"))
    page.click("#bulk-confirm")

    page.wait_for_selector("#undo-change")
    assert "Tagged 70 contact(s) with VIP." in page.inner_text("#bulk-notice")
    assert page.inner_text("#match-count") == "70 matching contacts"  # back on the same filter
    assert _carrying(db, ContactTag, ContactTag.tag_id, vip) == set(ids[:70])
    page.screenshot(path=str(SHOTS / "contacts-bulk-undo.png"))
    page.click("#undo-change")
    page.wait_for_selector("text=Undone. Removed VIP from 70 contact(s).")
    assert _carrying(db, ContactTag, ContactTag.tag_id, vip) == set()
    assert page.locator("#undo-change").count() == 0


def test_remove_every_match_of_a_filter_from_a_list(server: str, page: Any, db: Database, tenant: Tenant) -> None:
    org = tenant.organization_id
    ids = _audience(db, org, 80)
    with db.write() as session:
        vip, fans = create_tag(session, org, "VIP").id, create_list(session, org, "Fans").id
        writer = AudienceWriter(session, org, "test")
        writer.add_lists([(c, fans) for c in ids[:40]])
        writer.add_tags([(c, vip) for c in ids[20:75]])  # 55 VIPs, 20 of them on the list
    _marketer(db, tenant, page, server)
    page.goto(f"{server}/manager/contacts?tag={vip}")
    page.check('[data-select-all="contact_id"]')
    page.check("#scope-matching")
    page.select_option("#bulk-target", f"unlist:{fans}")
    page.click("#bulk-apply")
    page.wait_for_selector("#bulk-confirm")
    action = page.inner_text("#bulk-confirm-action")
    assert action == "Remove all 55 contacts matching this filter from the list Fans?"
    assert page.inner_text("#bulk-confirm-changing").startswith("20 of them will change; 35 are not on the list")
    page.click("#bulk-confirm")
    page.wait_for_selector("#undo-change")
    assert "Removed 20 contact(s) from Fans." in page.inner_text("#bulk-notice")
    assert _carrying(db, ContactList, ContactList.list_id, fans) == set(ids[:20])


def test_sort_by_last_order_both_ways(server: str, page: Any, db: Database, tenant: Tenant) -> None:
    org = tenant.organization_id
    ids = _audience(db, org, 12)
    start = datetime(2026, 2, 1, tzinfo=UTC)
    with db.write() as session:  # Fan 003 bought last, then Fan 007, then Fan 001; the rest never
        for n, (index, days) in enumerate([(1, 1), (7, 5), (3, 9), (1, 0)]):
            placed = start + timedelta(days=days)
            session.add(
                Order(
                    organization_id=org,
                    source="t",
                    external_id=str(n),
                    event_external_id="e",
                    contact_id=ids[index],
                    placed_at=placed,
                )
            )
    _marketer(db, tenant, page, server)
    page.goto(f"{server}/manager/contacts")
    page.click("#sort-last_order")
    page.wait_for_url("**sort=last_order**")
    names = page.locator("#contacts-table tbody td:nth-child(2)").all_inner_texts()
    assert names[:4] == ["Fan 003", "Fan 007", "Fan 001", "Fan 011"]  # then those who never ordered
    assert "▼" in page.inner_text("#contacts-table thead")
    page.screenshot(path=str(SHOTS / "contacts-sorted-last-order.png"))
    page.click("#sort-last_order")
    page.wait_for_url("**dir=asc**")
    names = page.locator("#contacts-table tbody td:nth-child(2)").all_inner_texts()
    assert names[:4] == ["Fan 001", "Fan 007", "Fan 003", "Fan 000"]


def test_edit_a_contact_remove_a_tag_and_see_the_audit_entries(
    server: str, page: Any, db: Database, tenant: Tenant
) -> None:
    org = tenant.organization_id
    with db.write() as session:
        writer = AudienceWriter(session, org, "test")
        (row,) = writer.resolve([Person(email="ann@example.com", phone="+14155550101", first_name="Ann")])
        writer.flush()
        assert row.id is not None
        contact_id = int(row.id)
        vip = create_tag(session, org, "VIP").id
        writer.add_tags([(contact_id, vip)])
    _marketer(db, tenant, page, server)
    page.goto(f"{server}/manager/contacts/{contact_id}")
    page.click("#contact-edit summary")
    page.fill("#edit-first_name", "Anna")
    page.fill("#edit-phone", "415 555 0199")
    page.click("#contact-edit button[type=submit]")
    page.wait_for_selector("text=Saved: first name, phone.")
    edits = page.inner_text("#contact-edits")
    assert "first name Ann → Anna" in edits and "+14155550101 → +14155550199" in edits
    assert "(415) 555-0199" in page.content()

    page.click('[aria-label="Remove tag VIP"]')
    page.wait_for_selector("text=Removed tag VIP.")
    assert "VIP" not in page.inner_text("#contact-tags")
    assert "untag: tag VIP" in page.inner_text("#contact-edits")
    assert _carrying(db, ContactTag, ContactTag.tag_id, vip) == set()
    page.screenshot(path=str(SHOTS / "contact-edited.png"))


def test_an_empty_organization_ticks_off_a_first_step_once_done(server: str, page: Any, db: Database) -> None:
    from fanhub.organizations.service import create_organization

    with db.write() as session:
        org = create_organization(session, "Brand New Venue").id
    make_user(db, org, "new@venue.example", "admin")
    sign_in(page, server, "new@venue.example")
    page.wait_for_selector("#first-steps")
    assert page.get_attribute('[data-step="key"]', "class") == "todo"
    page.click('[data-step="key"] a')
    page.fill('#create-key input[name="partner"]', "website")
    page.click("#create-key button[type=submit]")
    page.wait_for_selector("#new-token")
    page.goto(f"{server}/manager/")
    page.wait_for_selector("#first-steps")
    steps = {s: page.get_attribute(f'[data-step="{s}"]', "class") for s in ("connect", "import", "key", "invite")}
    assert steps == {"connect": "todo", "import": "todo", "key": "done", "invite": "todo"}
    assert "(done)" in page.inner_text('[data-step="key"]')
    page.screenshot(path=str(SHOTS / "first-steps-key-done.png"))
