"""The contacts table in the order staff choose: by name, created or last order, either way, keyset-paged.

A page is the rows after the last one shown on (value, id), never an OFFSET, so page 2,000 costs what
page 1 does and a contact added meanwhile never shifts a row onto two pages. A contact without a name,
or without a completed order, has no value: those come last in either direction (by last order, the
latest buyers first and the people who never bought after everyone who did). SQLite and PostgreSQL put
NULLs at opposite ends, and `NULLS LAST` is not served by an ascending SQLite index, so a listing runs
in two phases, each a plain index range on both: the rows with a value, `(value, id)` past the cursor
in the direction asked, then the rows without one, by id in the same direction. The cursor says which
phase it is in (a null value means the second).

Indexes (migration 0013): `ix_contacts_org_created (organization_id, created_at, id)` and
`ix_contacts_org_name (organization_id, lower(full_name), id)` serve created and name in both
directions as index walks that stop after 51 rows, whatever the size. Last order is the newest
completed order's `placed_at`, a correlated MAX per contact over `ix_orders_contact_last`
`(contact_id, status, placed_at)` (a covering index seek, no table row read): ordering by it must
look at every contact the filter matches and keep the top 51. Measured on SQLite (2 shared cores;
200,000 contacts, half of them with 1-3 orders): the first page by last order takes 0.23 s, later
pages the same (0.48 s without that index); it grows linearly, so about 1.2 s at a million
contacts, against 2-5 ms for name or created. A filter that narrows the contacts first (a tag, a
list, an event) makes it proportionally cheaper. Keeping a `last_order_at` on the contact, written
by the apply path, would make it an index walk too: the next step if it shows in use.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, literal, select, tuple_
from sqlalchemy.orm import Session

from fanhub.audience.models import Contact
from fanhub.audience.queries import ContactFilter, contact_query
from fanhub.catalog.models import Order
from fanhub.db.bulk import values_in

CREATED, NAME, LAST_ORDER = "created", "name", "last_order"
# Each key's first direction when its header is clicked: names A to Z, the newest first otherwise.
SORTS: dict[str, bool] = {CREATED: True, NAME: False, LAST_ORDER: True}
PAGE_SIZE = 50


@dataclass(frozen=True)
class ContactSort:
    key: str = CREATED
    descending: bool = True

    @classmethod
    def from_params(cls, params: Any) -> ContactSort:
        """The sort a query string asks for (`sort`, `dir`); unknown values give the default."""
        key = str(params.get("sort", "") or "")
        if key not in SORTS:
            return cls()
        direction = str(params.get("dir", "") or "")
        return cls(key, SORTS[key] if direction not in ("asc", "desc") else direction == "desc")

    def params(self) -> dict[str, str]:
        return {"sort": self.key, "dir": "desc" if self.descending else "asc"}

    def clicked(self, key: str) -> ContactSort:
        """The sort after clicking `key`'s header: the other direction if it is the current key."""
        return ContactSort(key, not self.descending if key == self.key else SORTS[key])


def last_order_value() -> ColumnElement[Any]:
    """The newest completed order's time of the contact in the enclosing query (NULL without one)."""
    return (
        select(func.max(Order.placed_at))
        .where(Order.contact_id == Contact.id, Order.status == "completed")
        .correlate(Contact)
        .scalar_subquery()
    )


def _value(key: str) -> ColumnElement[Any]:
    if key == NAME:
        return func.lower(Contact.full_name)
    if key == LAST_ORDER:
        return last_order_value()
    return Contact.created_at.expression


def encode_cursor(value: Any, contact_id: int) -> str:
    shown = value.isoformat() if isinstance(value, datetime) else value
    raw = json.dumps([shown, contact_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(raw: str, key: str) -> tuple[Any, int] | None:
    """(value, id) from `encode_cursor`, or None for anything else (the listing starts over)."""
    try:
        value, contact_id = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        if not isinstance(contact_id, int) or isinstance(contact_id, bool):
            return None
        if value is None or (key == NAME and isinstance(value, str)):
            return value, contact_id
        if key != NAME and isinstance(value, str):
            return datetime.fromisoformat(value), contact_id
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        return None
    return None


def sorted_contacts_page(
    session: Session,
    organization_id: int,
    contact_filter: ContactFilter,
    sort: ContactSort,
    after: str | None,
    size: int = PAGE_SIZE,
) -> tuple[list[Contact], str | None]:
    """One page of the contacts matching the filter in `sort`'s order after the cursor `after`
    (from a previous page); returns the contacts and the next page's cursor (None on the last page)."""
    value = _value(sort.key)
    cursor = decode_cursor(after, sort.key) if after else None
    base = contact_query(organization_id, contact_filter).add_columns(value)
    rows: list[Any] = []
    if cursor is None or cursor[0] is not None:
        with_value = base.where(value.is_not(None))
        if cursor is not None:
            mark = tuple_(literal(cursor[0], value.type), literal(cursor[1], Contact.id.type))
            position = tuple_(value, Contact.id)
            with_value = with_value.where(position < mark if sort.descending else position > mark)
        order = (value.desc(), Contact.id.desc()) if sort.descending else (value.asc(), Contact.id.asc())
        rows = list(session.execute(with_value.order_by(*order).limit(size + 1)))
    if len(rows) <= size:
        without = base.where(value.is_(None))
        if cursor is not None and cursor[0] is None:
            without = without.where(Contact.id < cursor[1] if sort.descending else Contact.id > cursor[1])
        by_id = Contact.id.desc() if sort.descending else Contact.id.asc()
        rows += session.execute(without.order_by(by_id).limit(size + 1 - len(rows)))
    shown = rows[:size]
    next_cursor = encode_cursor(shown[-1][1], shown[-1][0].id) if len(rows) > size else None
    return [row[0] for row in shown], next_cursor


def last_orders(session: Session, contact_ids: list[int]) -> dict[int, datetime]:
    """Each contact's newest completed order time, for the contacts table's column."""
    if not contact_ids:
        return {}
    query = (
        select(Order.contact_id, func.max(Order.placed_at))
        .where(values_in(Order.contact_id, contact_ids), Order.status == "completed")
        .group_by(Order.contact_id)
    )
    return {int(contact_id): placed for contact_id, placed in session.execute(query)}
