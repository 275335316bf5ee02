"""The contacts table sorted by name, created or last order, keyset-paged (audience/contact_sort.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fanhub.audience.contact_sort import (
    CREATED,
    LAST_ORDER,
    NAME,
    ContactSort,
    decode_cursor,
    encode_cursor,
    last_orders,
    sorted_contacts_page,
)
from fanhub.audience.models import Contact
from fanhub.audience.queries import ContactFilter
from fanhub.catalog.models import Order
from fanhub.db.engine import Database
from tests.conftest import make_tenant

START = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
def audience(db: Database) -> dict[int, dict[str, Any]]:
    """23 contacts: names with ties in case and value, some without a name; created times with ties;
    orders (completed, and a refunded one that does not count) for some; another organization's."""
    org = make_tenant(db, "Ours", "a").organization_id
    other = make_tenant(db, "Theirs", "b").organization_id
    expected: dict[int, dict[str, Any]] = {}
    with db.write() as session:
        session.add(Contact(organization_id=other, email="x@other.example", full_name="Aaron"))
        for n in range(23):
            name = (
                None if n % 5 == 0 else ["bea", "Bea", "adam", "Zoë", "carl", "Dana"][n % 6] + ("" if n % 3 else " X")
            )
            contact = Contact(
                organization_id=org,
                email=f"c{n}@example.com",
                full_name=name,
                created_at=START + timedelta(hours=n // 3),  # three contacts per hour: ties on created
            )
            session.add(contact)
            session.flush()
            last = None
            if n % 2 == 0:
                for k in range(n % 3 + 1):
                    placed = START + timedelta(days=(n * 7 + k * 3) % 11)  # ties between contacts too
                    session.add(_order(org, contact.id, f"{n}-{k}", placed, "completed"))
                    last = max(last or placed, placed)
            session.add(_order(org, contact.id, f"{n}-r", START + timedelta(days=40), "refunded"))
            expected[contact.id] = {"name": name.lower() if name else None, "created": contact.created_at, "last": last}
    return expected


def _order(org: int, contact_id: int, external_id: str, placed: datetime, status: str) -> Order:
    return Order(
        organization_id=org,
        source="test",
        external_id=external_id,
        event_external_id="e1",
        contact_id=contact_id,
        status=status,
        placed_at=placed,
    )


def _walk(db: Database, org: int, sort: ContactSort, size: int) -> list[int]:
    seen: list[int] = []
    cursor: str | None = None
    with db.read() as session:
        for _ in range(50):
            rows, cursor = sorted_contacts_page(session, org, ContactFilter(), sort, cursor, size)
            seen += [c.id for c in rows]
            if cursor is None:
                return seen
    raise AssertionError("the pages never ended")


@pytest.mark.parametrize(("key", "field"), [(NAME, "name"), (CREATED, "created"), (LAST_ORDER, "last")])
@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("size", [1, 4, 50])
def test_every_page_in_order_once_with_missing_values_last(
    db: Database, audience: dict[int, dict[str, Any]], key: str, field: str, descending: bool, size: int
) -> None:
    org = _org_of(db, next(iter(audience)))
    with_value = sorted(
        (i for i, v in audience.items() if v[field] is not None),
        key=lambda i: (audience[i][field], i),
        reverse=descending,
    )
    without = sorted((i for i, v in audience.items() if v[field] is None), reverse=descending)
    assert _walk(db, org, ContactSort(key, descending), size) == with_value + without


def _org_of(db: Database, contact_id: int) -> int:
    with db.read() as session:
        contact = session.get(Contact, contact_id)
        assert contact is not None
        return contact.organization_id


def test_last_orders_cursor_round_trip_and_sort_params(db: Database, audience: dict[int, dict[str, Any]]) -> None:
    with db.read() as session:
        found = last_orders(session, list(audience))
    assert found == {i: v["last"] for i, v in audience.items() if v["last"] is not None}
    assert decode_cursor(encode_cursor(START, 7), LAST_ORDER) == (START, 7)
    assert decode_cursor(encode_cursor(None, 7), NAME) == (None, 7)
    assert decode_cursor(encode_cursor("bea", 3), NAME) == ("bea", 3)
    for garbage in ("", "!!", "W10", encode_cursor("bea", 3)):  # the last: a name where a time belongs
        assert decode_cursor(garbage, CREATED) is None
    assert ContactSort.from_params({"sort": "last_order"}) == ContactSort(LAST_ORDER, True)
    assert ContactSort.from_params({"sort": "name", "dir": "desc"}) == ContactSort(NAME, True)
    assert ContactSort.from_params({"sort": "email", "dir": "asc"}) == ContactSort()
    assert ContactSort(NAME, False).clicked(NAME) == ContactSort(NAME, True)
    assert ContactSort(NAME, False).clicked(CREATED) == ContactSort(CREATED, True)
