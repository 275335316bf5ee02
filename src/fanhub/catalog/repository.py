"""Queries on events and orders start here: the organization filter (see `db/repository.py`)."""

from __future__ import annotations

from fanhub.catalog.models import Event, Order
from fanhub.db.repository import Repository


class EventRepository(Repository[Event]):
    model = Event
    noun = "event"


class OrderRepository(Repository[Order]):
    model = Order
    noun = "order"
