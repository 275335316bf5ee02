"""Fixtures for connector tests: the fake platforms on 127.0.0.1 and fast retry settings."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from fanhub.catalog.models import Event, Order
from fanhub.connectors.base import RetryPolicy
from fanhub.connectors.service import ClientOptions
from fanhub.db.engine import Database
from tests.conftest import Tenant, make_tenant
from tests.fakes.eventbrite import FakeEventbrite
from tests.fakes.ticketor import FakeTicketor
from tests.fakes.tickettailor import FakeTicketTailor

# Retries and 429 waits in milliseconds, and a budget no test reaches unless it sets its own.
FAST = RetryPolicy(attempts=4, base=0.01, cap=0.05, rate_limit_attempts=30, rate_limit_default_wait=0.1)


def fast_options(**overrides: Any) -> ClientOptions:
    return ClientOptions(
        retry=overrides.pop("retry", FAST), budget_calls=overrides.pop("budget_calls", 10**6), **overrides
    )


@pytest.fixture
def org(db: Database) -> Tenant:
    return make_tenant(db)


@pytest.fixture
def eb() -> Iterator[FakeEventbrite]:
    with FakeEventbrite(page_size=50) as fake:
        yield fake


@pytest.fixture
def tt() -> Iterator[FakeTicketTailor]:
    with FakeTicketTailor(rate_limit=None) as fake:
        yield fake


@pytest.fixture
def tr() -> Iterator[FakeTicketor]:
    with FakeTicketor() as fake:
        yield fake


def order_rows(db: Database, organization_id: int) -> dict[str, Order]:
    with db.read() as session:
        rows = session.scalars(select(Order).where(Order.organization_id == organization_id)).all()
        return {row.external_id: row for row in rows}


def event_rows(db: Database, organization_id: int) -> dict[str, Event]:
    with db.read() as session:
        rows = session.scalars(select(Event).where(Event.organization_id == organization_id)).all()
        return {row.external_id: row for row in rows}


def count_orders(db: Database, organization_id: int) -> tuple[int, int]:
    """(rows, distinct external ids): equal when nothing was duplicated."""
    with db.read() as session:
        rows, distinct = session.execute(
            select(func.count(), func.count(func.distinct(Order.external_id))).where(
                Order.organization_id == organization_id
            )
        ).one()
        return int(rows), int(distinct)
