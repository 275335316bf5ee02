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


def test_float_amounts_match_exact_decimal_rounding() -> None:
    """The float fast path agrees with half-up rounding of the written decimal, ties included."""
    import random
    from decimal import ROUND_HALF_UP

    rng = random.Random(20261127)
    amounts = [round(rng.random() * 10 ** rng.randint(0, 8), rng.randint(0, 4)) for _ in range(20_000)]
    amounts += [0.005, 0.015, 0.125, 2.675, 1.0005, 8.345, 1234567.885, 9_999_999.995]
    for currency, exponent in (("USD", 2), ("JPY", 0), ("KWD", 3)):
        for amount in amounts:
            exact = Decimal(repr(amount)).scaleb(exponent).quantize(Decimal(1), rounding=ROUND_HALF_UP)
            assert to_minor(amount, currency) == int(exact), (amount, currency)


def test_iso_4217_table() -> None:
    from fanhub.money import ISO_4217, is_currency, minor_unit_exponent

    assert (ISO_4217["USD"], ISO_4217["JPY"], ISO_4217["KWD"], ISO_4217["CLF"]) == (2, 0, 3, 4)
    assert is_currency("EUR") and not is_currency("ZZZ") and not is_currency("XAU") and not is_currency("usd")
    assert len(ISO_4217) > 150 and all(len(code) == 3 and code.isupper() for code in ISO_4217)
    # Stored before codes were checked: still read as cents.
    assert minor_unit_exponent("ZZZ") == 2


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        (40.0, "USD", 4000),
        (0.29, "USD", 29),
        (0.005, "USD", None),
        (40.0000000001, "USD", None),
        (1500.0, "JPY", 1500),
        (0.5, "JPY", None),
        (1.234, "KWD", 1234),
        (1.2345, "KWD", None),
        (0.0001, "CLF", 1),
        (21474836.47, "USD", 2**31 - 1),
    ],
)
def test_exact_minor_never_rounds(amount: float, currency: str, minor: int | None) -> None:
    from fanhub.money import exact_minor

    assert exact_minor(amount, currency) == minor


def test_exact_minor_accepts_every_whole_amount() -> None:
    """Every amount written with at most the currency's decimals is exact (no float tolerance guessed)."""
    import random

    from fanhub.money import exact_minor

    rng = random.Random(16)
    for currency, exponent in (("USD", 2), ("JPY", 0), ("KWD", 3), ("CLF", 4)):
        for _ in range(20_000):
            minor = rng.randrange(0, 2**31)
            amount = float(Decimal(minor).scaleb(-exponent))
            assert exact_minor(amount, currency) == minor, (amount, currency)
