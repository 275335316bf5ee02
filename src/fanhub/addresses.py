"""Addresses: how an email and a phone number are normalised so the same person is found again.

Email: trimmed and lower-cased (the local part is case-insensitive in practice everywhere that
matters), syntax checked by email-validator. A non-ASCII address is first brought to Unicode NFKC,
so compatibility forms a reader cannot tell apart (full-width "ａ" and "＠", ligatures) are the
plain characters. The domain is stored in its one ASCII (IDNA, punycode) form, whichever way it was
written: `user@bücher.de`, `user@BÜCHER.de` and `user@xn--bcher-kva.de` are all
`user@xn--bcher-kva.de`. ASCII rather than Unicode because every address already stored with a
plain domain keeps its form (and the fast path below keeps working), and because an ASCII domain is
deliverable through any SMTP server, where a Unicode one needs SMTPUTF8 all the way.
Phone: E.164 through phonenumbers, reading national numbers in the deployment's default region
(`FANHUB_DEFAULT_PHONE_REGION`, US unless set).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import phonenumbers
from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email

from fanhub.config import get_settings

# Plain ASCII addresses, the vast majority: a dot-atom local part and letters-digits-hyphens
# labels under an alphabetic top-level domain. email-validator accepts every address of this
# shape that also passes the length, "--" and special-use checks in `_plainly_valid` (a test
# compares the two on generated addresses); anything else gets the full validation. It costs
# ~100 us an address, which dominated importing a spreadsheet of new contacts.
_PLAIN_EMAIL = re.compile(
    r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}"
)
_SPECIAL_USE_SUFFIXES = tuple(f".{name}" for name in SPECIAL_USE_DOMAIN_NAMES)


def _plainly_valid(email: str) -> bool:
    if len(email) > 254 or "--" in email or not _PLAIN_EMAIL.fullmatch(email):
        return False
    local, _, domain = email.rpartition("@")
    return len(local) <= 64 and len(domain) <= 253 and not ("." + domain).endswith(_SPECIAL_USE_SUFFIXES)


@lru_cache(maxsize=65536)
def normalize_email(value: str) -> str:
    email = value.strip().lower()
    if not email.isascii():
        # Lower-cased again: NFKC can produce capitals (full-width "Ａ" becomes "A").
        email = unicodedata.normalize("NFKC", email).lower()
    if _plainly_valid(email):  # ASCII only, so also what NFKC made plain ("ａ@example.com")
        return email
    try:
        validated = validate_email(email, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError as exc:
        raise ValueError(f"is not a valid email address ({exc})") from None
    # The local part as written (validation only NFC-normalises it, a no-op after NFKC); the
    # domain in its IDNA ASCII form, which email-validator derives after UTS 46 mapping, so case,
    # full stops such as "。" and punycode input all arrive at one spelling.
    return email[: email.rindex("@")] + "@" + validated.ascii_domain


# A North American number written nationally, the commonest form in US spreadsheets and exports:
# "(415) 555-0100", "415.555.0100", "4155550100". With an area code starting 2-9 there is no
# national prefix to strip, so phonenumbers' answer is always "+1" and the ten digits (a test
# compares the two).
_NANP_NATIONAL = re.compile(r"\(?([2-9]\d{2})\)?[ .-]?(\d{3})[ .-]?(\d{4})")


@lru_cache(maxsize=65536)
def _normalize_phone(value: str, region: str) -> str:
    text = value.strip()
    if not text:
        raise ValueError("must not be empty")
    if region == "US":
        plain = _NANP_NATIONAL.fullmatch(text)
        if plain is not None:
            return "+1" + "".join(plain.groups())
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"is not a phone number ({exc})") from None
    if not phonenumbers.is_possible_number(number):
        # A leading country code written without "+" (e.g. 12345678900) is common in exports.
        if text[0] != "+":
            try:
                retry = phonenumbers.parse("+" + text, None)
            except phonenumbers.NumberParseException:
                retry = None
            if retry is not None and phonenumbers.is_possible_number(retry):
                return phonenumbers.format_number(retry, phonenumbers.PhoneNumberFormat.E164)
        raise ValueError("is not a possible phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# Numbers this process already produced: a stored record carries the E.164 form, and applying it
# must not pay for parsing it again (phonenumbers takes ~100 us a number). Cleared when full.
_E164_SEEN: set[str] = set()
_E164_SEEN_LIMIT = 200_000


def normalize_phone(value: str, region: str | None = None) -> str:
    if value in _E164_SEEN:
        return value
    normalized = _normalize_phone(value, (region or get_settings().default_phone_region).upper())
    if len(_E164_SEEN) >= _E164_SEEN_LIMIT:
        _E164_SEEN.clear()
    _E164_SEEN.add(normalized)
    return normalized


def try_normalize_email(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return normalize_email(value)
    except ValueError:
        return None


def try_normalize_phone(value: str | None, region: str | None = None) -> str | None:
    if not value:
        return None
    try:
        return normalize_phone(value, region)
    except ValueError:
        return None


def display_phone(e164: str | None, region: str | None = None) -> str:
    """A stored E.164 number as people of the organization's region write it: national format for a
    number of that region ("(970) 555-0100" in the US), international otherwise ("+44 20 7946 0958")."""
    if not e164:
        return ""
    region = (region or get_settings().default_phone_region or "US").upper()
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    if phonenumbers.region_code_for_number(number) == region:
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
