"""Identity: how an email and a phone number are normalised so the same person is found again.

Email: trimmed and lower-cased (the local part is case-insensitive in practice everywhere that
matters), syntax checked by email-validator. Phone: E.164 through phonenumbers, reading national
numbers in the deployment's default region (`FANHUB_DEFAULT_PHONE_REGION`, US unless set).
"""

from __future__ import annotations

from functools import lru_cache

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from fanhub.config import get_settings


@lru_cache(maxsize=65536)
def normalize_email(value: str) -> str:
    email = value.strip().lower()
    try:
        validate_email(email, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError as exc:
        raise ValueError(f"is not a valid email address ({exc})") from None
    return email


@lru_cache(maxsize=65536)
def _normalize_phone(value: str, region: str) -> str:
    text = value.strip()
    if not text:
        raise ValueError("must not be empty")
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


def normalize_phone(value: str, region: str | None = None) -> str:
    return _normalize_phone(value, (region or get_settings().default_phone_region).upper())


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
