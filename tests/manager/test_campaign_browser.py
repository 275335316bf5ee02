"""Browser tests of the campaign lifecycle: edit, duplicate, delete, test send, schedule and cancel,
send now with the live status, pause and resume (nobody twice), cancel while sending.

Chromium drives `fanhub serve`'s app with its in-process worker and a local SMTP server; sending is
slowed to a few messages a second so the page can be watched while it sends (see test_browser.py
for the set-up; screenshots go to the same folder).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from fanhub.config import get_settings
from fanhub.db.engine import Database
from tests.conftest import Tenant
from tests.fakes.smtp import FakeSmtpServer
from tests.manager.demo import seed
from tests.manager.helpers import make_user
from tests.manager.test_browser import SHOTS, _free_port, browser, page, serve, sign_in

__all__ = ["browser", "page"]  # the fixtures, shared with test_browser.py


@contextmanager
def _venue(db: Database, tenant: Tenant, monkeypatch: pytest.MonkeyPatch, per_second: int) -> Iterator[Any]:
    """A seeded organization, a marketer, SMTP on a local server, and the app serving on a free port."""
    port = _free_port()
    with FakeSmtpServer() as smtp:
        for name, value in {
            "smtp_host": smtp.host,
            "smtp_port": str(smtp.port),
            "smtp_tls": "none",
            "public_url": f"http://127.0.0.1:{port}",
            "mail_from": "Venue <news@venue.example>",
            "campaign_send_per_second": str(per_second),
        }.items():
            monkeypatch.setenv(f"FANHUB_{name.upper()}", value)
        get_settings.cache_clear()
        try:
            seed(db, tenant.organization_id, contacts=30)
            make_user(db, tenant.organization_id, "m@venue.example", "marketer")
            with serve(db, get_settings(), port) as base:
                yield base, smtp
        finally:
            get_settings.cache_clear()


def _create(page: Any, base: str, name: str) -> int:
    page.goto(f"{base}/manager/campaigns/new?type=email")
    page.fill("#name", name)
    page.fill("#subject", "Hi {{ first_name }}")
    page.fill("#body", "<p>Hello {{ first_name }}!</p>")
    page.click("#save-campaign")
    page.wait_for_selector("#send-now")
    match = re.search(r"/campaigns/(\d+)", page.url)
    assert match
    return int(match.group(1))


def _shot(page: Any, name: str) -> None:
    """A full-page screenshot of a page that reloads itself every 2 s while sending: a capture that a
    reload cuts off can hang until its timeout, so it is taken again after the next load."""
    for _ in range(4):
        page.wait_for_load_state("load")
        try:
            page.screenshot(path=str(SHOTS / name), full_page=True, timeout=4000)
            return
        except PlaywrightTimeoutError:
            continue
    page.screenshot(path=str(SHOTS / name), timeout=4000)  # the visible part, after four cut-off tries


def _status(page: Any) -> str:
    return str(page.inner_text("#campaign-status"))


def _sent(page: Any) -> int:
    return int(page.inner_text("#send-sent").replace(",", ""))


def _settled(page: Any, smtp: FakeSmtpServer) -> int:
    """The sent count once it stops moving: the same on two reloads 0.5 s apart, and what the SMTP
    server received (a loaded machine may take longer than usual to finish the message in flight)."""
    last = -1
    for _ in range(20):
        page.wait_for_timeout(500)
        page.reload()
        sent = _sent(page)
        if sent == last == len(smtp.received()):
            return sent
        last = sent
    raise AssertionError(f"the sent count kept moving: {last}, {len(smtp.received())} received")


def _wait_for_status(page: Any, wanted: str, tries: int = 100) -> None:
    for _ in range(tries):
        if _status(page) == wanted:
            return
        page.wait_for_timeout(300)
        page.reload()
    assert _status(page) == wanted


def test_edit_duplicate_delete_test_send_schedule_and_cancel(
    page: Any, db: Database, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _venue(db, tenant, monkeypatch, per_second=0) as (base, smtp):
        sign_in(page, base, "m@venue.example")
        page.on("dialog", lambda dialog: dialog.accept())
        campaign_id = _create(page, base, "Spring news")

        page.click("#edit-campaign")
        page.fill("#name", "Spring shows")
        page.fill("#subject", "{{ first_name }}, spring shows")
        page.click("#save-campaign")
        page.wait_for_selector("text=Changes saved.")
        assert "Spring shows" in page.inner_text("h1")

        page.fill("#test-to", "a@venue.example, b@venue.example")
        page.fill("#test-contact", "fan1@example.com")
        page.click("#send-test")
        page.wait_for_selector("text=Test sent to a@venue.example, b@venue.example")
        subject = smtp.to("b@venue.example")[0]["Subject"]
        assert subject.startswith("[TEST] ") and "Test" not in subject[7:]  # fan1's own first name

        page.click("#duplicate-campaign")
        page.wait_for_selector("text=Copied into a new draft")
        assert "Copy of Spring shows" in page.inner_text("h1")
        page.click("#delete-campaign")
        page.wait_for_selector("text=deleted.")
        assert "Copy of Spring shows" not in page.inner_text("#campaigns")

        page.goto(f"{base}/manager/campaigns/{campaign_id}")
        assert page.inner_text("#send-zone") == "UTC"
        page.fill("#send-at", "2031-05-01T19:30")
        page.click("#schedule-form button")
        page.wait_for_selector("text=Scheduled for 2031-05-01 19:30 (UTC).")
        assert _status(page) == "scheduled" and page.locator("#send-now").count() == 0
        _shot(page, "campaign-scheduled.png")
        page.click("#cancel-campaign")
        page.wait_for_selector("text=Cancelled.")
        assert _status(page) == "draft" and page.locator("#send-now").count() == 1
        assert len(smtp.received()) == 2  # the two tests only


def test_send_now_pause_resume_with_progress_and_nobody_twice(
    page: Any, db: Database, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 2 a second: 30 messages take 15 s, time enough on a loaded machine to pause while sending.
    with _venue(db, tenant, monkeypatch, per_second=2) as (base, smtp):
        sign_in(page, base, "m@venue.example")
        page.on("dialog", lambda dialog: dialog.accept())
        campaign_id = _create(page, base, "Weekend")
        recipients = int(page.inner_text("#send-count"))
        assert recipients > 10
        stale = page.context.new_page()  # a second tab, still showing the draft
        stale.on("dialog", lambda dialog: dialog.accept())
        stale.goto(page.url)
        page.click("#send-now")
        page.wait_for_selector("text=Sending now.")
        assert page.locator("#send-now").count() == 0  # the send buttons are gone at once

        page.wait_for_selector("#send-progress")
        # The stale tab's "Send now" (at once, while 30 messages at 2 a second are still going):
        # its own page says why nothing happened (no bare error page).
        stale.click("#send-now")
        stale.wait_for_selector(f"text=campaign {campaign_id} is already sending; nothing was changed.")
        assert stale.inner_text("#campaign-status") == "sending" and "Cannot do that" not in stale.content()
        stale.close()

        for _ in range(50):  # the page refreshes itself while sending
            if _status(page) == "sending" and _sent(page) >= 2:
                break
            page.wait_for_timeout(300)
        assert _status(page) == "sending"
        assert f"of {recipients}" in page.inner_text("#send-progress")
        page.wait_for_selector("#send-rate:has-text('per second')")
        assert "estimated finish" in page.inner_text("#send-rate")
        _shot(page, "campaign-sending.png")

        page.click("#pause-campaign")
        page.wait_for_selector("text=Paused.")
        assert _status(page) == "paused"
        held = _settled(page, smtp)  # the slice in progress notices within 0.5 s; its last message lands
        assert 0 < held < recipients and "not reached yet" in page.inner_text("#send-rate")
        _shot(page, "campaign-paused.png")
        page.wait_for_timeout(1200)
        page.reload()
        assert _sent(page) == held and len(smtp.received()) == held  # nothing more while paused

        page.click("#resume-campaign")
        page.wait_for_selector("text=Resumed.")
        _wait_for_status(page, "sent")
        assert _sent(page) == recipients
        per_recipient = Counter(rcpt for message in smtp.received() for rcpt in message.rcpt_tos)
        assert len(per_recipient) == recipients and max(per_recipient.values()) == 1
        assert page.locator("#pause-campaign, #cancel-campaign, #send-now").count() == 0
        _shot(page, "campaign-sent.png")
        page.goto(f"{base}/manager/campaigns/{campaign_id}/edit")
        page.wait_for_selector("text=only a draft can be edited")
        assert "Cannot do that" not in page.content()


def test_cancel_while_sending(page: Any, db: Database, tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    with _venue(db, tenant, monkeypatch, per_second=4) as (base, smtp):
        sign_in(page, base, "m@venue.example")
        page.on("dialog", lambda dialog: dialog.accept())
        _create(page, base, "Oops")
        recipients = int(page.inner_text("#send-count"))
        page.click("#send-now")
        page.wait_for_selector("#pause-campaign")
        page.click("#cancel-campaign")
        page.wait_for_selector("text=Cancelled.")
        assert _status(page) == "cancelled"
        page.wait_for_timeout(1500)
        page.reload()
        sent = _sent(page)
        assert sent < recipients and len(smtp.received()) == sent
        assert f"{recipients - sent} not sent" in page.inner_text("#send-rate")
        assert page.locator("#duplicate-campaign").count() == 1 and page.locator("#resume-campaign").count() == 0
