"""Browser test of the suppression list: a marketer adds an address, imports another provider's
3-row export, removes one entry after confirming, and sees the list, filtered by reason.

Chromium drives `fanhub serve`'s app (see test_browser.py).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from fanhub.db.engine import Database
from fanhub.organizations.audit import AuditEntry
from tests.conftest import Tenant
from tests.manager.helpers import make_user
from tests.manager.test_browser import SHOTS, browser, page, server, sign_in

__all__ = ["browser", "page", "server"]  # the fixtures, shared with test_browser.py

SENDGRID_EXPORT = b"email,created,reason\r\nOne@Example.com,1718000000,550 5.1.1 no such user\r\n" + (
    b"two@example.com,1718000001,\r\nthree@example.com,1718000002,spam report\r\n"
)


def _rows(page: Any) -> list[tuple[str, str]]:
    return [
        (row.get_attribute("data-address"), row.query_selector("td:nth-child(2) .badge").inner_text().strip())
        for row in page.query_selector_all("#suppressions tbody tr[data-address]")
    ]


def test_add_import_remove_and_see_the_list(server: str, page: Any, db: Database, tenant: Tenant) -> None:
    user_id = make_user(db, tenant.organization_id, "m@venue.example", "marketer")
    sign_in(page, server, "m@venue.example")
    page.wait_for_selector("#audience-size")
    page.click("header.top nav >> text=Suppressions")
    page.wait_for_selector("#no-suppressions")

    page.fill("#suppress-address", "Fan@Example.com")
    page.click("#suppress-button")
    page.wait_for_selector("tr[data-address='fan@example.com']")
    assert "fan@example.com suppressed" in page.inner_text(".notice")

    page.set_input_files(
        "#suppressions-file",
        files=[{"name": "sendgrid-bounces.csv", "mimeType": "text/csv", "buffer": SENDGRID_EXPORT}],
    )
    page.click("#import-button")
    page.wait_for_selector("tr[data-address='three@example.com']")
    assert "sendgrid-bounces.csv: 3 rows, 3 added" in page.inner_text(".notice")
    assert _rows(page) == [
        ("three@example.com", "Imported"),
        ("two@example.com", "Imported"),
        ("one@example.com", "Imported"),
        ("fan@example.com", "Added by staff"),
    ]
    assert "550 5.1.1 no such user" in page.inner_text("tr[data-address='one@example.com']")

    dialogs: list[str] = []

    def accept(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    page.click("tr[data-address='two@example.com'] .remove-suppression")
    page.wait_for_selector("tr[data-address='two@example.com']", state="detached")
    assert dialogs and dialogs[0].startswith("Remove two@example.com from the suppression list?")
    assert "two@example.com removed from the list" in page.inner_text(".notice")
    assert [address for address, _ in _rows(page)] == ["three@example.com", "one@example.com", "fan@example.com"]
    page.screenshot(path=str(SHOTS / "suppressions.png"), full_page=True)

    page.click("#reason-filter a[data-reason='manual']")
    page.wait_for_selector("#reason-filter strong[data-reason='manual']")
    assert _rows(page) == [("fan@example.com", "Added by staff")]
    assert "All (3)" in page.inner_text("#reason-filter")
    with db.read() as session:
        audited = list(session.scalars(select(AuditEntry).where(AuditEntry.action == "suppression.remove")))
    assert [(e.actor, e.details["address"]) for e in audited] == [(f"staff:{user_id}", "two@example.com")]
