"""Money as exact integer minor units with an ISO 4217 currency."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

# ISO 4217 active currency codes (list of 2025, incl. funds codes such as USN and CLF) by the exponent
# of their minor unit. Codes whose minor unit is "N.A." (XAU, XDR, XXX, …) are no money to sell
# tickets in and are left out. Update from https://www.six-group.com/en/products-services/financial-information/data-standards.html
ISO_4217_TABLE = {
    0: "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF",
    2: """AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP BYN BZD
        CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS
        GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL
        MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK
        PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB
        TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED VES WST XCD XCG YER ZAR ZMW ZWG""",
    3: "BHD IQD JOD KWD LYD OMR TND",
    4: "CLF UYW",
}
ISO_4217: dict[str, int] = {code: exponent for exponent, codes in ISO_4217_TABLE.items() for code in codes.split()}
_FACTORS = {0: 1.0, 2: 100.0, 3: 1000.0, 4: 10000.0}
# code → (10.0**exponent, 10**exponent): one lookup for the per-order check in `ingest.records`.
MINOR_SCALES = {code: (_FACTORS[exponent], 10**exponent) for code, exponent in ISO_4217.items()}


def is_currency(code: str) -> bool:
    """Whether `code` (upper case) is an active ISO 4217 currency with a minor unit."""
    return code in ISO_4217


@lru_cache(maxsize=512)
def minor_unit_exponent(currency: str) -> int:
    # Codes outside the table (stored before fanhub checked them) read as cents, as they always did.
    return ISO_4217.get(currency.upper(), 2)


def exact_minor(amount: float, currency: str) -> int | None:
    """`amount` in minor units when it is a whole number of them (40.25 USD → 4025), else None (0.005 USD).

    A float is the decimal the JSON wrote; it is whole in minor units exactly when it equals the
    nearest float to `minor / 10**exponent` (Python's int division rounds correctly), so no
    tolerance is guessed and 40.0000000001 is not mistaken for 40.
    """
    exponent = minor_unit_exponent(currency)
    minor = round(amount * _FACTORS[exponent])
    return minor if minor / 10**exponent == amount else None


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
