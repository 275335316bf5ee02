"""The campaign report's figures, computed by hand from a campaign sent to five people: Ann opens,
clicks and buys 2 tickets for $40.00; Bo opens, unsubscribes and buys 1 ticket for €12.50; Cleo
(no name on file) is only machine-opened; Dev receives it and does nothing; Eli's server refuses it.

`send_spring_and_summer` is shared with the manager's HTTP and browser tests."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from fanhub.audience.service import create_tag
from fanhub.campaigns.models import CampaignLink, Delivery
from fanhub.campaigns.report import (
    Amount,
    attributed_orders,
    campaign_report,
    compare_campaigns,
    money_text,
    rate,
    revenue_by_campaign,
)
from fanhub.campaigns.report_recipients import (
    RecipientRow,
    csv_line,
    iter_recipients,
    parse_filter,
    recipients_csv,
    recipients_page,
)
from fanhub.campaigns.sending import Message, Rejected, Transports, run_campaign
from fanhub.campaigns.service import create_campaign, schedule_campaign
from fanhub.campaigns.tracking import record_click, record_open, unsubscribe
from fanhub.cli import app as cli_app
from fanhub.db.engine import Database
from fanhub.errors import InvalidInput, NotFound
from fanhub.ingest.records import ContactBatch, EventBatch, OrderBatch
from fanhub.ingest.service import drain, enqueue_batch
from tests.conftest import Tenant, make_tenant

BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.0"
PEOPLE = [  # email, first name, last name
    ("ann@example.com", "Ann", "Lee"),
    ("bo@example.com", "Bo", "Park"),
    ("cleo@example.com", None, None),
    ("dev@example.com", "Dev", "Novak"),
    ("bad@example.com", "Eli", "Berg"),
]


class RefusingTransport:
    """Delivers every email except to the addresses given, which the 'server' refuses for good."""

    name = "refusing"

    def __init__(self, *refused: str) -> None:
        self.refused = set(refused)

    def push(self, message: Message) -> str | None:
        if message.to in self.refused:
            raise Rejected("smtp_rejected", "550", "5.1.1 No such user here")
        return f"id-{message.delivery_id}"

    def close(self) -> None:
        pass


@dataclass
class Sent:
    spring: int  # the campaign with the activity above
    summer: int  # sent afterwards to Ann, Cleo and Dev (tag "Summer"); Dev's server refuses it, nobody acts
    deliveries: dict[str, int]  # email -> delivery id of the spring campaign
    contacts: dict[str, int]  # email -> contact id


def _ingest(db: Database, org: int, kind: str, batch: EventBatch | ContactBatch | OrderBatch, count: int) -> None:
    with db.write() as session:
        enqueue_batch(session, org, "partner:test", kind, batch.model_dump_json(), count)
    drain(db)


def _tags(email: str) -> list[str]:
    return ["Summer"] if email in ("ann@example.com", "cleo@example.com", "dev@example.com") else []


def _people(db: Database, org: int, extra_openers: int) -> None:
    with db.write() as session:
        create_tag(session, org, "Summer")
    event = {
        "id": "ev1",
        "name": "Spring Show",
        "url": "https://venue.example/ev1",
        "status": "live",
        "start_datetime": "2031-04-01T19:00:00Z",
        "location": {"name": "Belly Up Aspen", "address": "450 S Galena St"},
    }
    _ingest(db, org, "events", EventBatch.model_validate({"events": [event]}), 1)
    people = PEOPLE + [(f"fan{i:03d}@example.com", "Fan", f"{i:03d}") for i in range(extra_openers)]
    contacts = [
        {
            "contact": {"email": email, "first_name": first, "last_name": last, "tags": _tags(email)},
            "opt_ins": {"email": True, "sms": None},
        }
        for email, first, last in people
    ] + [{"contact": {"email": "out@example.com", "first_name": "Opted"}, "opt_ins": {"email": False}}]
    _ingest(db, org, "contacts", ContactBatch.model_validate({"contacts": contacts}), len(contacts))


def _send(db: Database, org: int, name: str, refused: str, audience: dict[str, Any] | None = None) -> int:
    body = '<p>Hi {{ first_name }}</p><p><a href="https://venue.example/shows">Shows</a></p>'
    with db.write() as session:
        campaign_id = create_campaign(
            session, org, type="email", name=name, subject="New shows", body=body, audience=audience
        ).id
        schedule_campaign(session, org, campaign_id)
    run_campaign(db, campaign_id, transports=Transports(email=RefusingTransport(refused)))
    return campaign_id


def _order(
    order_id: str, email: str, placed_at: datetime, total: float, quantity: int, currency: str
) -> dict[str, Any]:
    return {
        "id": order_id,
        "event_id": "ev1",
        "customer": {"email": email},
        "marketing_opt_ins": {"email": None, "sms": None},
        "items": [{"ticket_type_name": "GA", "quantity": quantity, "total_price": total, "currency_code": currency}],
        "created_at": placed_at.isoformat(),
    }


def send_spring_and_summer(db: Database, org: int, extra_openers: int = 0) -> Sent:
    """The two campaigns of the module docstring; `extra_openers` more people receive spring and
    open it (Fan 000, Fan 001, …), for paging."""
    _people(db, org, extra_openers)
    spring = _send(db, org, "Spring shows", refused="bad@example.com")
    now = datetime.now(UTC).replace(microsecond=0)
    with db.write() as session:
        # Delivered an hour ago, so the opens below are not "within seconds of delivery" (machine).
        session.execute(update(Delivery).where(Delivery.campaign_id == spring).values(sent_at=now - timedelta(hours=1)))
        rows = session.execute(
            select(Delivery.address, Delivery.id, Delivery.contact_id).where(Delivery.campaign_id == spring)
        ).all()
        deliveries = {address: delivery_id for address, delivery_id, _ in rows}
        contacts = {address: contact_id for address, _, contact_id in rows}
        link_id = session.scalars(select(CampaignLink.id).where(CampaignLink.campaign_id == spring)).first()
        assert link_id is not None
        record_open(session, deliveries["ann@example.com"], BROWSER, None, when=now - timedelta(minutes=50))
        record_click(session, deliveries["ann@example.com"], link_id, BROWSER, None, when=now - timedelta(minutes=49))
        record_open(session, deliveries["bo@example.com"], BROWSER, None, when=now - timedelta(minutes=48))
        unsubscribe(session, deliveries["bo@example.com"], "page", when=now - timedelta(minutes=47))
        record_open(session, deliveries["cleo@example.com"], "Mozilla/5.0", None, when=now - timedelta(minutes=46))
        for i in range(extra_openers):
            record_open(session, deliveries[f"fan{i:03d}@example.com"], BROWSER, None, when=now - timedelta(minutes=45))
    orders = [
        _order("o-ann", "ann@example.com", now - timedelta(minutes=30), 40.0, 2, "USD"),
        _order("o-bo", "bo@example.com", now - timedelta(minutes=20), 12.5, 1, "EUR"),
    ]
    _ingest(db, org, "orders", OrderBatch.model_validate({"orders": orders}), 2)
    summer = _send(db, org, "Summer shows", refused="dev@example.com", audience={"tags": ["Summer"]})
    return Sent(spring, summer, deliveries, contacts)


@pytest.fixture
def sent(db: Database, tenant: Tenant) -> Sent:
    return send_spring_and_summer(db, tenant.organization_id)


def test_rates_are_of_delivered_and_undelivered_of_sent(db: Database, tenant: Tenant, sent: Sent) -> None:
    with db.read() as session:
        report = campaign_report(session, tenant.organization_id, sent.spring)
    assert (report.recipients, report.delivered, report.undelivered) == (5, 4, 1)
    assert (report.opens, report.machine_opens, report.clickers, report.unsubscribes) == (2, 1, 1, 1)
    assert (report.open_rate.count, report.open_rate.of, report.open_rate.text) == (2, 4, "50.0%")
    assert (report.click_rate.text, report.unsubscribe_rate.text) == ("25.0%", "25.0%")
    # 1 refused of the 5 handed to the provider (4 delivered + 1 undelivered).
    assert (report.undelivered_rate.count, report.undelivered_rate.of, report.undelivered_rate.text) == (1, 5, "20.0%")
    assert (report.attributed_orders, report.attributed_tickets) == (2, 3)
    # Two currencies: two figures, never one sum of dollars and euros.
    assert report.revenue == [Amount(minor=4000, currency="USD"), Amount(minor=1250, currency="EUR")]
    assert report.revenue_text == "$40.00 · €12.50"


def test_rates_without_deliveries_are_a_dash_and_sms_has_no_open_rate(db: Database, tenant: Tenant) -> None:
    assert rate(0, 0).text == "—" and rate(0, 0).percent is None
    assert rate(1, 3).text == "33.3%" and rate(2, 3, applies=False).text == "—"
    with db.write() as session:
        draft = create_campaign(session, tenant.organization_id, type="sms", name="Text", body="Hi").id
    with db.read() as session:
        report = campaign_report(session, tenant.organization_id, draft)
    assert report.recipients == 0 and report.open_rate.text == report.undelivered_rate.text == "—"
    assert report.revenue == [] and report.revenue_text == ""


def test_money_is_shown_with_each_currencys_symbol_and_digits() -> None:
    assert money_text(123400, "USD") == "$1,234.00"
    assert money_text(1250, "EUR") == "€12.50"
    assert money_text(1234, "JPY") == "¥1,234"  # no minor unit
    assert money_text(1234, "KWD").replace("\xa0", "") == "KWD1.234"  # three decimals


def test_revenue_per_campaign_keeps_currencies_apart(db: Database, tenant: Tenant, sent: Sent) -> None:
    with db.read() as session:
        revenue = revenue_by_campaign(session, tenant.organization_id, [sent.spring, sent.summer])
        foreign = revenue_by_campaign(session, make_tenant(db, "Other", "other").organization_id, [sent.spring])
    assert [a.text for a in revenue[sent.spring]] == ["$40.00", "€12.50"] and revenue[sent.summer] == []
    assert foreign == {sent.spring: []}


def _names(rows: list[RecipientRow]) -> list[str]:
    return [r.name for r in rows]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("all", ["Ann Lee", "Bo Park", "cleo@example.com", "Dev Novak", "Eli Berg"]),
        ("opened", ["Ann Lee", "Bo Park"]),
        ("clicked", ["Ann Lee"]),
        ("unsubscribed", ["Bo Park"]),
        ("undelivered", ["Eli Berg"]),
        ("not_opened", ["cleo@example.com", "Dev Novak"]),  # a machine open is no open
    ],
)
def test_recipients_filtered_by_what_they_did(
    db: Database, tenant: Tenant, sent: Sent, name: str, expected: list[str]
) -> None:
    with db.read() as session:
        page = recipients_page(session, tenant.organization_id, sent.spring, name)
    assert sorted(_names(page.rows)) == sorted(expected) and page.filter == name
    ids = [r.delivery_id for r in page.rows]
    assert ids == sorted(ids)  # in delivery order, the order the pages follow


def test_each_recipient_row_says_what_happened(db: Database, tenant: Tenant, sent: Sent) -> None:
    with db.read() as session:
        rows = {r.address: r for r in recipients_page(session, tenant.organization_id, sent.spring).rows}
    ann, bo, cleo, dev, eli = (rows[email] for email, _, _ in PEOPLE)
    assert ann.status_label == "delivered" and ann.delivered_at and ann.opened_at and ann.clicked_at
    assert (ann.tickets, ann.revenue_text, ann.unsubscribed_at) == (2, "$40.00", None)
    assert bo.unsubscribed_at and (bo.tickets, bo.revenue_text) == (1, "€12.50")
    assert cleo.machine_open and cleo.opened_at is None and not ann.machine_open
    assert (dev.opened_at, dev.clicked_at, dev.failure, dev.revenue) == (None, None, None, [])
    assert eli.status_label == "undelivered" and eli.delivered_at is None
    assert eli.failure is not None and "550" in eli.failure and "No such user" in eli.failure


def test_keyset_pages_forward_and_back(db: Database, tenant: Tenant, sent: Sent) -> None:
    org = tenant.organization_id
    with db.read() as session:
        whole = recipients_page(session, org, sent.spring)
        first = recipients_page(session, org, sent.spring, size=2)
        second = recipients_page(session, org, sent.spring, after=first.last_id, size=2)
        last = recipients_page(session, org, sent.spring, after=second.last_id, size=2)
        back = recipients_page(session, org, sent.spring, before=last.first_id, size=2)
        opened = recipients_page(session, org, sent.spring, "opened", size=1)
    everyone = _names(whole.rows)  # delivery order
    assert (_names(first.rows), first.has_previous, first.has_next) == (everyone[:2], False, True)
    assert (_names(second.rows), second.has_previous, second.has_next) == (everyone[2:4], True, True)
    assert (_names(last.rows), last.has_previous, last.has_next) == (everyone[4:], True, False)
    assert back.rows == second.rows
    assert len(opened.rows) == 1 and opened.has_next and opened.rows[0].name in ("Ann Lee", "Bo Park")


def test_bad_filter_names_the_field_and_other_organizations_campaigns_are_not_found(
    db: Database, tenant: Tenant, sent: Sent
) -> None:
    assert parse_filter("Not-Opened") == "not_opened" and parse_filter("") == "all"
    with pytest.raises(InvalidInput) as bad:
        parse_filter("bounced")
    assert bad.value.errors[0]["field"] == "filter"
    other = make_tenant(db, "Other", "other").organization_id
    with db.read() as session, pytest.raises(NotFound):
        recipients_page(session, other, sent.spring)
    with pytest.raises(NotFound):
        iter_recipients(db, other, sent.spring)  # at once, before the first row is asked for


def test_csv_has_every_recipient_across_chunks(db: Database, tenant: Tenant, sent: Sent) -> None:
    rows = iter_recipients(db, tenant.organization_id, sent.spring, "all", chunk=2)
    parsed = list(csv.DictReader(io.StringIO("".join(recipients_csv(rows, lines_per_chunk=2)))))
    with db.read() as session:
        in_order = _names(recipients_page(session, tenant.organization_id, sent.spring).rows)
    assert [r["name"] for r in parsed] == in_order and len(in_order) == 5
    by_name = {r["name"]: r for r in parsed}
    ann, bo, cleo, eli = (by_name[n] for n in ("Ann Lee", "Bo Park", "cleo@example.com", "Eli Berg"))
    assert ann["attributed_revenue"] == "$40.00" and ann["attributed_tickets"] == "2" and ann["clicked_at"]
    assert bo["unsubscribed_at"].endswith("Z") and bo["attributed_revenue"] == "€12.50"
    assert cleo["machine_open"] == "yes" and cleo["opened_at"] == ""
    assert "550" in eli["failure"] and eli["status"] == "undelivered"
    opened = iter_recipients(db, tenant.organization_id, sent.spring, "opened")
    assert [line.split(",")[0] for line in "".join(recipients_csv(opened)).splitlines()] == [
        "name",
        "Ann Lee",
        "Bo Park",
    ]


def test_csv_cells_from_people_never_start_a_formula() -> None:
    row = RecipientRow(
        delivery_id=1,
        contact_id=2,
        name='=HYPERLINK("https://evil.example")',
        address="+14155550100",
        channel="sms",
        status="failed",
        status_label="undelivered",
        delivered_at=None,
        opened_at=None,
        clicked_at=None,
        unsubscribed_at=None,
        failure="@provider said no",
    )
    line = csv_line(row)
    assert line[0].startswith("'=") and line[9] == "'@provider said no"
    assert line[1] == "+14155550100"  # an address is normalised data, kept as it is


def test_attributed_orders_name_the_buyer_and_keep_the_currency(db: Database, tenant: Tenant, sent: Sent) -> None:
    with db.read() as session:
        orders = attributed_orders(session, tenant.organization_id, sent.spring)
        foreign = attributed_orders(session, make_tenant(db, "Other", "other").organization_id, sent.spring)
    assert [(o.external_id, o.contact_name, o.tickets, o.revenue.text) for o in orders] == [
        ("o-bo", "Bo Park", 1, "€12.50"),
        ("o-ann", "Ann Lee", 2, "$40.00"),
    ]
    assert foreign == []


def test_compare_the_last_campaigns_side_by_side(db: Database, tenant: Tenant, sent: Sent) -> None:
    org = tenant.organization_id
    with db.write() as session:
        draft = create_campaign(session, org, type="email", name="Draft", subject="S", body="x").id
    with db.read() as session:
        latest = compare_campaigns(session, org)
        one = compare_campaigns(session, org, limit=1)
        chosen = compare_campaigns(session, org, campaign_ids=[sent.spring])
        sms_only = compare_campaigns(session, org, campaign_type="sms")
        with pytest.raises(InvalidInput) as unsent:
            compare_campaigns(session, org, campaign_ids=[sent.spring, draft])
        with pytest.raises(InvalidInput) as too_many:
            compare_campaigns(session, org, limit=21)
        with pytest.raises(NotFound):
            compare_campaigns(session, make_tenant(db, "Other", "other").organization_id, campaign_ids=[sent.spring])
    assert [r.name for r in latest] == ["Summer shows", "Spring shows"]  # newest first, the draft is not sent
    summer = latest[0]
    assert (summer.recipients, summer.delivered, summer.undelivered) == (3, 2, 1)
    assert (summer.open_rate.text, summer.undelivered_rate.text, summer.revenue_text) == ("0.0%", "33.3%", "")
    assert latest[1].open_rate.text == "50.0%" and latest[1].revenue_text == "$40.00 · €12.50"
    assert [r.name for r in one] == ["Summer shows"] and [r.campaign_id for r in chosen] == [sent.spring]
    assert sms_only == []
    assert unsent.value.errors[0]["field"] == "ids" and too_many.value.errors[0]["field"] == "n"


def _cli(*args: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(cli_app, ["campaign", "recipients", *args, "--json"])
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, result.stdout  # exactly one JSON object
    return result.exit_code, json.loads(lines[0])


def test_cli_lists_recipients_by_page_and_writes_the_csv(db: Database, sent: Sent, tmp_path: Path) -> None:
    code, first = _cli(str(sent.spring), "--filter", "opened", "--limit", "1")
    assert code == 0 and len(first["recipients"]) == 1 and first["next_after"] is not None
    code, second = _cli(str(sent.spring), "--filter", "opened", "--after", str(first["next_after"]))
    assert code == 0 and second["next_after"] is None
    opened = {r["name"]: r for r in first["recipients"] + second["recipients"]}
    assert sorted(opened) == ["Ann Lee", "Bo Park"]
    assert opened["Ann Lee"]["revenue"] == [{"minor": 4000, "currency": "USD", "text": "$40.00"}]
    path = tmp_path / "undelivered.csv"
    code, written = _cli(str(sent.spring), "--filter", "undelivered", "--csv", str(path))
    assert code == 0 and written == {
        "campaign_id": sent.spring,
        "filter": "undelivered",
        "csv": str(path),
        "recipients": 1,
    }
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    assert [r["name"] for r in rows] == ["Eli Berg"] and "550" in rows[0]["failure"]
    code, bad = _cli(str(sent.spring), "--filter", "bounced")
    assert code != 0 and bad["error"].startswith("--filter must be one of")
    code, missing = _cli("999999")
    assert code != 0 and "not found" in missing["error"]
    code, unwritable = _cli(str(sent.spring), "--csv", str(tmp_path / "no-such-dir" / "x.csv"))
    assert code != 0 and unwritable["error"].startswith("--csv: cannot write")
