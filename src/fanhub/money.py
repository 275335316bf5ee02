"""Money as exact integer minor units with an ISO 4217 currency."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

# ISO 4217 currencies whose minor unit is not 1/100.
_ZERO_DECIMAL = {
    "BIF",
    "CLP",
    "DJF",
    "GNF",
    "ISK",
    "JPY",
    "KMF",
    "KRW",
    "PYG",
    "RWF",
    "UGX",
    "UYI",
    "VND",
    "VUV",
    "XAF",
    "XOF",
    "XPF",
}
_THREE_DECIMAL = {"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"}


@lru_cache(maxsize=512)
def minor_unit_exponent(currency: str) -> int:
    currency = currency.upper()
    if currency in _ZERO_DECIMAL:
        return 0
    if currency in _THREE_DECIMAL:
        return 3
    return 2


def to_minor(amount: Decimal | float | int | None, currency: str) -> int | None:
    """Major units (30.00) to minor units (3000), rounding half up at the currency's precision."""
    if amount is None:
        return None
    value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    return int((value.scaleb(minor_unit_exponent(currency))).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def to_major(minor: int | None, currency: str) -> float | None:
    """Minor units back to major units for the read API (exact for every realistic amount)."""
    if minor is None:
        return None
    return float(Decimal(minor).scaleb(-minor_unit_exponent(currency)))
