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
_FACTORS = {0: 1.0, 2: 100.0, 3: 1000.0}


@lru_cache(maxsize=512)
def minor_unit_exponent(currency: str) -> int:
    currency = currency.upper()
    if currency in _ZERO_DECIMAL:
        return 0
    if currency in _THREE_DECIMAL:
        return 3
    return 2


def to_minor(amount: Decimal | float | int | None, currency: str) -> int | None:
    """Major units (30.00) to minor units (3000), rounding half up at the currency's precision.

    A float is read as the decimal it prints as (its shortest repr, i.e. what the JSON said), so
    0.285 USD is 29 cents, not the 28.4999… cents of its binary value.
    """
    if amount is None:
        return None
    exponent = minor_unit_exponent(currency)
    if isinstance(amount, int):
        return amount * 10**exponent
    if isinstance(amount, float):
        scaled = amount * _FACTORS[exponent]
        if 0 <= scaled < 1e9:
            # Far from a half-unit tie the float's own rounding decides exactly as the decimal
            # would (the error of one multiplication is below 1e-7 here); ties take the slow path.
            whole = int(scaled)
            if abs(scaled - whole - 0.5) > 1e-6:
                return whole + 1 if scaled - whole > 0.5 else whole
        fast = _float_to_minor(amount, exponent)
        if fast is not None:
            return fast
    value = amount if isinstance(amount, Decimal) else Decimal(repr(amount))
    return int(value.scaleb(exponent).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _float_to_minor(amount: float, exponent: int) -> int | None:
    """Decimal-string arithmetic on the shortest repr; None for forms it does not handle (1e-05, nan)."""
    text = repr(amount)
    if amount < 0 or not text[0].isdigit() or "e" in text or "n" in text:
        return None
    whole, _, fraction = text.partition(".")
    digits = (fraction + "0" * (exponent + 1))[: exponent + 1]
    minor = int(whole) * 10**exponent + (int(digits[:exponent]) if exponent else 0)
    return minor + 1 if digits[exponent] >= "5" else minor


def to_major(minor: int | None, currency: str) -> float | None:
    """Minor units back to major units for the read API (exact for every realistic amount)."""
    if minor is None:
        return None
    return float(Decimal(minor).scaleb(-minor_unit_exponent(currency)))
