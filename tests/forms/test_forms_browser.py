"""Signup forms in a real browser (Debian's Chromium via Playwright), JavaScript off: the hosted form
at desktop and 375 px phone width, the embedded form posted from another origin (a page served on a
second local port), and the double opt-in confirmation read from the local SMTP server (GET shows
a button and changes nothing, the button confirms). Screenshots go beside the manager's."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import select

from fanhub.audience.models import Contact
from fanhub.config import Settings
from fanhub.db.engine import Database
from fanhub.forms.models import FormSubmission
from fanhub.forms.pages import embed_html
from tests.fakes.smtp import FakeSmtpServer
from tests.forms.conftest import MakeForm
from tests.manager.test_browser import SHOTS, browser, server  # noqa: F401 (fixtures)


def _context(browser: Any, width: int, height: int) -> Any:  # noqa: F811
    return browser.new_context(viewport={"width": width, "height": height}, java_script_enabled=False)


def _status(db: Database, email: str) -> str | None:
    with db.read() as session:
        return session.scalar(select(Contact.email_status).where(Contact.email == email))


@contextmanager
def venue_site(markup: str) -> Iterator[str]:
    """Another origin: a venue's page holding the embedded form, on its own local port."""
    head = "<!doctype html><html><head><meta charset='utf-8'><title>Belly Up</title></head>"
    body = f"{head}<body><h1>Join us</h1>{markup}</body></html>"

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _wait_for_mail(smtp: FakeSmtpServer, address: str, timeout: float = 20.0) -> str:
    """The confirmation link's path, once the server's worker has sent the email."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        messages = smtp.to(address)
        if messages:
            assert len(messages) == 1
            text = messages[0].get_body(("plain",))
            assert text is not None
            line = next(word for word in text.get_content().split() if "/f/c/" in word)
            return "/f/c/" + line.split("/f/c/", 1)[1]
        time.sleep(0.2)
    raise AssertionError(f"no confirmation email to {address}")


def test_hosted_form_at_desktop_and_phone_width_and_the_confirmation(
    browser: Any,  # noqa: F811
    server: str,  # noqa: F811
    db: Database,
    forms_env: Settings,
    make_form: MakeForm,
    smtp_server: FakeSmtpServer,
) -> None:
    form = make_form(
        name="Pre-sale: The Head and the Heart",
        fields=["email", "first_name", "phone"],
        double_opt_in=True,
        consent_text="Yes, email me pre-sale codes and news from Belly Up.",
    )
    desktop = _context(browser, 1280, 900)
    try:
        page = desktop.new_page()
        page.set_default_timeout(15000)
        page.goto(f"{server}/f/{form.key}")
        assert page.locator("h1").inner_text() == "Pre-sale: The Head and the Heart"
        honeypot = page.locator("input[name=website]").bounding_box()  # out of sight, left of the page
        assert honeypot is None or honeypot["x"] + honeypot["width"] <= 0
        page.screenshot(path=str(SHOTS / "form-desktop.png"), full_page=True)
        page.get_by_label("Email").fill("dana@fans.net")
        page.get_by_label("First name").fill("Dana")
        page.get_by_role("button", name="Sign up").click()
        assert "we sent you an email" in page.get_by_role("status").inner_text()
        page.screenshot(path=str(SHOTS / "form-desktop-thanks.png"), full_page=True)
    finally:
        desktop.close()
    assert _status(db, "dana@fans.net") == "pending"

    link = _wait_for_mail(smtp_server, "dana@fans.net")
    phone = _context(browser, 375, 740)
    try:
        page = phone.new_page()
        page.set_default_timeout(15000)
        page.goto(f"{server}/f/{form.key}")
        assert page.evaluate("document.documentElement.scrollWidth") <= 375  # nothing wider than the phone
        box = page.get_by_role("button", name="Sign up").bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 375
        page.screenshot(path=str(SHOTS / "form-phone.png"), full_page=True)
        # The confirmation link: GET shows a button and changes nothing; the button confirms.
        page.goto(f"{server}{link}")
        assert page.get_by_role("button", name="Confirm my subscription").is_visible()
        page.screenshot(path=str(SHOTS / "form-confirm-phone.png"), full_page=True)
        assert _status(db, "dana@fans.net") == "pending"
        page.get_by_role("button", name="Confirm my subscription").click()
        assert "subscription is confirmed" in page.get_by_role("status").inner_text()
        page.screenshot(path=str(SHOTS / "form-confirmed-phone.png"), full_page=True)
        page.goto(f"{server}{link}")
        assert "already confirmed" in page.get_by_role("status").inner_text()
    finally:
        phone.close()
    assert _status(db, "dana@fans.net") == "subscribed"
    assert len(smtp_server.to("dana@fans.net")) == 1


def test_embedded_form_posted_from_another_origin(
    browser: Any,  # noqa: F811
    server: str,  # noqa: F811
    db: Database,
    forms_env: Settings,
    make_form: MakeForm,
) -> None:
    form = make_form(name="Newsletter", fields=["email", "phone"])
    markup = embed_html(forms_env.model_copy(update={"public_url": server}), form)
    assert "<script" not in markup
    with venue_site(markup) as site:
        context = _context(browser, 375, 740)
        try:
            page = context.new_page()
            page.set_default_timeout(15000)
            page.goto(f"{site}/join")
            page.get_by_label("Email").fill("eli@fans.net")
            page.get_by_label("Mobile phone (optional)").fill("+1 970 555 0199")
            page.locator("input[name=sms_opt_in]").check()
            page.screenshot(path=str(SHOTS / "form-embedded.png"), full_page=True)
            page.get_by_role("button", name="Sign up").click()
            page.wait_for_url(f"{server}/f/{form.key}/thanks")
            assert "you're subscribed" in page.get_by_role("status").inner_text()
        finally:
            context.close()
    with db.read() as session:
        contact = session.scalars(select(Contact).where(Contact.email == "eli@fans.net")).one()
        assert (contact.email_status, contact.sms_status, contact.phone) == ("subscribed", "subscribed", "+19705550199")
        submission = session.scalars(select(FormSubmission)).one()
    # The page the form was on: Chromium sends the embedding site's origin cross-origin.
    assert submission.page_url is not None and submission.page_url.startswith(site)
