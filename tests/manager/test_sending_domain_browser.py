"""Browser test of Settings → Sending domains: an admin adds a domain, copies its records to a
(local, fake) DNS server, checks DNS and sees each record's state; a marketer may not open it.

Chromium drives `fanhub serve`'s app (see test_browser.py); FANHUB_DNS_RESOLVER points the checks at
tests/fakes/dns.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from fanhub.config import get_settings
from fanhub.db.engine import Database
from tests.conftest import Tenant
from tests.fakes.dns import FakeDnsServer
from tests.manager.helpers import make_user
from tests.manager.test_browser import SHOTS, browser, page, serve, sign_in

__all__ = ["browser", "page"]  # the fixtures, shared with test_browser.py


@pytest.fixture
def venue(db: Database, tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, FakeDnsServer]]:
    with FakeDnsServer() as dns:
        monkeypatch.setenv("FANHUB_DNS_RESOLVER", dns.address)
        monkeypatch.setenv("FANHUB_SMTP_HOST", "smtp.relay.example")
        get_settings.cache_clear()
        try:
            make_user(db, tenant.organization_id, "boss@venue.example", "admin")
            make_user(db, tenant.organization_id, "m@venue.example", "marketer")
            with serve(db, get_settings()) as base:
                yield base, dns
        finally:
            get_settings.cache_clear()


def _states(page: Any) -> dict[str, str]:
    return {
        row.get_attribute("data-purpose"): row.query_selector(".state").inner_text().strip()
        for row in page.query_selector_all("table.dns-records tbody tr")
    }


def test_add_a_domain_publish_check_dns_and_see_each_state(page: Any, venue: tuple[str, FakeDnsServer]) -> None:
    base, dns = venue
    sign_in(page, base, "boss@venue.example")
    page.wait_for_selector("#audience-size")
    page.goto(f"{base}/manager/settings")
    page.click("#sending-domains-card")
    page.wait_for_selector("#no-domains")

    page.fill("#domain", "not a domain")
    page.click("#add-domain-button")
    assert "Give a domain name such as venue.example." in page.inner_text("#domain-error")

    page.fill("#domain", "Venue.Example")
    page.click("#add-domain-button")
    page.wait_for_selector("table.dns-records")
    assert "venue.example added" in page.inner_text(".notice")
    assert _states(page) == {
        "dkim": "not checked",
        "spf": "not checked",
        "dmarc": "not checked",
        "return_path": "not checked",
    }

    # The venue copies DKIM and SPF to its DNS, has not published DMARC, and its MX points elsewhere.
    records = {}
    for row in page.query_selector_all("table.dns-records tbody tr"):
        cells = row.query_selector_all("td")
        records[row.get_attribute("data-purpose")] = (
            cells[1].inner_text(),
            cells[2].inner_text(),
            cells[3].inner_text(),
        )
    assert records["dkim"][1].endswith("._domainkey.venue.example") and records["dkim"][2].startswith(
        "v=DKIM1; k=rsa; p=MII"
    )
    assert records["spf"] == ("TXT", "venue.example", "v=spf1 a:smtp.relay.example ~all")
    assert records["return_path"] == ("MX", "venue.example", "10 smtp.relay.example")
    for purpose in ("dkim", "spf"):
        record_type, name, value = records[purpose]
        dns.set(name, record_type, value)
    dns.set("venue.example", "MX", "10 mail.elsewhere.example")

    page.click("button[id^=check-]")
    page.wait_for_selector(".badge.state")
    assert "DNS checked for venue.example: 2 of 4 records ok." in page.inner_text(".notice")
    assert _states(page) == {"dkim": "ok", "spf": "ok", "dmarc": "missing", "return_path": "wrong"}
    return_path = page.inner_text("tr[data-purpose=return_path]")
    assert "should point to smtp.relay.example" in return_path and "10 mail.elsewhere.example" in return_path
    page.screenshot(path=str(SHOTS / "sending-domains.png"), full_page=True)

    # Fixed at the DNS host: checked again, all ok.
    dns.set("_dmarc.venue.example", "TXT", "v=DMARC1; p=none")
    dns.set("venue.example", "MX", "10 smtp.relay.example")
    page.click("button[id^=check-]")
    page.wait_for_selector("text=4 of 4 records ok")
    assert _states(page) == {"dkim": "ok", "spf": "ok", "dmarc": "ok", "return_path": "ok"}


def test_a_marketer_may_not_open_sending_domains(page: Any, venue: tuple[str, FakeDnsServer]) -> None:
    base, _ = venue
    sign_in(page, base, "m@venue.example")
    page.wait_for_selector("#audience-size")
    response = page.goto(f"{base}/manager/settings/sending-domains")
    assert response.status == 403
    assert "needs the admin role" in page.content()
    page.goto(f"{base}/manager/settings")
    assert page.query_selector("#sending-domains-card") is None
