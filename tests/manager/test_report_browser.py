"""Browser test of the campaign report: Chromium opens a sent campaign's report, filters the
recipients to those who opened, pages to the next 50, downloads the CSV, and opens the comparison
from the campaigns list (set-up as in test_browser.py; screenshots go to the same folder)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from fanhub.config import Settings
from fanhub.db.engine import Database
from tests.campaigns.test_report import send_spring_and_summer
from tests.conftest import Tenant
from tests.manager.helpers import make_user
from tests.manager.test_browser import SHOTS, browser, page, serve, sign_in

__all__ = ["browser", "page"]  # the fixtures, shared with test_browser.py


def _names(page: Any) -> list[str]:
    return [str(n) for n in page.locator("#recipient-table tbody tr td:first-child a").all_inner_texts()]


def test_report_filter_page_download_and_compare(page: Any, db: Database, tenant: Tenant, settings: Settings) -> None:
    sent = send_spring_and_summer(db, tenant.organization_id, extra_openers=55)  # 57 opened
    make_user(db, tenant.organization_id, "v@venue.example", "viewer")
    with serve(db, settings) as base:
        sign_in(page, base, "v@venue.example")
        page.goto(f"{base}/manager/campaigns/{sent.spring}")
        assert page.inner_text("#num-recipients") == "60"
        assert page.inner_text("#open-rate") == "96.6%"  # 57 of 59 delivered
        assert page.inner_text("#undelivered-rate") == "1.7%"  # 1 of 60 sent
        assert "$40.00" in page.inner_text("#attributed-revenue") and "€12.50" in page.inner_text("#attributed-revenue")
        assert "Ann Lee" in page.inner_text("#attributed-orders")
        page.screenshot(path=str(SHOTS / "campaign-report-rates.png"), full_page=False)

        page.click("#recipient-filters a[data-filter=opened]")
        page.wait_for_url("**filter=opened**")
        names = _names(page)
        assert len(names) == 50
        assert page.locator("#recipients-previous").count() == 0
        page.locator("#recipient-table").screenshot(path=str(SHOTS / "campaign-report-recipients.png"))

        page.click("#recipients-next")
        page.wait_for_url("**after=**")
        rest = _names(page)
        assert sorted(names + rest) == sorted(["Ann Lee", "Bo Park"] + [f"Fan {i:03d}" for i in range(55)])
        first_link = page.locator("#recipient-table tbody tr:first-child td:first-child a")
        href = first_link.get_attribute("href")
        first_link.click()
        page.wait_for_url(f"**{href}")
        assert rest[0] in page.inner_text("h1")
        page.go_back()

        with page.expect_download() as info:
            page.click("#recipients-csv")
        download = info.value
        assert download.suggested_filename == f"campaign-{sent.spring}-recipients-opened.csv"
        rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))
        by_name = {r["name"]: r for r in rows}
        assert len(by_name) == 57 and by_name["Bo Park"]["attributed_revenue"] == "€12.50"

        page.goto(f"{base}/manager/campaigns")
        page.click("#compare-campaigns")
        page.wait_for_selector("#comparison")
        headers = page.locator("#comparison thead th a").all_text_contents()  # inner text is upper-cased by CSS
        assert headers == ["Summer shows", "Spring shows"]
        assert page.inner_text("#comparison tr[data-row=open-rate]").split()[-2:] == ["96.6%", "(57)"]
        page.select_option("#compare-n", "2")
        page.click("#compare-last")
        page.wait_for_url("**n=2**")
        assert page.locator("#comparison thead th a").count() == 2
        page.screenshot(path=str(SHOTS / "campaign-compare.png"), full_page=True)
