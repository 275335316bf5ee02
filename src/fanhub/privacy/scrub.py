"""Recognising an erased person in stored text and JSON, and blanking them there.

The stores the redaction job walks (`privacy/stores.py`: CSV import rows, connector webhook bodies,
MCP call logs) were written by other systems in their own shapes, so the person is recognised by
their addresses, not by field names: an email address anywhere in a string (case-insensitive), or
a phone number written in any format (its digits, without a trunk 0, are the last 8 or more
digits of an erased E.164 number). Inside a JSON object that names the person this way, every
value under a key that looks personal (email, phone, mobile, any *name, address, postal code, zip,
city, birthday, IP, user agent) goes too: a platform's buyer object keeps the names beside the
address.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

ERASED_MARK = "[erased]"
_PERSONAL_KEY_PARTS = ("email", "phone", "mobile", "name", "address", "postal", "postcode", "birth", "useragent")
_PERSONAL_KEYS = {"zip", "zipcode", "city", "ip", "ipaddress", "dob", "street"}
_MIN_PHONE_DIGITS = 8


def _digits(value: str) -> str:
    """The digits of a phone number as written, without a national trunk prefix ("07123..." -> "7123...")."""
    return "".join(ch for ch in value if ch.isdigit()).lstrip("0")


def personal_key(key: str) -> bool:
    """Whether a JSON key names a personal field ("Email", "buyer_first_name", "PostalCode", "ip")."""
    flat = re.sub(r"[^a-z]", "", key.lower())
    return flat in _PERSONAL_KEYS or any(part in flat for part in _PERSONAL_KEY_PARTS)


@dataclass(frozen=True)
class Needles:
    """An erased person's addresses: emails lowercased, phones as their E.164 digits."""

    emails: frozenset[str]
    phones: frozenset[str]

    @classmethod
    def of(cls, addresses: Iterable[str]) -> Needles:
        emails, phones = set(), set()
        for address in addresses:
            if "@" in address:
                emails.add(address.strip().lower())
            elif len(_digits(address)) >= _MIN_PHONE_DIGITS:
                phones.add(_digits(address))
        return cls(frozenset(emails), frozenset(phones))

    def names(self, value: str) -> bool:
        """Whether the text holds one of the addresses."""
        lowered = value.lower()
        if any(email in lowered for email in self.emails):
            return True
        digits = _digits(value)
        return len(digits) >= _MIN_PHONE_DIGITS and any(p.endswith(digits) for p in self.phones)

    def scrub_text(self, value: str) -> str:
        """The text with each address replaced by a mark (a phone-only value goes whole)."""
        for email in self.emails:
            value = re.sub(re.escape(email), ERASED_MARK, value, flags=re.IGNORECASE)
        return ERASED_MARK if self.names(value) else value

    def scrub_json(self, node: Any) -> tuple[Any, bool]:
        """(`node` with the person blanked, whether anything changed); lists and objects in place."""
        if isinstance(node, str):
            scrubbed = self.scrub_text(node) if self.names(node) else node
            return scrubbed, scrubbed != node
        changed = False
        if isinstance(node, list):
            for index, item in enumerate(node):
                node[index], hit = self.scrub_json(item)
                changed = changed or hit
        elif isinstance(node, dict):
            if any(isinstance(v, str) and self.names(v) for v in node.values()):
                for key, value in node.items():
                    if value is not None and personal_key(str(key)):
                        node[key], changed = None, True
            for key, value in node.items():
                node[key], hit = self.scrub_json(value)
                changed = changed or hit
        return node, changed

    def scrub_row(self, row: list[str]) -> bool:
        """Blanks every cell of a CSV row that names the person (the row stays, empty); whether it did."""
        if not any(isinstance(cell, str) and self.names(cell) for cell in row):
            return False
        row[:] = ["" for _ in row]
        return True
