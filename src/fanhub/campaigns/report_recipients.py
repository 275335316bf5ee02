"""A campaign's recipients and what each did, for the report's list and its CSV export.

One row per delivery, keyset-paged on the delivery id (stable while tracking keeps writing), with
the contact's name (first + last, else full name, else the address), the delivery's status, when it
was delivered, opened (or only machine-opened: a prefetcher or scanner, not counted), clicked and
unsubscribed, the failure reason, and the tickets and revenue (per currency) of the orders credited
to that delivery. The filter picks recipients by what they did.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from pydantic import BaseModel, computed_field
from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from fanhub.audience.models import Contact
from fanhub.campaigns.models import (
    ATTEMPTING,
    DELIVERED,
    FAILED,
    PENDING,
    RESERVED,
    SKIPPED,
    UNKNOWN,
    Attribution,
    Delivery,
)
from fanhub.campaigns.report import Amount, amounts_text, contact_name
from fanhub.campaigns.repository import CampaignRepository
from fanhub.db.bulk import values_in
from fanhub.db.engine import Database
from fanhub.errors import InvalidInput
from fanhub.timeutil import iso_utc

PAGE_SIZE = 50
CSV_CHUNK = 1000

# What a recipient did, as the list's filter: value -> label.
FILTERS = {
    "all": "All",
    "opened": "Opened",
    "clicked": "Clicked",
    "unsubscribed": "Unsubscribed",
    "undelivered": "Undelivered",
    "not_opened": "Delivered, not opened",
}

STATUS_LABELS = {
    PENDING: "not sent yet",
    RESERVED: "not sent yet",
    ATTEMPTING: "sending",
    DELIVERED: "delivered",
    FAILED: "undelivered",
    SKIPPED: "skipped (unsubscribed before its turn)",
    UNKNOWN: "unknown (may have been sent)",
}


class RecipientRow(BaseModel):
    """One recipient of a campaign and what they did (times are RFC 3339 UTC)."""

    delivery_id: int
    contact_id: int
    name: str
    address: str
    channel: str
    status: str
    status_label: str
    delivered_at: str | None
    opened_at: str | None
    machine_open: bool = False  # only a prefetcher or scanner fetched the pixel: not counted as opened
    clicked_at: str | None
    unsubscribed_at: str | None
    failure: str | None
    tickets: int = 0
    revenue: list[Amount] = []

    @computed_field  # type: ignore[prop-decorator]
    @property
    def revenue_text(self) -> str:
        return amounts_text(self.revenue)


class RecipientPage(BaseModel):
    rows: list[RecipientRow]
    filter: str
    has_previous: bool
    has_next: bool

    @property
    def first_id(self) -> int | None:
        return self.rows[0].delivery_id if self.rows else None

    @property
    def last_id(self) -> int | None:
        return self.rows[-1].delivery_id if self.rows else None


def parse_filter(value: str | None) -> str:
    """The recipients filter named in a request ("" means all); an unknown one names the field."""
    chosen = (value or "all").strip().lower().replace("-", "_")
    if chosen not in FILTERS:
        message = f"must be one of {', '.join(FILTERS)}"
        raise InvalidInput(f"filter {message}", [{"field": "filter", "message": message}])
    return chosen


def _filter_condition(name: str) -> ColumnElement[bool] | None:
    conditions: dict[str, ColumnElement[bool] | None] = {
        "all": None,
        "opened": Delivery.opened_at.is_not(None),
        "clicked": Delivery.clicked_at.is_not(None),
        "unsubscribed": Delivery.unsubscribed_at.is_not(None),
        "undelivered": Delivery.status == FAILED,
        "not_opened": (Delivery.status == DELIVERED) & Delivery.opened_at.is_(None),
    }
    return conditions[parse_filter(name)]


def _recipients_query(organization_id: int, campaign_id: int, filter_name: str) -> Select[*tuple[Any, ...]]:
    query = (
        select(
            Delivery.id,
            Delivery.contact_id,
            Delivery.address,
            Delivery.channel,
            Delivery.status,
            Delivery.sent_at,
            Delivery.error,
            Delivery.opened_at,
            Delivery.machine_opened_at,
            Delivery.clicked_at,
            Delivery.unsubscribed_at,
            Contact.first_name,
            Contact.last_name,
            Contact.full_name,
            Contact.email,
            Contact.phone,
        )
        .join(Contact, Contact.id == Delivery.contact_id)
        .where(Delivery.campaign_id == campaign_id, Delivery.organization_id == organization_id)
    )
    condition = _filter_condition(filter_name)
    return query if condition is None else query.where(condition)


def _rows(session: Session, organization_id: int, fetched: Sequence[Any]) -> list[RecipientRow]:
    credited = _credited(session, organization_id, [r.id for r in fetched])
    return [
        RecipientRow(
            delivery_id=r.id,
            contact_id=r.contact_id,
            name=contact_name(r.first_name, r.last_name, r.full_name, r.email, r.phone),
            address=r.address,
            channel=r.channel,
            status=r.status,
            status_label=STATUS_LABELS.get(r.status, r.status),
            delivered_at=iso_utc(r.sent_at) if r.status == DELIVERED else None,
            opened_at=iso_utc(r.opened_at),
            machine_open=r.opened_at is None and r.machine_opened_at is not None,
            clicked_at=iso_utc(r.clicked_at),
            unsubscribed_at=iso_utc(r.unsubscribed_at),
            failure=r.error if r.status in (FAILED, UNKNOWN) else None,
            tickets=credited[r.id][0],
            revenue=credited[r.id][1],
        )
        for r in fetched
    ]


def _credited(session: Session, organization_id: int, delivery_ids: list[int]) -> dict[int, tuple[int, list[Amount]]]:
    """Tickets and revenue (per currency) of the orders credited to each delivery."""
    tickets: dict[int, int] = defaultdict(int)
    revenue: dict[int, list[Amount]] = defaultdict(list)
    if delivery_ids:
        for delivery_id, currency, n, cents in session.execute(
            select(
                Attribution.delivery_id,
                Attribution.currency,
                func.sum(Attribution.tickets),
                func.sum(Attribution.revenue_cents),
            )
            .where(Attribution.organization_id == organization_id, values_in(Attribution.delivery_id, delivery_ids))
            .group_by(Attribution.delivery_id, Attribution.currency)
            .order_by(Attribution.delivery_id, Attribution.currency)
        ):
            tickets[delivery_id] += int(n or 0)
            revenue[delivery_id].append(Amount(minor=int(cents or 0), currency=currency))
    return {d: (tickets[d], revenue[d]) for d in delivery_ids}


def recipients_page(
    session: Session,
    organization_id: int,
    campaign_id: int,
    filter_name: str = "all",
    *,
    after: int | None = None,
    before: int | None = None,
    size: int = PAGE_SIZE,
) -> RecipientPage:
    """A page of recipients in delivery order: the `size` after delivery id `after`, or, given
    `before`, the `size` just before it (the previous page). Another organization's campaign is
    NotFound."""
    CampaignRepository(session).get(organization_id, campaign_id)
    query = _recipients_query(organization_id, campaign_id, filter_name)
    if before is not None:
        fetched = list(session.execute(query.where(Delivery.id < before).order_by(Delivery.id.desc()).limit(size)))
        fetched.reverse()
    else:
        start = query.where(Delivery.id > after) if after is not None else query
        fetched = list(session.execute(start.order_by(Delivery.id).limit(size)))
    rows = _rows(session, organization_id, fetched)

    def exists(condition: ColumnElement[bool]) -> bool:
        return session.execute(query.where(condition).limit(1)).first() is not None

    return RecipientPage(
        rows=rows,
        filter=parse_filter(filter_name),
        has_previous=bool(rows) and exists(Delivery.id < rows[0].delivery_id),
        has_next=bool(rows) and exists(Delivery.id > rows[-1].delivery_id),
    )


def iter_recipients(
    database: Database, organization_id: int, campaign_id: int, filter_name: str = "all", chunk: int = CSV_CHUNK
) -> Iterator[RecipientRow]:
    """Every recipient matching the filter, in chunks each read in its own short transaction (a
    large export never holds one open). The campaign is checked at once, not at the first row."""
    with database.read() as session:
        CampaignRepository(session).get(organization_id, campaign_id)
    query = _recipients_query(organization_id, campaign_id, filter_name)

    def rows() -> Iterator[RecipientRow]:
        after = 0
        while True:
            with database.read() as session:
                fetched = list(session.execute(query.where(Delivery.id > after).order_by(Delivery.id).limit(chunk)))
                batch = _rows(session, organization_id, fetched)
            yield from batch
            if len(batch) < chunk:
                return
            after = batch[-1].delivery_id

    return rows()


CSV_COLUMNS = (
    "name",
    "address",
    "channel",
    "status",
    "delivered_at",
    "opened_at",
    "machine_open",
    "clicked_at",
    "unsubscribed_at",
    "failure",
    "attributed_tickets",
    "attributed_revenue",
    "contact_id",
    "delivery_id",
)


def _cell(value: str | None) -> str:
    """Text from people (names, provider errors) may not start a spreadsheet formula (OWASP CSV injection)."""
    text = value or ""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_line(row: RecipientRow) -> list[str]:
    return [
        _cell(row.name),
        row.address,
        row.channel,
        row.status_label,
        row.delivered_at or "",
        row.opened_at or "",
        "yes" if row.machine_open else "",
        row.clicked_at or "",
        row.unsubscribed_at or "",
        _cell(row.failure),
        str(row.tickets) if row.tickets else "",
        row.revenue_text,
        str(row.contact_id),
        str(row.delivery_id),
    ]


def recipients_csv(rows: Iterable[RecipientRow], lines_per_chunk: int = 200) -> Iterator[str]:
    """CSV text (header first, times in UTC) in chunks, for streaming to a response or a file."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    pending = 1
    for row in rows:
        writer.writerow(csv_line(row))
        pending += 1
        if pending >= lines_per_chunk:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    yield buffer.getvalue()
