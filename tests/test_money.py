"""Money: exact minor units from the decimals partners write."""

from __future__ import annotations

from decimal import Decimal

import pytest

from fanhub.money import to_major, to_minor


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        (40.0, "USD", 4000),
        (40, "USD", 4000),
        (0.285, "USD", 29),
        (0.2849, "USD", 28),
        (19.99, "usd", 1999),
        (1.005, "USD", 101),
        (1234567.89, "EUR", 123456789),
        (0.0, "USD", 0),
        (1500.5, "JPY", 1501),
        (1500.4, "JPY", 1500),
        (1.2345, "KWD", 1235),
        (1e-05, "USD", 0),
        (Decimal("2.675"), "USD", 268),
        (None, "USD", None),
    ],
)
def test_to_minor_rounds_half_up_on_the_written_decimal(amount: object, currency: str, minor: int | None) -> None:
    assert to_minor(amount, currency) == minor  # type: ignore[arg-type]


def test_every_cent_amount_round_trips() -> None:
    for cents in range(0, 100_000, 7):
        assert to_minor(cents / 100, "USD") == cents
        assert to_major(cents, "USD") == cents / 100
