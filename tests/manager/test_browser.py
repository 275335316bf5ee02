"""Browser tests: Playwright driving Debian's Chromium against `fanhub serve`'s app on 127.0.0.1.

The app runs under uvicorn in a background thread with its in-process worker, so imports are
applied exactly as in production. Screenshots of the main pages go to a temporary folder, or to
FANHUB_SCREENSHOT_DIR (`FANHUB_SCREENSHOT_DIR=docs/screenshots ./dev test tests/manager/test_browser.py`
refreshes the README's pictures). Chromium is required: `.ci/run` and `./dev test` install it.
"""

from __future__ import annotations

import io
import os
import re
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from fanhub.auth.users import create_setup_token
from fanhub.config import Settings
from fanhub.db.engine import Database
from tests.conftest import Tenant
from tests.manager.demo import seed
from tests.manager.helpers import PASSWORD, make_user

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(os.environ.get("FANHUB_SCREENSHOT_DIR") or Path(tempfile.gettempdir()) / "fanhub-screenshots")
SHOTS.mkdir(parents=True, exist_ok=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve(db: Database, settings: Settings, port: int | None = None) -> Iterator[str]:
    """uvicorn on 127.0.0.1 in a thread, with the in-process worker; stops when the block ends."""
    from fanhub.app import create_app

    port = port or _free_port()
    app = create_app(settings, database=db, run_worker=True)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not srv.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def server(db: Database, settings: Settings) -> Iterator[str]:
    with serve(db, settings) as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(15000)
    try:
        yield pg
    finally:
        context.close()


def sign_in(page: Any, base: str, email: str, password: str = PASSWORD) -> None:
    page.goto(f"{base}/manager/login")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("button[type=submit]")


def test_setup_link_login_logout_wrong_password_and_org_switch(
    server: str, page: Any, db: Database, tenant: Tenant
) -> None:
    with db.write() as session:
        token = create_setup_token(session)
    page.goto(f"{server}/manager/setup?token={token}")
    page.fill("#email", "boss@venue.example")
    page.fill("#password", PASSWORD)
    page.fill("#password2", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#audience-size")
    assert "boss@venue.example (admin)" in page.content()
    page.click("#logout")
    page.wait_for_selector("#password")
    sign_in(page, server, "boss@venue.example", "wrong password!!")
    assert "Wrong email or password" in page.inner_text("#login-error")
    page.screenshot(path=str(SHOTS / "login-error.png"))
    sign_in(page, server, "boss@venue.example")
    page.wait_for_selector("#audience-size")
    # A second organization: switching shows only its data.
    from fanhub.audience.service import create_tag
    from tests.conftest import make_tenant

    other = make_tenant(db, "Other Venue", "other")
    make_user(db, other.organization_id, "boss@venue.example", "viewer")
    with db.write() as session:
        create_tag(session, tenant.organization_id, "HomeTag")
        create_tag(session, other.organization_id, "OtherTag")
    page.goto(f"{server}/manager/tags")
    assert "HomeTag" in page.content() and "OtherTag" not in page.content()
    page.select_option("#org-switch select", str(other.organization_id))
    page.click("#org-switch button")
    page.goto(f"{server}/manager/tags")
    assert "OtherTag" in page.content() and "HomeTag" not in page.content()
    assert "(viewer)" in page.content() and "Create tag" not in page.content()


def _pixels_not_blank(png: bytes) -> int:
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    colors = image.getcolors(maxcolors=1 << 20) or []
    # Count pixels drawn in the series colours (blue / red lines and dots).
    return sum(n for n, (r, g, b) in colors if (b > 150 and r < 120) or (r > 180 and g < 100 and b < 100))


def test_dashboard_chart_renders_and_main_pages_look_right(
    server: str, page: Any, db: Database, tenant: Tenant
) -> None:
    seed(db, tenant.organization_id)
    make_user(db, tenant.organization_id, "m@venue.example", "admin")
    sign_in(page, server, "m@venue.example")
    page.wait_for_selector("#subscriptions-chart svg")
    chart = page.locator("#subscriptions-chart svg").screenshot()
    assert _pixels_not_blank(chart) > 500
    page.screenshot(path=str(SHOTS / "dashboard.png"), full_page=True)
    page.goto(f"{server}/manager/contacts")
    page.screenshot(path=str(SHOTS / "contacts.png"))
    page.goto(f"{server}/manager/events?when=all")
    page.click("text=The Head & The Heart")
    page.wait_for_selector("#sales-chart svg")
    assert _pixels_not_blank(page.locator("#sales-chart svg").screenshot()) > 500
    assert "Night Drive &lt;Live&gt;" in page.goto(f"{server}/manager/events").text()  # escaped, not markup
    page.goto(f"{server}/manager/events?when=all")
    page.click("text=The Head & The Heart")
    page.screenshot(path=str(SHOTS / "event.png"), full_page=True)
    contact_link = page.locator("table a[href^='/manager/contacts/']").first
    contact_link.click()
    page.wait_for_selector("#consent-timeline")
    page.screenshot(path=str(SHOTS / "contact.png"), full_page=True)
    # Phone width: no sideways scrolling of the page itself.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{server}/manager/contacts")
    width = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert width <= 1
    page.screenshot(path=str(SHOTS / "contacts-phone.png"))
    page.goto(f"{server}/manager/")
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 1


@pytest.fixture
def small_body_server(db: Database, settings: Settings) -> Iterator[str]:
    """A server whose request body limit is smaller than the test file, so the browser sends it in parts."""
    with serve(db, settings.model_copy(update={"max_body_bytes": 8192})) as base:
        yield base


def test_csv_import_in_the_browser(
    small_body_server: str, page: Any, db: Database, tenant: Tenant, tmp_path: Path
) -> None:
    server = small_body_server
    make_user(db, tenant.organization_id, "m@venue.example", "marketer")
    httpx.post(
        f"{server}/v1/partners/contact",
        json={"contact": {"email": "out@example.com"}, "opt_ins": {"email": False}},
        headers=tenant.headers,
    ).raise_for_status()
    csv_file = tmp_path / "fans.csv"
    rows = ["Full Name,Email,Phone,Birthday"]
    rows += [f"Fan {i},fan{i}@example.com,,Jan {1 + i % 28} 1990" for i in range(300)]
    rows += ["Opted Out,out@example.com,,", "Broken,not-an-email,,"]
    csv_file.write_text("\n".join(rows) + "\n")
    assert csv_file.stat().st_size > 8192  # larger than one request may be
    sign_in(page, server, "m@venue.example")
    page.goto(f"{server}/manager/imports")
    page.set_input_files("input[type=file]", str(csv_file))
    page.click("#upload-form button")
    page.wait_for_selector("#mapping-form")
    page.screenshot(path=str(SHOTS / "import-mapping.png"), full_page=True)
    page.check("input[name=mode][value=subscribe_everyone]")
    page.click("#start-import")
    assert "explicit consent" in page.inner_text("#consent-error")
    page.check("input[name=mode][value=subscribe_if_not_opted_out]")
    page.click("#start-import")
    page.wait_for_selector("#result-created", timeout=30000)
    assert page.inner_text("#result-created") == "300"
    assert page.inner_text("#result-merged") == "1"
    assert page.inner_text("#result-rejected") == "1"
    assert "not-an-email" in page.inner_text("#issues")
    page.screenshot(path=str(SHOTS / "import-result.png"), full_page=True)
    page.goto(f"{server}/manager/contacts?q=out@example.com")
    assert "unsubscribed" in page.inner_text("#contacts-table")  # the opt-out held


def test_import_page_offers_email_and_sms_choices_side_by_side(
    server: str, page: Any, db: Database, tenant: Tenant, tmp_path: Path
) -> None:
    make_user(db, tenant.organization_id, "m@venue.example", "marketer")
    csv_file = tmp_path / "fans.csv"
    rows = ["Email,Mobile"] + [f"fan{i}@example.com,(415) 555-{1000 + i}" for i in range(6)] + ["nophone@example.com,"]
    csv_file.write_text("\n".join(rows) + "\n")
    sign_in(page, server, "m@venue.example")
    page.goto(f"{server}/manager/imports")
    page.set_input_files("input[type=file]", str(csv_file))
    page.click("#upload-form button")
    page.wait_for_selector("#mapping-form")
    email_box = page.locator("#email-modes").bounding_box()
    sms_box = page.locator("#sms-modes").bounding_box()
    assert email_box and sms_box and abs(email_box["y"] - sms_box["y"]) < 5 and sms_box["x"] > email_box["x"]
    # SMS starts on "don't change"; choosing to subscribe asks for its own confirmation.
    assert page.is_checked("input[name=sms_mode][value=dont_change]")
    page.check("input[name=mode][value=subscribe_if_not_opted_out]")
    page.check("input[name=sms_mode][value=subscribe_if_not_opted_out]")
    page.check("input[name=consent_confirmed]")  # the email confirmation does not cover SMS
    page.click("#start-import")
    assert "text messages" in page.inner_text("#sms-consent-error")
    page.screenshot(path=str(SHOTS / "import-channels.png"), full_page=True)
    page.check("input[name=mode][value=subscribe_if_not_opted_out]")
    page.check("input[name=sms_mode][value=subscribe_if_not_opted_out]")
    page.check("#sms-consent")
    page.click("#start-import")
    page.wait_for_selector("#channel-results", timeout=30000)
    assert page.inner_text("#channel-email").split() == ["Email", "7", "0", "0"]
    assert page.inner_text("#channel-sms").split() == ["SMS", "6", "0", "1"]
    page.screenshot(path=str(SHOTS / "import-channels-result.png"), full_page=True)


def test_tag_and_key_made_in_the_browser_work_on_the_partners_api(
    server: str, page: Any, db: Database, tenant: Tenant
) -> None:
    make_user(db, tenant.organization_id, "a@venue.example", "admin")
    sign_in(page, server, "a@venue.example")
    page.goto(f"{server}/manager/tags")
    page.fill("#create-tag input[name=name]", "Early Bird")
    page.click("#create-tag button")
    page.wait_for_selector("text=Created tag Early Bird")
    page.goto(f"{server}/manager/settings/keys")
    page.fill("#create-key input[name=partner]", "box-office")
    page.click("#create-key button")
    token = page.inner_text("#new-token").strip()
    page.screenshot(path=str(SHOTS / "keys.png"))
    headers = {"Cymbal-Partner-API-Key": token}
    body = {"contact": {"email": "eb@example.com", "tags": ["Early Bird"]}, "opt_ins": {"email": True}}
    assert httpx.post(f"{server}/v1/partners/contact", json=body, headers=headers).status_code == 201
    page.goto(f"{server}/manager/settings/keys")
    page.on("dialog", lambda dialog: dialog.accept())
    page.locator("#keys button.danger").last.click()
    page.wait_for_selector("text=revoked;")
    assert httpx.post(f"{server}/v1/partners/contact", json=body, headers=headers).status_code == 403


def test_compose_send_email_campaign_and_see_its_report(
    page: Any, db: Database, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fanhub.config import get_settings
    from tests.fakes.smtp import FakeSmtpServer

    port = _free_port()
    with FakeSmtpServer() as smtp:
        for name, value in {
            "smtp_host": smtp.host,
            "smtp_port": str(smtp.port),
            "smtp_tls": "none",
            "public_url": f"http://127.0.0.1:{port}",
            "mail_from": "Venue <news@venue.example>",
        }.items():
            monkeypatch.setenv(f"FANHUB_{name.upper()}", value)
        get_settings.cache_clear()
        try:
            seed(db, tenant.organization_id, contacts=12)
            make_user(db, tenant.organization_id, "m@venue.example", "marketer")
            with serve(db, get_settings(), port) as base:
                sign_in(page, base, "m@venue.example")
                page.goto(f"{base}/manager/campaigns")
                page.click("#new-email")
                page.fill("#name", "December shows")
                page.fill("#subject", "Hi {{ first_name }}: new shows")
                page.select_option("#event_id", label=page.locator("#event_id option").nth(1).inner_text())
                page.fill("#body", '<p>Hello {{ first_name }}!</p><p><a href="{{ event_url }}">Get tickets</a></p>')
                page.wait_for_function("document.querySelector('#recipient-count').textContent.includes('email')")
                page.wait_for_timeout(800)  # live preview refresh
                frame = page.frame_locator("iframe.desktop")
                assert "Hello Alex!" in frame.locator("body").inner_text()
                page.wait_for_timeout(300)
                page.screenshot(path=str(SHOTS / "campaign-compose.png"), full_page=True)
                page.click("#save-campaign")
                page.wait_for_selector("#send-now")
                recipients = int(page.inner_text("#send-count"))
                assert recipients > 0
                page.click("#send-test")
                page.wait_for_selector("text=Test sent to m@venue.example")
                assert smtp.to("m@venue.example")
                page.on("dialog", lambda dialog: dialog.accept())
                page.click("#send-now")
                for _ in range(100):
                    if page.inner_text("#campaign-status") == "sent":
                        break
                    page.wait_for_timeout(300)
                    page.reload()
                assert page.inner_text("#campaign-status") == "sent"
                assert len(smtp.received()) == recipients + 1
                # A recipient clicks the event link in their email.
                message = next(m for m in smtp.to(smtp.received()[-1].rcpt_tos[0]))
                body = next(part for part in message.walk() if part.get_content_type() == "text/html").get_content()
                link = re.search(r'href="(http://127\.0\.0\.1:\d+/t/[^"]+)"', body)
                assert link, body
                httpx.get(
                    link.group(1).replace("&amp;", "&"),
                    follow_redirects=False,
                    headers={"User-Agent": "Mozilla/5.0 (Macintosh) Firefox/120"},
                )
                page.reload()
                assert page.inner_text("#num-recipients") == str(recipients)
                page.wait_for_selector("#engagement-chart svg")
                assert _pixels_not_blank(page.locator("#engagement-chart svg").screenshot()) > 100
                assert "venue.example/ev" in page.inner_text("#links")
                page.screenshot(path=str(SHOTS / "campaign-report.png"), full_page=True)
        finally:
            get_settings.cache_clear()


def test_connect_fake_ticket_tailor_and_see_sync_counts(server: str, page: Any, db: Database, tenant: Tenant) -> None:
    from tests.fakes.tickettailor import FakeTicketTailor

    make_user(db, tenant.organization_id, "a@venue.example", "admin")
    with FakeTicketTailor(rate_limit=None) as tt:
        tt.generate(events=3, orders=25, seed=3)
        sign_in(page, server, "a@venue.example")
        page.goto(f"{server}/manager/settings/connections")
        page.fill("#api_key", "wrong-key")
        page.fill("#base_url", tt.base_url)
        page.click("#connect")
        assert "rejected the credentials" in page.inner_text("#connect-error")
        page.fill("#api_key", tt.api_key)
        page.fill("#base_url", tt.base_url)
        page.click("#connect")
        page.wait_for_selector("text=Connected Ticket Tailor")
        for _ in range(100):
            orders = page.inner_text("#connections td[data-count=orders]")
            if orders != "0":
                break
            page.wait_for_timeout(300)
            page.reload()
        assert int(orders.replace(",", "")) > 0
        assert "/v1/webhooks/tickettailor/" in page.inner_text("#connections")
        page.screenshot(path=str(SHOTS / "connections.png"), full_page=True)


def test_sms_composer_counts_characters_and_segments(server: str, page: Any, db: Database, tenant: Tenant) -> None:
    make_user(db, tenant.organization_id, "m@venue.example", "marketer")
    sign_in(page, server, "m@venue.example")
    page.goto(f"{server}/manager/campaigns/new?type=sms")
    page.fill("#body", "Hello")
    assert page.inner_text("#sms-count") == "5 characters · GSM-7 · 1 segment"
    page.fill("#body", "x" * 161)
    assert page.inner_text("#sms-count").endswith("GSM-7 · 2 segments")
    page.fill("#body", "Tonight 🎸")
    assert "UCS-2" in page.inner_text("#sms-count")
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 1
