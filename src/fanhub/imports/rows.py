"""Reading a CSV import: the file, the column mapping, the subscription modes and each row.

`RowBuilder` turns one raw CSV row into a canonical `ContactRecord` dict. Email and SMS each have
their own subscription mode: a phone number is not consent to texts, so SMS defaults to
`dont_change`, and a row's SMS is touched only when its phone is a valid mobile number. A detail
that cannot be used (an unknown genre, a birthday in no known format) is skipped and reported
with its row; only a row without a usable email or phone is rejected.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any

import phonenumbers

from fanhub.addresses import normalize_email, normalize_phone
from fanhub.errors import InvalidInput

MAX_COLUMNS = 200
MAX_CELL = 5000

# mode -> what it asks for each channel (True subscribe, False unsubscribe, None leave alone)
MODES: dict[str, bool | None] = {
    "subscribe_everyone": True,
    "subscribe_if_not_opted_out": True,
    "unsubscribe_everyone": False,
    "unsubscribe_if_not_subscribed": False,
    "dont_change": None,
}
MODE_LABELS = {
    "subscribe_everyone": "Subscribe everyone (even prior opt-outs)",
    "subscribe_if_not_opted_out": "Subscribe only if not opted out",
    "unsubscribe_everyone": "Unsubscribe everyone",
    "unsubscribe_if_not_subscribed": "Unsubscribe only if not subscribed",
    "dont_change": "Don't change subscription",
}
SUBSCRIBING_MODES = frozenset(mode for mode, wanted in MODES.items() if wanted)
FIELDS = (
    "full_name",
    "first_name",
    "last_name",
    "email",
    "phone",
    "tags",
    "genres",
    "address",
    "postal_code",
    "birthday",
)
FIELD_LABELS = {
    "": "(ignore)",
    "full_name": "Full name",
    "first_name": "First name",
    "last_name": "Last name",
    "email": "Email",
    "phone": "Phone",
    "tags": "Tags",
    "genres": "Genres",
    "address": "Address",
    "postal_code": "Postal code",
    "birthday": "Birthday",
}
_HEADER_GUESSES = {
    "full_name": ("name", "full name", "fullname", "contact name", "customer name"),
    "first_name": ("first name", "firstname", "first", "given name", "forename"),
    "last_name": ("last name", "lastname", "last", "surname", "family name"),
    "email": ("email", "e-mail", "email address", "e-mail address", "mail"),
    "phone": ("phone", "phone number", "mobile", "mobile number", "cell", "cell phone", "telephone", "tel", "sms"),
    "tags": ("tags", "tag", "labels"),
    "genres": ("genres", "genre"),
    "address": ("address", "street address"),
    "postal_code": ("zip", "zip code", "zipcode", "postal code", "postcode", "post code"),
    "birthday": ("birthday", "birth date", "birthdate", "date of birth", "dob"),
}
# The date formats Cymbal's upload page lists (ISO first; 01/02/2006 is month/day/year).
DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%d %b %Y", "%d %B %Y", "%B %d, %Y", "%b %d, %Y", "%m/%d/%Y")
_LIMITS = {"full_name": 400, "first_name": 200, "last_name": 200, "address": 1000, "postal_code": 20}
# Numbers that can receive texts; phonenumbers cannot tell mobile from fixed in some plans (US, CA).
_TEXTABLE = frozenset({phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE})


def decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1", errors="replace")


def read_csv(data: bytes) -> tuple[list[str], list[list[str]]]:
    """The header and the data rows of a CSV file; raises InvalidInput for files that are not CSV."""
    text = decode(data).replace("\x00", "")
    if not text.strip():
        raise InvalidInput("the file is empty", [{"index": None, "field": "file", "message": "empty file"}])
    sample = text[:20000]
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        delimiter = ","
    csv.field_size_limit(1 << 20)
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        rows = [row for row in reader]
    except csv.Error as exc:
        raise InvalidInput(
            f"the file is not a readable CSV ({exc})", [{"index": None, "field": "file", "message": str(exc)}]
        ) from None
    while rows and not any(cell.strip() for cell in rows[0]):
        rows.pop(0)
    if not rows:
        raise InvalidInput("the file has no header row", [{"index": None, "field": "file", "message": "no header"}])
    header = [cell.strip()[:200] for cell in rows[0][:MAX_COLUMNS]]
    return header, [[cell[:MAX_CELL] for cell in row[: len(header)]] for row in rows[1:]]


def _norm_header(name: str) -> str:
    return re.sub(r"[\s_\-.]+", " ", name.strip().lower()).strip()


def guess_mapping(header: Sequence[str]) -> dict[str, str]:
    """Column name -> field for the columns whose names say what they hold; each field at most once."""
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    for column in header:
        norm = _norm_header(column)
        for name, spellings in _HEADER_GUESSES.items():
            squeezed = {n.replace(" ", "") for n in spellings}
            if name not in taken and (norm in spellings or norm.replace(" ", "") in squeezed):
                mapping[column] = name
                taken.add(name)
                break
    return mapping


_MONTHS = {
    name: i + 1
    for i, name in enumerate(
        (
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        )
    )
}
_ISO = re.compile(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})$")
_US = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_DAY_MONTH = re.compile(r"^(\d{1,2}) ([A-Za-z]+) (\d{4})$")
_MONTH_DAY = re.compile(r"^([A-Za-z]+) (\d{1,2}),? (\d{4})$")


def _month(name: str) -> int:
    lower = name.lower()
    for full, number in _MONTHS.items():
        if lower == full or lower == full[:3]:
            return number
    raise ValueError(name)


@lru_cache(maxsize=8192)
def parse_date(value: str) -> str:
    """A birthday in any of the documented formats (`DATE_FORMATS`) as YYYY-MM-DD; ValueError otherwise."""
    text = " ".join(value.strip().split())
    try:
        if match := _ISO.match(text):
            parsed = date(int(match[1]), int(match[2]), int(match[3]))
        elif match := _US.match(text):
            parsed = date(int(match[3]), int(match[1]), int(match[2]))
        elif match := _DAY_MONTH.match(text):
            parsed = date(int(match[3]), _month(match[2]), int(match[1]))
        elif match := _MONTH_DAY.match(text):
            parsed = date(int(match[3]), _month(match[1]), int(match[2]))
        else:
            raise ValueError(text)
    except ValueError:
        raise ValueError(
            f"{value!r} is not a date in a supported format (e.g. 2006-01-02, Jan 2, 2006, 01/02/2006)"
        ) from None
    if parsed.year < 1900 or parsed > date.today():
        raise ValueError(f"{value!r} is not a plausible birthday")
    return parsed.isoformat()


def split_values(value: str) -> list[str]:
    return [part.strip() for part in re.split(r"[;,|]", value) if part.strip()]


@lru_cache(maxsize=65536)
def is_mobile(e164: str) -> bool:
    """Whether a normalised number can receive texts (a mobile, or a plan where it may be one)."""
    try:
        return phonenumbers.number_type(phonenumbers.parse(e164, None)) in _TEXTABLE
    except phonenumbers.NumberParseException:
        return False


@dataclass
class RowResult:
    """A row's record (None when rejected) and its issues: (field, value, reason)."""

    record: dict[str, Any] | None
    issues: list[tuple[str | None, str | None, str]] = field(default_factory=list)
    blank: bool = False


@dataclass(frozen=True)
class ImportPlan:
    """How the rows of one import are turned into records."""

    index: dict[str, int]  # field -> column position
    email_mode: str
    sms_mode: str
    tag_names: list[str]
    list_ids: list[int]
    region: str
    actor: str | None
    genres: frozenset[str]


class RowBuilder:
    """Turns raw CSV rows into canonical ContactRecord dicts (validated with the ingest normalisers)."""

    def __init__(self, plan: ImportPlan) -> None:
        self.plan = plan
        self.email_opt_in = MODES[plan.email_mode]
        self.sms_opt_in = MODES[plan.sms_mode]
        self.new_tags: set[str] = set()

    def _cell(self, row: list[str], name: str) -> str:
        position = self.plan.index.get(name)
        if position is None or position >= len(row):
            return ""
        return row[position].strip()

    def build(self, row: list[str]) -> RowResult:
        if not any(cell.strip() for cell in row):
            return RowResult(None, blank=True)
        result = RowResult(None)
        contact = self._identity(row, result)
        if result.issues:  # without its email or phone the row is someone else, or no one
            return result
        for name in ("full_name", "first_name", "last_name", "address", "postal_code"):
            if value := self._cell(row, name):
                contact[name] = value[: _LIMITS[name]]
        if birthday := self._cell(row, "birthday"):
            try:
                contact["birthday"] = parse_date(birthday)
            except ValueError as exc:
                result.issues.append(("birthday", birthday, f"birthday {exc}; the contact was imported without it"))
        contact["tags"] = self._tags(row)
        contact["genres"] = self._genres(row, result)
        sms = self.sms_opt_in if "phone" in contact and is_mobile(contact["phone"]) else None
        result.record = {
            "contact": contact,
            "opt_ins": {"email": self.email_opt_in if "email" in contact else None, "sms": sms},
            "via": f"import.{self.plan.email_mode}",
            "sms_via": f"import.{self.plan.sms_mode}",
            "actor": self.plan.actor,
            "list_ids": self.plan.list_ids,
        }
        return result

    def _identity(self, row: list[str], result: RowResult) -> dict[str, Any]:
        contact: dict[str, Any] = {}
        raw_email = self._cell(row, "email")
        raw_phone = self._cell(row, "phone")
        if raw_email:
            try:
                contact["email"] = normalize_email(raw_email)
            except ValueError as exc:
                result.issues.append(("email", raw_email, f"email {exc}"))
        if raw_phone:
            try:
                contact["phone"] = normalize_phone(raw_phone, self.plan.region)
            except ValueError as exc:
                result.issues.append(("phone", raw_phone, f"phone {exc}"))
        if not raw_email and not raw_phone:
            result.issues.append((None, None, "no email and no phone"))
        return contact

    def _tags(self, row: list[str]) -> list[str]:
        tags = list(self.plan.tag_names)
        for tag in split_values(self._cell(row, "tags")):
            tag = tag[:200]
            if tag not in tags:
                tags.append(tag)
                self.new_tags.add(tag)
        return tags

    def _genres(self, row: list[str], result: RowResult) -> list[str]:
        genres: list[str] = []
        for genre in split_values(self._cell(row, "genres")):
            if genre not in self.plan.genres:
                result.issues.append(("genres", genre, f"genre {genre!r} is not on the genre list; skipped"))
            elif genre not in genres:
                genres.append(genre)
        return genres
