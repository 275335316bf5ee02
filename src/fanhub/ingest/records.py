"""The canonical records: the Partners API's own event, order and contact, widened where sources say more.

Every source (Partners API, connectors, CSV import, staff) maps into these once, and `ingest.apply`
is the only code that turns them into rows. Fields the Partners API requires but a platform cannot
supply (an event image, say) are optional here and required only in `partners.schemas`.
"""

from __future__ import annotations

import hashlib
import math
import re
import zoneinfo
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    PlainValidator,
    TypeAdapter,
    ValidationInfo,
    model_validator,
)
from pydantic_core import core_schema

from fanhub.addresses import normalize_email, normalize_phone
from fanhub.money import MINOR_SCALES, exact_minor, is_currency

_EXCESS_FRACTION = re.compile(r"(\.\d{6})\d+")
_CURRENCY = re.compile(r"[A-Za-z]{3}")
# C0 control characters other than tab, line feed and carriage return: PostgreSQL cannot store NUL
# in text at all, and none of them belongs in a name, an id or a URL.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
CONTROL_MESSAGE = "must not contain control characters (U+0000 to U+001F other than tab, line feed, carriage return)"
# The largest amount every database's money columns hold, in minor units (PostgreSQL `integer`).
MAX_MINOR_UNITS = 2**31 - 1
MAX_QUANTITY = 1_000_000
MAX_ITEMS_PER_ORDER = 1000
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?([Zz]|[+-]\d{2}:?\d{2})$")


def _parse_instant(value: Any) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("datetime must carry a UTC offset")
        return _in_utc(value)
    if not isinstance(value, str) or not _RFC3339.match(value.strip()):
        raise ValueError("must be an RFC 3339 datetime with an offset, e.g. 2024-03-02T15:30:00Z")
    text = value.strip()
    if "." in text:  # Python's parser takes at most 6 fractional digits.
        text = _EXCESS_FRACTION.sub(r"\1", text)
    return _in_utc(datetime.fromisoformat(text.replace("z", "Z")))


def _in_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is in year 0 in UTC, 9999-12-31T23:59-01:00 in 10000
        raise ValueError("is outside the years 1 to 9999 once converted to UTC") from None


class RecordError(ValueError):
    """A record-level rule broken at `path` below the record (e.g. ("items", 1, "currency_code")).

    Pydantic locates an error raised by a record's own check at the record; `locate` appends the path.
    """

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


def locate(error: Any) -> tuple[tuple[Any, ...], str]:
    """A pydantic error's full location and message, with a `RecordError`'s own path appended."""
    loc, message = tuple(error.get("loc", ())), str(error.get("msg", "invalid"))
    context = error.get("ctx") or {}
    cause = context.get("error")
    if isinstance(cause, RecordError):
        return loc + cause.path, cause.message
    if error.get("type") == "string_pattern_mismatch" and context.get("pattern") == NO_CONTROL_PATTERN:
        return loc, CONTROL_MESSAGE  # a query parameter's check (FastAPI's pattern)
    return loc, message


def _external_id(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError("must be a string (or an integer)")
    text = str(value)
    if _CONTROL.search(text):  # before strip(), which would quietly drop \x1c-\x1f at the ends
        raise ValueError(CONTROL_MESSAGE)
    text = text.strip()
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
    if isinstance(value, int) and value > MAX_MINOR_UNITS:  # before float(): 10**400 overflows it
        raise ValueError(_TOO_LARGE)
    number = float(value)
    if not math.isfinite(number):
        raise ValueError("must be a finite number")
    if number < 0:
        raise ValueError("must be greater than or equal to 0")
    if number > MAX_MINOR_UNITS:  # the exact bound, in minor units, is checked per currency by the record
        raise ValueError(_TOO_LARGE)
    return number


_TOO_LARGE = f"must be at most {MAX_MINOR_UNITS} in minor units (21474836.47 in a currency with cents)"


@lru_cache(maxsize=1024)
def _currency_code(value: str) -> str:
    if not _CURRENCY.fullmatch(value.strip()):
        raise ValueError("must be a 3-letter ISO 4217 code such as USD")
    code = value.strip().upper()
    if not is_currency(code):
        raise ValueError(f"{code} is not an ISO 4217 currency with a minor unit")
    return code


def _minor(amount: float, currency: str, path: tuple[str | int, ...]) -> int:
    minor = exact_minor(amount, currency)
    if minor is None:
        # Rounding would store an amount nobody sent (0.005 USD as 0.01, 0.5 JPY as 1).
        raise RecordError(path, f"{amount!r} is finer than the smallest unit of {currency}")
    return minor


def _check_order_money(order: OrderRecord) -> None:
    """One currency per order, whole minor units, totals that fit the columns, refund ≤ total.

    Runs once per order in every batch, so the common case is inline arithmetic; `_order_money_error`
    finds and names the offending field only when this pass finds something wrong.
    """
    items = order.items
    currency = items[0].currency_code
    factor, divisor = MINOR_SCALES[currency]  # a valid currency: `_currency_code` checked it
    total = prefee = 0
    for item in items:
        amount = item.total_price
        minor = round(amount * factor)
        if item.currency_code != currency or minor / divisor != amount:
            _order_money_error(order)
        total += minor
        amount = item.prefee_price  # type: ignore[assignment]
        if amount is not None:
            minor = round(amount * factor)
            if minor / divisor != amount:
                _order_money_error(order)
            prefee += minor
    if total > MAX_MINOR_UNITS or prefee > MAX_MINOR_UNITS:
        field_name = "total_price" if total > MAX_MINOR_UNITS else "prefee_price"
        raise RecordError(("items",), f"the items' {field_name} adds up to more than {MAX_MINOR_UNITS} minor units")
    if order.refunded_amount is not None:
        refunded = _minor(order.refunded_amount, currency, ("refunded_amount",))
        if refunded > total:
            raise RecordError(("refunded_amount",), f"is more than the order's total of {total} minor units")


def _order_money_error(order: OrderRecord) -> None:
    currency = order.items[0].currency_code
    for position, item in enumerate(order.items):
        if item.currency_code != currency:
            raise RecordError(
                ("items", position, "currency_code"),
                f"{item.currency_code} differs from items[0]'s {currency}; an order has one currency",
            )
        _minor(item.total_price, currency, ("items", position, "total_price"))
        if item.prefee_price is not None:
            _minor(item.prefee_price, currency, ("items", position, "prefee_price"))


def _currency(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a 3-letter ISO 4217 code such as USD")
    return _currency_code(value)


Instant = Annotated[datetime, BeforeValidator(_parse_instant)]
# min_length and max_length repeat `_external_id`'s rules for the OpenAPI schema (an integer id is accepted too).
ExternalId = Annotated[str, BeforeValidator(_external_id), Field(min_length=1, max_length=200)]
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


@lru_cache(maxsize=1)
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _time_zone(value: str) -> str:
    if value not in _time_zones():
        raise ValueError("must be an IANA time zone such as America/Denver")
    return value


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _birthday(value: str) -> str:
    try:
        if _ISO_DATE.fullmatch(value):
            return date.fromisoformat(value).isoformat()
    except ValueError:
        pass
    raise ValueError("must be a date written YYYY-MM-DD, e.g. 1990-04-30")


@dataclass(frozen=True, slots=True)
class _Text:
    """A string of at most `max_length` characters without control characters, checked in pydantic's
    core (a Python validator per string cost ~0.4 us, a tenth of a 500-order batch's validation)."""

    max_length: int
    min_length: int = 0

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        no_control = core_schema.custom_error_schema(
            core_schema.str_schema(pattern=_NO_CONTROL),
            custom_error_type="control_character",
            custom_error_message=CONTROL_MESSAGE,
        )
        sized = core_schema.str_schema(max_length=self.max_length, min_length=self.min_length, strip_whitespace=True)
        return core_schema.chain_schema([sized, no_control])


NO_CONTROL_PATTERN = _NO_CONTROL = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f]*$"
# Lengths: what the columns hold (contacts.first_name is varchar(200)) or a generous bound for text
# columns, so a record the door accepts always fits; README "Rules fanhub adds" lists them.
ShortText = Annotated[str, _Text(1000)]
PersonName = Annotated[str, _Text(200)]
FullName = Annotated[str, _Text(400)]
Url = Annotated[str, _Text(2048)]
RequiredUrl = Annotated[str, _Text(2048, min_length=1)]
Description = Annotated[str, _Text(20_000)]
TagName = Annotated[str, _Text(200)]
Genre = Annotated[str, _Text(60)]
Quantity = Annotated[int, Field(strict=True, ge=0, le=MAX_QUANTITY)]
# A row id of fanhub's own (a list), as the 64-bit columns hold them.
DatabaseId = Annotated[int, Field(ge=1, le=2**63 - 1)]
Capacity = Annotated[int, Field(strict=True, ge=0, le=2**31 - 1)]


# Unknown fields are ignored, as a partner integrating against Cymbal may send more than we read.
_RECORD_CONFIG = ConfigDict(extra="ignore", str_strip_whitespace=True)
# Customer's and ContactFields' "needs an email or a phone", stated for the OpenAPI schema.
_EMAIL_OR_PHONE_CONFIG = ConfigDict(
    **_RECORD_CONFIG,
    json_schema_extra={
        "anyOf": [
            {"required": ["email"], "properties": {"email": {"type": "string", "minLength": 1}}},
            {"required": ["phone"], "properties": {"phone": {"type": "string", "minLength": 1}}},
        ]
    },
)


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
    quantity: Capacity | None = None

    @model_validator(mode="after")
    def _whole_minor_units(self) -> TicketTypeRecord:
        for name in ("prefee_price", "total_price"):
            amount = getattr(self, name)
            if amount is not None:
                _minor(amount, self.currency_code, (name,))
        return self


class EventRecord(Record):
    id: ExternalId
    url: Url | None = None
    name: Annotated[str, _Text(1000, min_length=1)]
    image_url: Url | None = None
    description: Description | None = None
    tags: list[ShortText] = []
    status: Literal["live", "canceled"] = "live"
    start_datetime: Instant
    end_datetime: Instant | None = None
    doors_open_datetime: Instant | None = None
    location: Location
    performers: list[ShortText] = []
    ticket_types: list[TicketTypeRecord] = []
    # Widened: the IANA zone of the venue when the source knows it.
    time_zone: Annotated[str, _Text(64), AfterValidator(_time_zone)] | None = None


# Orders and contacts are the volume (a backfill brings hundreds of thousands), so their records are
# slotted dataclasses that pydantic validates: a 500-order batch took 9-10 ms to validate into
# models and takes 5-6 ms into these; the rules are the same annotations either way.


@dataclass(slots=True, kw_only=True)
class Customer:
    __pydantic_config__ = _EMAIL_OR_PHONE_CONFIG

    email: Email | None = None
    phone: Phone | None = None
    first_name: PersonName | None = None
    last_name: PersonName | None = None
    address: ShortText | None = None
    ip_address: Annotated[str, _Text(64)] | None = None

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
    quantity: Quantity = 1
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
    items: Annotated[list[OrderItemRecord], Field(min_length=1, max_length=MAX_ITEMS_PER_ORDER)]
    created_at: Instant | None = None
    # Widened: what a ticketing platform says beyond the Partners API.
    status: Literal["completed", "refunded", "canceled"] = "completed"
    refunded_amount: Price | None = None
    # Widened: the buyer's email-list subscription as the platform states it now (Eventbrite's
    # contact_list_preferences) and when it was read. Unlike a checkout tick it may be an opt-out,
    # and it never re-subscribes anyone who opted out (see `ingest.apply`).
    list_email_opt_in: bool | None = None
    list_observed_at: Instant | None = None

    def __post_init__(self) -> None:
        _check_order_money(self)


@dataclass(slots=True, kw_only=True)
class ContactFields:
    __pydantic_config__ = _EMAIL_OR_PHONE_CONFIG

    full_name: FullName | None = None
    first_name: PersonName | None = None
    last_name: PersonName | None = None
    email: Email | None = None
    phone: Phone | None = None
    list_id: DatabaseId | None = None
    tags: list[TagName] = field(default_factory=list)
    genres: list[Genre] = field(default_factory=list)
    # Widened: CSV imports and platforms know these.
    address: ShortText | None = None
    postal_code: Annotated[str, _Text(20)] | None = None
    birthday: Annotated[str, _Text(10), AfterValidator(_birthday)] | None = None

    def __post_init__(self) -> None:
        if not self.email and not self.phone:
            raise ValueError("needs an email or a phone")


@dataclass(slots=True, kw_only=True)
class InterestedInEvent:
    __pydantic_config__ = _RECORD_CONFIG

    event_id: ExternalId
    ticketer: Annotated[str, _Text(60, min_length=1)]


@dataclass(slots=True, kw_only=True)
class ContactRecord:
    """A contact with what to do to its subscriptions; `/contact` and `/subscribe` both become one."""

    __pydantic_config__ = _RECORD_CONFIG

    contact: ContactFields
    opt_ins: OptIns = field(default_factory=OptIns)
    interested_in_event: InterestedInEvent | None = None
    ticket_url: Url | None = None
    # Widened: how the source expressed consent and when (defaults: the batch's arrival).
    via: Annotated[str, _Text(40)] = "contact.opt_ins"
    # Widened: a CSV import chooses its SMS mode apart from its email mode (None: `via` for both
    # channels), and names the person who confirmed it; both are written to the consent ledger.
    sms_via: Annotated[str, _Text(40)] | None = None
    actor: Annotated[str, _Text(200)] | None = None
    observed_at: Instant | None = None
    list_ids: list[DatabaseId] = field(default_factory=list)


class EventBatch(Record):
    events: list[EventRecord]


class OrderBatch(Record):
    orders: list[OrderRecord]


class ContactBatch(Record):
    contacts: list[ContactRecord]


BATCH_MODELS: dict[str, type[Record]] = {"events": EventBatch, "orders": OrderBatch, "contacts": ContactBatch}
RECORD_TYPES: dict[str, type[Any]] = {"events": EventRecord, "orders": OrderRecord, "contacts": ContactRecord}


RecordType = TypeVar("RecordType")


_adapters: dict[type[Any], TypeAdapter[Any]] = {}


def _adapter(record_type: type[Any]) -> TypeAdapter[Any]:
    adapter = _adapters.get(record_type)
    if adapter is None:
        adapter = _adapters[record_type] = TypeAdapter(record_type)
    return adapter


def validate_record(record_type: type[RecordType], data: Any, context: dict[str, Any] | None = None) -> RecordType:
    """Validate a mapped dict into a canonical record (model or dataclass alike); raises ValidationError."""
    record: RecordType = _adapter(record_type).validate_python(data, context=context)
    return record


def record_digest(record: Any) -> str:
    """A record's digest, stored as `record_hash`: an identical re-send is recognised and skipped."""
    return hashlib.blake2b(_adapter(type(record)).dump_json(record), digest_size=16).hexdigest()
