"""The canonical records: the Partners API's own event, order and contact, widened where sources say more.

Every source (Partners API, connectors, CSV import, staff) maps into these once, and `ingest.apply`
is the only code that turns them into rows. Fields the Partners API requires but a platform cannot
supply (an event image, say) are optional here and required only in `partners.schemas`.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    TypeAdapter,
    ValidationInfo,
)

from fanhub.audience.identity import normalize_email, normalize_phone

_EXCESS_FRACTION = re.compile(r"(\.\d{6})\d+")
_CURRENCY = re.compile(r"[A-Za-z]{3}")
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?([Zz]|[+-]\d{2}:?\d{2})$")


def _parse_instant(value: Any) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("datetime must carry a UTC offset")
        return value.astimezone(UTC)
    if not isinstance(value, str) or not _RFC3339.match(value.strip()):
        raise ValueError("must be an RFC 3339 datetime with an offset, e.g. 2024-03-02T15:30:00Z")
    text = value.strip()
    if "." in text:  # Python's parser takes at most 6 fractional digits.
        text = _EXCESS_FRACTION.sub(r"\1", text)
    return datetime.fromisoformat(text.replace("z", "Z")).astimezone(UTC)


def _external_id(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError("must be a string (or an integer)")
    text = str(value).strip()
    if not text:
        raise ValueError("must not be empty")
    if len(text) > 200:
        raise ValueError("must be at most 200 characters")
    return text


def _price(value: Any) -> float:
    # Every check in one call: separate constraint validators cost more than the check itself
    # when a batch holds a thousand prices.
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError("must be a number in major units, e.g. 40.00")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError("must be a finite number")
    if number < 0:
        raise ValueError("must be greater than or equal to 0")
    return number


@lru_cache(maxsize=1024)
def _currency_code(value: str) -> str:
    if not _CURRENCY.fullmatch(value.strip()):
        raise ValueError("must be a 3-letter ISO 4217 code such as USD")
    return value.strip().upper()


def _currency(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a 3-letter ISO 4217 code such as USD")
    return _currency_code(value)


Instant = Annotated[datetime, BeforeValidator(_parse_instant)]
ExternalId = Annotated[str, BeforeValidator(_external_id)]
# Major units as sent; `money.to_minor` turns them into exact integer minor units.
Price = Annotated[float, PlainValidator(_price, json_schema_input_type=float), Field(json_schema_extra={"minimum": 0})]
Currency = Annotated[str, BeforeValidator(_currency)]
Email = Annotated[str, AfterValidator(normalize_email)]


def _phone(value: str, info: ValidationInfo) -> str:
    # National numbers are read in the organization's region, passed as validation context
    # ({"phone_region": "GB"}) by the Partners API and the apply path; the deployment default otherwise.
    region = info.context.get("phone_region") if isinstance(info.context, dict) else None
    return normalize_phone(value, region)


Phone = Annotated[str, AfterValidator(_phone)]
ShortText = Annotated[str, Field(max_length=1000)]


# Unknown fields are ignored, as a partner integrating against Cymbal may send more than we read.
_RECORD_CONFIG = ConfigDict(extra="ignore", str_strip_whitespace=True)


class Record(BaseModel):
    model_config = _RECORD_CONFIG


class Location(Record):
    name: ShortText
    address: ShortText | None = None


class TicketTypeRecord(Record):
    name: ShortText
    prefee_price: Price | None = None
    total_price: Price | None = None
    currency_code: Currency = "USD"
    quantity: Annotated[int, Field(ge=0)] | None = None


class EventRecord(Record):
    id: ExternalId
    url: str | None = None
    name: Annotated[str, Field(min_length=1, max_length=1000)]
    image_url: str | None = None
    description: str | None = None
    tags: list[ShortText] = []
    status: Literal["live", "canceled"] = "live"
    start_datetime: Instant
    end_datetime: Instant | None = None
    doors_open_datetime: Instant | None = None
    location: Location
    performers: list[ShortText] = []
    ticket_types: list[TicketTypeRecord] = []
    # Widened: the IANA zone of the venue when the source knows it.
    time_zone: str | None = None


# Orders and contacts are the volume (a backfill brings hundreds of thousands), so their records are
# slotted dataclasses that pydantic validates: a 500-order batch took 9-10 ms to validate into
# models and takes 5-6 ms into these; the rules are the same annotations either way.


@dataclass(slots=True, kw_only=True)
class Customer:
    __pydantic_config__ = _RECORD_CONFIG

    email: Email | None = None
    phone: Phone | None = None
    first_name: ShortText | None = None
    last_name: ShortText | None = None
    address: ShortText | None = None
    ip_address: ShortText | None = None

    def __post_init__(self) -> None:
        if not self.email and not self.phone:
            raise ValueError("needs an email or a phone")

    def as_json(self) -> dict[str, str]:
        """The fields given, as stored on the order."""
        return {name: value for name in CUSTOMER_FIELDS if (value := getattr(self, name)) is not None}


CUSTOMER_FIELDS = tuple(f.name for f in fields(Customer))


@dataclass(slots=True, kw_only=True)
class OptIns:
    __pydantic_config__ = _RECORD_CONFIG

    email: bool | None = None
    sms: bool | None = None


@dataclass(slots=True, kw_only=True)
class OrderItemRecord:
    __pydantic_config__ = _RECORD_CONFIG

    ticket_type_name: ShortText | None = None
    quantity: Annotated[int, Field(ge=0)] = 1
    prefee_price: Price | None = None
    total_price: Price
    currency_code: Currency = "USD"


@dataclass(slots=True, kw_only=True)
class OrderRecord:
    __pydantic_config__ = _RECORD_CONFIG

    id: ExternalId
    event_id: ExternalId
    customer: Customer
    marketing_opt_ins: OptIns
    items: Annotated[list[OrderItemRecord], Field(min_length=1)]
    created_at: Instant | None = None
    # Widened: what a ticketing platform says beyond the Partners API.
    status: Literal["completed", "refunded", "canceled"] = "completed"
    refunded_amount: Price | None = None
    # Widened: the buyer's email-list subscription as the platform states it now (Eventbrite's
    # contact_list_preferences) and when it was read. Unlike a checkout tick it may be an opt-out,
    # and it never re-subscribes anyone who opted out (see `ingest.apply`).
    list_email_opt_in: bool | None = None
    list_observed_at: Instant | None = None


@dataclass(slots=True, kw_only=True)
class ContactFields:
    __pydantic_config__ = _RECORD_CONFIG

    full_name: ShortText | None = None
    first_name: ShortText | None = None
    last_name: ShortText | None = None
    email: Email | None = None
    phone: Phone | None = None
    list_id: int | None = None
    tags: list[ShortText] = field(default_factory=list)
    genres: list[ShortText] = field(default_factory=list)
    # Widened: CSV imports and platforms know these.
    address: ShortText | None = None
    postal_code: Annotated[str, Field(max_length=20)] | None = None
    birthday: str | None = None

    def __post_init__(self) -> None:
        if not self.email and not self.phone:
            raise ValueError("needs an email or a phone")


@dataclass(slots=True, kw_only=True)
class InterestedInEvent:
    __pydantic_config__ = _RECORD_CONFIG

    event_id: ExternalId
    ticketer: Annotated[str, Field(min_length=1, max_length=60)]


@dataclass(slots=True, kw_only=True)
class ContactRecord:
    """A contact with what to do to its subscriptions; `/contact` and `/subscribe` both become one."""

    __pydantic_config__ = _RECORD_CONFIG

    contact: ContactFields
    opt_ins: OptIns = field(default_factory=OptIns)
    interested_in_event: InterestedInEvent | None = None
    ticket_url: str | None = None
    # Widened: how the source expressed consent and when (defaults: the batch's arrival).
    via: str = "contact.opt_ins"
    # Widened: a CSV import chooses its SMS mode apart from its email mode (None: `via` for both
    # channels), and names the person who confirmed it; both are written to the consent ledger.
    sms_via: str | None = None
    actor: str | None = None
    observed_at: Instant | None = None
    list_ids: list[int] = field(default_factory=list)


class EventBatch(Record):
    events: list[EventRecord]


class OrderBatch(Record):
    orders: list[OrderRecord]


class ContactBatch(Record):
    contacts: list[ContactRecord]


BATCH_MODELS: dict[str, type[Record]] = {"events": EventBatch, "orders": OrderBatch, "contacts": ContactBatch}


RecordType = TypeVar("RecordType")


_adapters: dict[type[Any], TypeAdapter[Any]] = {}


def _adapter(record_type: type[Any]) -> TypeAdapter[Any]:
    adapter = _adapters.get(record_type)
    if adapter is None:
        adapter = _adapters[record_type] = TypeAdapter(record_type)
    return adapter


def validate_record(record_type: type[RecordType], data: Any) -> RecordType:
    """Validate a mapped dict into a canonical record (model or dataclass alike); raises ValidationError."""
    record: RecordType = _adapter(record_type).validate_python(data)
    return record


def record_digest(record: Any) -> str:
    """A record's digest, stored as `record_hash`: an identical re-send is recognised and skipped."""
    return hashlib.blake2b(_adapter(type(record)).dump_json(record), digest_size=16).hexdigest()
