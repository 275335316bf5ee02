"""The campaign report over HTTP: rates, names and currencies on the campaign's page, the recipients
list filtered and paged, its CSV export, the campaigns list's revenue, and the comparison page.

The campaigns are those of tests/campaigns/test_report.py (figures computed by hand there)."""

from __future__ import annotations

import csv
import io
import re
from html import unescape

from tests.campaigns.test_report import send_spring_and_summer
from tests.conftest import make_tenant
from tests.manager.conftest import Staff


def _table(page: str, element_id: str) -> str:
    match = re.search(rf'<table id="{element_id}">.*?</table>', page, re.S)
    assert match, f"no table #{element_id} on the page"
    return match.group(0)


def _recipient_names(page: str) -> list[str]:
    table = _table(page, "recipient-table")
    return [unescape(n) for n in re.findall(r'<td[^>]*><a href="/manager/contacts/\d+">([^<]+)</a></td>', table)]


def _delivery_ids(page: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr data-delivery="(\d+)">', _table(page, "recipient-table"))]


def _link(page: str, element_id: str) -> str | None:
    match = re.search(rf'<a href="([^"]+)" id="{element_id}"', page)
    return unescape(match.group(1)) if match else None


def test_report_shows_rates_of_delivered_names_and_currencies(staff: Staff) -> None:
    sent = send_spring_and_summer(staff.db, staff.org)
    page = staff.client.get(f"/manager/campaigns/{sent.spring}")
    assert page.status_code == 200
    text = page.text
    for element_id, figure in (
        ("num-recipients", "5"),
        ("open-rate", "50.0%"),
        ("click-rate", "25.0%"),
        ("unsubscribe-rate", "25.0%"),
        ("undelivered-rate", "20.0%"),
    ):
        assert re.search(rf'id="{element_id}">{re.escape(figure)}<', text), element_id
    assert "2 of 4 delivered" in text and "1 of 5 sent" in text and "1 machine opens not counted" in text
    assert 'id="attributed-revenue"><div>$40.00</div><div>€12.50</div></div>' in text
    orders = _table(text, "attributed-orders")
    contact = sent.contacts["ann@example.com"]
    assert f'<a href="/manager/contacts/{contact}">Ann Lee</a>' in orders and "Bo Park" in orders
    assert "€12.50" in orders and not re.search(r">#\d+<", orders)  # names, never "#<id>"
    assert sorted(_recipient_names(text)) == ["Ann Lee", "Bo Park", "Dev Novak", "Eli Berg", "cleo@example.com"]
    assert "machine open" in text and "No such user" in text


def test_recipients_filtered_and_paged_by_fifty(staff: Staff) -> None:
    sent = send_spring_and_summer(staff.db, staff.org, extra_openers=55)  # 57 opened in all
    base = f"/manager/campaigns/{sent.spring}"
    first = staff.client.get(f"{base}?filter=opened").text
    names = _recipient_names(first)
    assert len(names) == 50 and _delivery_ids(first) == sorted(_delivery_ids(first))
    assert 'aria-current="true">Opened<' in first and _link(first, "recipients-previous") is None
    next_url = _link(first, "recipients-next")
    assert next_url and "filter=opened" in next_url and "after=" in next_url
    second = staff.client.get(next_url).text
    assert len(_recipient_names(second)) == 7 and min(_delivery_ids(second)) > max(_delivery_ids(first))
    opened = ["Ann Lee", "Bo Park"] + [f"Fan {i:03d}" for i in range(55)]
    assert sorted(names + _recipient_names(second)) == sorted(opened)
    assert _link(second, "recipients-next") is None
    previous_url = _link(second, "recipients-previous")
    assert previous_url and _recipient_names(staff.client.get(previous_url).text) == names
    undelivered = staff.client.get(f"{base}?filter=undelivered").text
    assert _recipient_names(undelivered) == ["Eli Berg"]
    not_opened = _recipient_names(staff.client.get(f"{base}?filter=not_opened").text)
    assert sorted(not_opened) == ["Dev Novak", "cleo@example.com"]
    bad = staff.client.get(f"{base}?filter=bounced")
    assert bad.status_code == 400 and "filter must be one of" in bad.text


def test_csv_export_has_every_page_with_the_filter(staff: Staff) -> None:
    sent = send_spring_and_summer(staff.db, staff.org, extra_openers=55)
    page = staff.client.get(f"/manager/campaigns/{sent.spring}?filter=opened").text
    assert _link(page, "recipients-csv") == f"/manager/campaigns/{sent.spring}/recipients.csv?filter=opened"
    response = staff.client.get(f"/manager/campaigns/{sent.spring}/recipients.csv?filter=opened")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert f'filename="campaign-{sent.spring}-recipients-opened.csv"' in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    by_name = {r["name"]: r for r in rows}
    assert len(rows) == len(by_name) == 57 and "Fan 054" in by_name and "Dev Novak" not in by_name
    assert by_name["Ann Lee"]["attributed_revenue"] == "$40.00" and by_name["Bo Park"]["attributed_revenue"] == "€12.50"
    ids = [int(r["delivery_id"]) for r in rows]
    assert ids == sorted(ids)
    everyone = staff.client.get(f"/manager/campaigns/{sent.spring}/recipients.csv").text
    assert len(list(csv.DictReader(io.StringIO(everyone)))) == 60  # 5 + 55
    assert staff.client.get(f"/manager/campaigns/{sent.spring}/recipients.csv?filter=nope").status_code == 400


def test_other_organizations_reports_are_not_found(staff: Staff) -> None:
    other = make_tenant(staff.db, "Other", "other")
    sent = send_spring_and_summer(staff.db, other.organization_id)
    assert staff.client.get(f"/manager/campaigns/{sent.spring}").status_code == 404
    assert staff.client.get(f"/manager/campaigns/{sent.spring}/recipients.csv").status_code == 404
    assert staff.client.get(f"/manager/campaigns/compare?ids={sent.spring}").status_code == 404


def test_campaigns_list_shows_revenue_per_currency_and_links_the_comparison(staff: Staff) -> None:
    send_spring_and_summer(staff.db, staff.org)
    listing = staff.client.get("/manager/campaigns").text
    assert 'href="/manager/campaigns/compare" id="compare-campaigns"' in listing
    assert "<div>$40.00</div><div>€12.50</div>" in listing


def test_comparison_of_the_last_campaigns(staff: Staff) -> None:
    sent = send_spring_and_summer(staff.db, staff.org)
    with staff.db.write() as session:
        from fanhub.campaigns.service import create_campaign

        draft = create_campaign(session, staff.org, type="email", name="Draft", subject="S", body="x").id
    page = staff.client.get("/manager/campaigns/compare")
    assert page.status_code == 200
    table = _table(page.text, "comparison")
    assert table.index("Summer shows") < table.index("Spring shows") and "Draft" not in table

    def row(name: str, html: str = table) -> list[str]:
        found = re.search(rf'<tr data-row="{name}">(.*?)</tr>', html, re.S)
        assert found, name
        return [
            " ".join(re.sub(r"<[^>]+>", " ", cell).split())
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", found.group(1))
        ]

    assert row("recipients") == ["3", "5"] and row("delivered") == ["2", "4"]
    assert row("open-rate") == ["0.0% (0)", "50.0% (2)"] and row("undelivered-rate") == ["33.3% (1)", "20.0% (1)"]
    assert row("revenue") == ["—", "$40.00 €12.50"] and row("tickets") == ["0", "3"]
    one = _table(staff.client.get("/manager/campaigns/compare?n=1").text, "comparison")
    assert "Summer shows" in one and "Spring shows" not in one
    chosen = _table(staff.client.get(f"/manager/campaigns/compare?ids={sent.spring}").text, "comparison")
    assert "Spring shows" in chosen and "Summer shows" not in chosen
    assert "nothing-to-compare" in staff.client.get("/manager/campaigns/compare?type=sms").text
    for query, field in (
        ("n=abc", "n"),
        ("n=50", "n"),
        (f"ids={draft}", "ids"),
        ("ids=x", "ids"),
        ("type=fax", "type"),
    ):
        bad = staff.client.get(f"/manager/campaigns/compare?{query}")
        assert bad.status_code == 400 and field in bad.text, query
