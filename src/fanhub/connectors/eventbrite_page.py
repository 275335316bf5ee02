"""What the Eventbrite order mapping reads of an order page (`Stream.shape`).

Parsed straight from the response bytes into these TypedDicts (with `Any` leaves), an order page
never becomes whole Python objects: only the parts `eventbrite.map_order` reads.
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter
from typing_extensions import TypedDict


class _Cost(TypedDict, total=False):
    currency: Any
    value: Any


class _Costs(TypedDict, total=False):
    gross: _Cost | None
    base_price: _Cost | None


class _Profile(TypedDict, total=False):
    first_name: Any
    last_name: Any
    email: Any
    cell_phone: Any


class _Attendee(TypedDict, total=False):
    ticket_class_name: Any
    quantity: Any
    refunded: Any
    cancelled: Any
    costs: _Costs | None
    profile: _Profile | None


class _ContactListPreferences(TypedDict, total=False):
    has_opted_in: Any
    has_contact_list: Any


class _Order(TypedDict, total=False):
    id: Any
    event_id: Any
    status: Any
    created: Any
    changed: Any
    first_name: Any
    last_name: Any
    email: Any
    costs: _Costs | None
    attendees: list[_Attendee] | None
    contact_list_preferences: _ContactListPreferences | None


class _Pagination(TypedDict, total=False):
    has_more_items: Any
    continuation: Any


class _OrderPage(TypedDict, total=False):
    orders: list[_Order] | None
    pagination: _Pagination | None


ORDER_PAGE: TypeAdapter[Any] = TypeAdapter(_OrderPage)
