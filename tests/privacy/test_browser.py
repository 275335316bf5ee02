"""Browser test (Playwright, Debian's Chromium): an admin opens a contact, follows Erase, reads the
confirmation, confirms, and lands on the anonymous contact with a notice; the audit page shows it."""

from __future__ import annotations

from typing import Any

from fanhub.db.engine import Database
from tests.manager.helpers import make_user
from tests.manager.test_browser import SHOTS, browser, page, server, sign_in  # noqa: F401 (fixtures)
from tests.privacy.conftest import EMAIL, FIRST, Person


def test_erase_after_the_confirmation_page(person: Person, server: str, page: Any, db: Database) -> None:  # noqa: F811
    # `person` first: its batches are applied before the server's own worker starts.
    make_user(db, person.org, "admin@venue.example", "admin")
    sign_in(page, server, "admin@venue.example")
    page.goto(f"{server}/manager/contacts/{person.contact_id}")
    assert EMAIL in page.content()
    assert page.locator("#download-data").is_visible()
    page.click("#erase-contact")
    page.wait_for_url(f"**/manager/contacts/{person.contact_id}/erase")
    confirm = page.locator("#erase-confirm")
    assert "cannot be undone" in confirm.inner_text() and EMAIL in confirm.inner_text()
    page.screenshot(path=str(SHOTS / "contact-erase-confirm.png"), full_page=True)
    page.click("#erase-submit")
    page.wait_for_url(f"**/manager/contacts/{person.contact_id}?notice=*")
    notice = page.locator(".notice").inner_text()
    assert f"Contact {person.contact_id} erased" in notice
    body = page.locator("main").inner_text()
    assert EMAIL not in body and FIRST not in body
    page.click("a[href='/manager/audit']")
    rows = page.locator("#audit-entries tbody tr").all_inner_texts()
    assert any("contact.erase" in row and str(person.contact_id) in row for row in rows)
