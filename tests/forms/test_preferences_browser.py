"""The preference center in a real browser (Debian's Chromium via Playwright) with JavaScript off:
a person changes channels, lists and genres at desktop width, then unsubscribes from everything
at a 375 px phone width. Screenshots go to the same folder as the manager's browser tests."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from fanhub.audience.models import ConsentEvent, Contact, ContactGenre, ContactList
from fanhub.audience.service import create_list
from fanhub.campaigns import tokens
from fanhub.db.engine import Database
from tests.campaigns.conftest import add_contact
from tests.conftest import Tenant
from tests.manager.test_browser import SHOTS, browser, server  # noqa: F401 (fixtures)

_OVERFLOWING = """Array.from(document.querySelectorAll('label.row')).filter(label => {
  const span = label.querySelector('span').getBoundingClientRect();
  return span.right > label.getBoundingClientRect().right + 0.5;
}).map(label => label.textContent.trim())"""


def _context(browser: Any, width: int, height: int) -> Any:  # noqa: F811
    return browser.new_context(viewport={"width": width, "height": height}, java_script_enabled=False)


def _state(db: Database, contact_id: int) -> tuple[str, str, set[int], set[str], list[str]]:
    with db.read() as session:
        contact = session.get(Contact, contact_id)
        assert contact is not None
        lists = set(session.scalars(select(ContactList.list_id).where(ContactList.contact_id == contact_id)))
        genres = set(session.scalars(select(ContactGenre.genre).where(ContactGenre.contact_id == contact_id)))
        vias = list(session.scalars(select(ConsentEvent.via).where(ConsentEvent.contact_id == contact_id)))
        return contact.email_status, contact.sms_status, lists, genres, vias


def test_preference_center_without_javascript_at_desktop_and_phone_width(
    browser: Any,  # noqa: F811
    server: str,  # noqa: F811
    client: TestClient,
    db: Database,
    tenant: Tenant,
) -> None:
    org = tenant.organization_id
    with db.write() as session:
        news = create_list(session, org, "Newsletter", public=True).id
        presale = create_list(session, org, "Presale alerts", public=True).id
        create_list(session, org, "Staff only", public=False)
    ann = add_contact(client, db, tenant, "ann@example.com", "+14155550101", genres=["Rock"], list_id=presale)
    url = f"{server}/p/{tokens.preference_token(org, ann)}"

    desktop = _context(browser, 1280, 900)
    try:
        page = desktop.new_page()
        page.set_default_timeout(15000)
        page.goto(url)
        assert page.locator("h1").inner_text() == "Your preferences"
        assert page.get_by_text("Staff only").count() == 0
        page.screenshot(path=str(SHOTS / "preferences-desktop.png"), full_page=True)
        assert page.evaluate(_OVERFLOWING) == []
        assert _state(db, ann)[:4] == ("subscribed", "unknown", {presale}, {"Rock"})  # GET changed nothing
        page.locator("#channel-email input[type=checkbox]").uncheck()
        page.locator("#channel-sms input[type=checkbox]").check()  # the box labelled with the SMS consent
        page.get_by_label("Newsletter").check()
        page.get_by_label("Presale alerts").uncheck()
        page.get_by_label("Jazz").check()
        page.get_by_role("button", name="Save my preferences").click()
        assert page.get_by_role("status").inner_text() == "Your preferences are saved."
        page.screenshot(path=str(SHOTS / "preferences-desktop-saved.png"), full_page=True)
    finally:
        desktop.close()
    email, sms, lists, genres, vias = _state(db, ann)
    assert (email, sms, lists, genres) == ("unsubscribed", "subscribed", {news}, {"Rock", "Jazz"})
    assert vias[-2:] == ["preference_center", "preference_center"]

    phone = _context(browser, 375, 740)
    try:
        page = phone.new_page()
        page.set_default_timeout(15000)
        page.goto(url)
        # Nothing wider than the screen, and both buttons fit it.
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        # No label's text runs out of its own box (into the next column or over the border).
        assert page.evaluate(_OVERFLOWING) == []
        for name in ("Save my preferences", "Unsubscribe from everything"):
            box = page.get_by_role("button", name=name).bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 375
        page.screenshot(path=str(SHOTS / "preferences-phone.png"), full_page=True)
        page.get_by_role("button", name="Unsubscribe from everything").click()
        assert "unsubscribed from everything" in page.get_by_role("status").inner_text()
        page.screenshot(path=str(SHOTS / "preferences-phone-unsubscribed.png"), full_page=True)
    finally:
        phone.close()
    assert _state(db, ann)[:3] == ("unsubscribed", "unsubscribed", {news})
